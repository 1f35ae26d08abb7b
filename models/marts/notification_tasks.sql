-- materialized: table
-- description: Tasks that tell an owner something needs them (workflows.notifications): the owner of an open Opportunity when its account has an active support issue (open Intercom conversations): once each time the flag is set, keyed on the first open conversation then; the Account owner for each escalation Case ferry opens, and for each expansion Opportunity, in the run that opens it (a record created in the run is named 'ref:<Object>:<key>', which the loader replaces with its new Id); those created before workflows.notifications.since are left alone. Keyed on 'notify:<kind>:<key>' and written by an insert (models/syncs/notifications.yaml): once per event, never again after someone deletes the Task.
WITH settings AS (
    SELECT
        bool_and(value = 'true') FILTER (WHERE key IN ('notify_support_issue', 'support_flag_enabled')) AS support_issue,
        max(CASE WHEN key = 'notify_escalations' THEN value = 'true' END) AS escalations,
        max(CASE WHEN key = 'notify_expansions' THEN value = 'true' END) AS expansions,
        max(CASE WHEN key = 'notify_since' THEN TRY_CAST(nullif(value, '') AS DATE) END) AS since,
        max(CASE WHEN key = 'support_flag_field' THEN value END) AS flag_field
    FROM config.settings
),

-- The first open customer conversation of each account with one.
support_episodes AS (
    SELECT account_id, first_conversation_id AS conversation_id FROM int_account_open_conversations
    WHERE (SELECT support_issue FROM settings) -- nothing is computed while notices are off
),

-- The support flag Salesforce holds, per Opportunity.
held_flags AS (
    SELECT record_id, value FROM int_configured_values
    WHERE field = (SELECT flag_field FROM settings) AND (SELECT support_issue FROM settings)
),

-- Open Opportunities: those Salesforce holds, and the expansion ones this
-- run opens (named by reference). An expansion Opportunity is keyed on its
-- Ferry_Key__c, which it has from its creation on, so that its notice
-- keeps its key once Salesforce has given it an Id.
open_opportunities AS (
    SELECT sf_id AS opportunity_ref, coalesce(ferry_key, sf_id) AS opportunity_key, account_id, owner_id, name
    FROM stg_salesforce__opportunities
    WHERE NOT is_deleted AND NOT is_closed
    UNION ALL
    SELECT 'ref:Opportunity:' || signal_key, signal_key, account_id, owner_id, name
    FROM expansion_opportunities
    WHERE signal_key NOT IN (SELECT ferry_key FROM stg_salesforce__opportunities WHERE ferry_key IS NOT NULL)
),

-- The Opportunities that already had a support-issue notice.
notified AS (
    SELECT ferry_key FROM stg_salesforce__tasks
    WHERE ferry_key LIKE 'notify:support:%' AND NOT is_deleted AND (SELECT support_issue FROM settings)
),

-- A notice goes out when the flag is set: the Opportunity's flag is not
-- set yet (ferry sets it in this run), or it is set and no notice was ever
-- made (a run stopped between the two). While the flag stays set, no
-- other notice follows, whichever of the account's conversations is open.
support_issue AS (
    SELECT
        'notify:support:' || opportunities.opportunity_key || ':' || episodes.conversation_id AS task_key,
        opportunities.owner_id,
        opportunities.opportunity_ref AS what_id,
        left('Active support issue: ' || opportunities.name, 255) AS subject,
        'The account has open Intercom conversations (the first is ' || episodes.conversation_id || '); the opportunity is flagged until they close.' AS description
    FROM open_opportunities AS opportunities
    INNER JOIN support_episodes AS episodes
        ON episodes.account_id = opportunities.account_id
    LEFT JOIN held_flags AS held
        ON held.record_id = opportunities.opportunity_ref
    WHERE (SELECT support_issue FROM settings)
      AND (coalesce(ferry_norm(held.value, 'boolean'), 'false') = 'false'
           OR NOT EXISTS (SELECT 1 FROM notified WHERE starts_with(notified.ferry_key, 'notify:support:' || opportunities.opportunity_key || ':')))
),

-- The Cases escalation opened, those created before since aside.
escalation_cases AS (
    SELECT * FROM int_escalation_cases
    WHERE created_date IS NULL OR created_date >= (SELECT since FROM settings) OR (SELECT since FROM settings) IS NULL
),

escalations AS (
    SELECT
        'notify:case:' || cases.conversation_id AS task_key,
        accounts.owner_id,
        cases.case_ref AS what_id,
        left('Escalation: ' || coalesce(nullif(cases.subject, ''), 'conversation ' || cases.conversation_id), 255) AS subject,
        'An urgent Intercom conversation (' || cases.conversation_id || ') of this account opened a Case.' AS description
    FROM escalation_cases AS cases
    INNER JOIN stg_salesforce__accounts AS accounts
        ON accounts.sf_id = cases.account_id
    WHERE (SELECT escalations FROM settings) AND NOT accounts.is_deleted
),

-- Likewise the expansion Opportunities: held, or created by this run.
expansions AS (
    SELECT
        'notify:expansion:' || signals.signal_key AS task_key,
        signals.owner_id,
        coalesce(opportunities.sf_id, 'ref:Opportunity:' || signals.signal_key) AS what_id,
        left('Expansion opportunity: ' || signals.name, 255) AS subject,
        'Intercom conversations of this account signal an expansion; ferry opened the opportunity.' AS description
    FROM expansion_opportunities AS signals
    LEFT JOIN stg_salesforce__opportunities AS opportunities
        ON opportunities.ferry_key = signals.signal_key
    WHERE (SELECT expansions FROM settings)
      AND NOT coalesce(opportunities.is_deleted, false)
      AND (opportunities.created_date IS NULL OR opportunities.created_date >= (SELECT since FROM settings) OR (SELECT since FROM settings) IS NULL)
)

SELECT * FROM support_issue
UNION ALL
SELECT * FROM escalations
UNION ALL
SELECT * FROM expansions
