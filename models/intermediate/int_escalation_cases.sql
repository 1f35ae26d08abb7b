-- materialized: view
-- description: The Cases workflows.escalation opened, one row per conversation: those Salesforce holds, with their Id and creation date, and those this run creates, named 'ref:Case:<conversation id>' until Salesforce gives them an Id (the loader puts it in) and dated NULL. What the notices and the Case notes read.
SELECT conversation_link AS conversation_id, sf_id AS case_ref, account_id, subject, created_date
FROM stg_salesforce__cases
WHERE conversation_link IS NOT NULL AND NOT is_deleted
UNION ALL
SELECT
    record_key,
    'ref:Case:' || record_key,
    max(CASE WHEN field = 'AccountId' THEN value END),
    max(CASE WHEN field = 'Subject' THEN value END),
    NULL::TIMESTAMP
FROM sf_case_upserts
WHERE record_key NOT IN (SELECT conversation_link FROM stg_salesforce__cases WHERE conversation_link IS NOT NULL)
GROUP BY record_key
