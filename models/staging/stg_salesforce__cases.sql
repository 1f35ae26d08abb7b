-- materialized: table
-- description: Latest landed version of every Case (deleted ones flagged), one row per Id.
WITH latest AS (
    SELECT * FROM ferry_latest('raw.salesforce__case')
),

final AS (
    SELECT
        id AS sf_id,
        nullif(json_extract_string(record, '$.ContactId'), '') AS contact_id,
        nullif(json_extract_string(record, '$.AccountId'), '') AS account_id,
        json_extract_string(record, '$.Status') AS status,
        coalesce(CAST(json_extract(record, '$.IsClosed') AS BOOLEAN), false) AS is_closed,
        nullif(json_extract_string(record, '$.Intercom_Conversation_Id__c'), '') AS conversation_link,
        updated_at,
        is_deleted,
        record
    FROM latest
)

SELECT * FROM final
