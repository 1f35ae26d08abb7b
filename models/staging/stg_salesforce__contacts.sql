-- materialized: incremental
-- record_ids: sf_id, email_norm, intercom_link
-- description: Current version of every Salesforce Contact (deleted ones flagged), one row per Id.
SELECT
    id AS sf_id,
    ferry_email("Email") AS email_norm,
    "Email" AS email,
    nullif({{ var('people_external_id') }}, '') AS intercom_link,
    nullif("AccountId", '') AS account_id,
    nullif(trim(concat_ws(' ', "FirstName", "LastName")), '') AS name,
    "OwnerId" AS owner_id,
    "CreatedDate" AS created_date,
    updated_at,
    is_deleted
FROM raw.salesforce__contact
