-- materialized: table
-- description: Latest landed version of every Salesforce Lead (deleted ones flagged), one row per Id.
WITH latest AS (
    SELECT * FROM ferry_latest('raw.salesforce__lead')
),

final AS (
    SELECT
        id AS sf_id,
        ferry_email(json_extract_string(record, '$.Email')) AS email_norm,
        nullif(json_extract_string(record, '$.Intercom_Id__c'), '') AS intercom_link,
        coalesce(CAST(json_extract(record, '$.IsConverted') AS BOOLEAN), false) AS is_converted,
        nullif(json_extract_string(record, '$.ConvertedContactId'), '') AS converted_contact_id,
        CAST(json_extract_string(record, '$.CreatedDate') AS TIMESTAMPTZ) AS created_date,
        updated_at,
        is_deleted,
        record
    FROM latest
)

SELECT * FROM final
