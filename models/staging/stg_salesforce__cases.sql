-- materialized: incremental
-- record_ids: sf_id
-- description: Current version of every Case (deleted ones flagged), one row per Id.
SELECT
    id AS sf_id,
    nullif("ContactId", '') AS contact_id,
    nullif("AccountId", '') AS account_id,
    "Subject" AS subject,
    "CreatedDate" AS created_date,
    "Status" AS status,
    coalesce("IsClosed", false) AS is_closed,
    nullif({{ var('cases_external_id') }}, '') AS conversation_link,
    updated_at,
    is_deleted
FROM raw.salesforce__case
