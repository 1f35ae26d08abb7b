-- materialized: table
-- description: Latest landed version of every Salesforce Account (deleted ones flagged), one row per Id.
WITH latest AS (
    SELECT * FROM ferry_latest('raw.salesforce__account')
),

final AS (
    SELECT
        id AS sf_id,
        json_extract_string(record, '$.Name') AS name,
        ferry_domain(json_extract_string(record, '$.Website')) AS domain_norm,
        nullif(json_extract_string(record, '$.Intercom_Company_Id__c'), '') AS intercom_company_link,
        CAST(json_extract_string(record, '$.CreatedDate') AS TIMESTAMPTZ) AS created_date,
        updated_at,
        is_deleted,
        record
    FROM latest
)

SELECT * FROM final
