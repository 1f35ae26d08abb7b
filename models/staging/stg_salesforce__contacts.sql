-- materialized: table
-- description: Latest landed version of every Salesforce Contact (deleted ones flagged), one row per Id.
WITH latest AS (
    SELECT * FROM ferry_latest('raw.salesforce__contact')
),

final AS (
    SELECT
        id AS sf_id,
        ferry_email(json_extract_string(record, '$.Email')) AS email_norm,
        nullif(json_extract_string(record, '$.Intercom_Id__c'), '') AS intercom_link,
        nullif(json_extract_string(record, '$.AccountId'), '') AS account_id,
        nullif(trim(concat_ws(' ', json_extract_string(record, '$.FirstName'), json_extract_string(record, '$.LastName'))), '') AS name,
        CAST(json_extract_string(record, '$.CreatedDate') AS TIMESTAMPTZ) AS created_date,
        updated_at,
        is_deleted,
        record
    FROM latest
)

SELECT * FROM final
