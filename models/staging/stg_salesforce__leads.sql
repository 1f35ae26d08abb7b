-- materialized: incremental
-- record_ids: sf_id, email_norm, intercom_link
-- description: Current version of every Salesforce Lead (deleted ones flagged), one row per Id.
SELECT
    id AS sf_id,
    ferry_email("Email") AS email_norm,
    nullif({{ var('people_external_id') }}, '') AS intercom_link,
    coalesce("IsConverted", false) AS is_converted,
    nullif("Status", '') AS status,
    nullif("ConvertedContactId", '') AS converted_contact_id,
    "OwnerId" AS owner_id,
    "CreatedDate" AS created_date,
    updated_at,
    is_deleted
FROM raw.salesforce__lead
