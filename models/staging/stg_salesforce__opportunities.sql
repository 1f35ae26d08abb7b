-- materialized: table
-- description: Latest landed version of every Opportunity (deleted ones flagged), one row per Id.
WITH latest AS (
    SELECT * FROM ferry_latest('raw.salesforce__opportunity')
),

final AS (
    SELECT
        id AS sf_id,
        nullif(json_extract_string(record, '$.AccountId'), '') AS account_id,
        json_extract_string(record, '$.Name') AS name,
        json_extract_string(record, '$.StageName') AS stage,
        coalesce(CAST(json_extract(record, '$.IsClosed') AS BOOLEAN), false) AS is_closed,
        coalesce(CAST(json_extract(record, '$.IsWon') AS BOOLEAN), false) AS is_won,
        TRY_CAST(json_extract(record, '$.Amount') AS DOUBLE) AS amount,
        TRY_CAST(json_extract_string(record, '$.CloseDate') AS DATE) AS close_date,
        json_extract_string(record, '$.OwnerId') AS owner_id,
        coalesce(CAST(json_extract(record, '$.Active_Support_Issue__c') AS BOOLEAN), false) AS active_support_issue,
        updated_at,
        is_deleted,
        record
    FROM latest
)

SELECT * FROM final
