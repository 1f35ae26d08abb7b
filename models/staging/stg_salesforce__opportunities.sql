-- materialized: incremental
-- record_ids: sf_id
-- description: Current version of every Opportunity (deleted ones flagged), one row per Id.
SELECT
    id AS sf_id,
    nullif("AccountId", '') AS account_id,
    "Name" AS name,
    "StageName" AS stage,
    coalesce("IsClosed", false) AS is_closed,
    coalesce("IsWon", false) AS is_won,
    "Amount" AS amount,
    "CloseDate" AS close_date,
    "OwnerId" AS owner_id,
    nullif("Ferry_Key__c", '') AS ferry_key,
    "CreatedDate" AS created_date,
    updated_at,
    is_deleted
FROM raw.salesforce__opportunity
