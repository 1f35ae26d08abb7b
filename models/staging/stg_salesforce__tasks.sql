-- materialized: incremental
-- record_ids: sf_id, conversation_link
-- description: Current version of every Task (deleted ones flagged), one row per Id.
SELECT
    id AS sf_id,
    nullif("WhoId", '') AS who_id,
    nullif("WhatId", '') AS what_id,
    "Status" AS status,
    coalesce("IsClosed", false) AS is_closed,
    nullif({{ var('tasks_external_id') }}, '') AS conversation_link,
    nullif("Ferry_Key__c", '') AS ferry_key,
    updated_at,
    is_deleted
FROM raw.salesforce__task
