-- materialized: table
-- description: A note on the Intercom conversation of each Case workflows.escalation opens, with a link to the Case (workflows.case_notes.link, {id} standing for its Id; a Case this run creates is named '{ref:Case:<conversation id>}', which the loader replaces with its new Id), authored by the Intercom admin of the Account owner, else workflows.case_notes.admin_id. Cases created before workflows.case_notes.since are left alone. Keyed on 'case:<conversation id>' and written once (models/syncs/case_notes.yaml).
WITH settings AS (
    SELECT
        max(CASE WHEN key = 'case_notes_enabled' THEN value = 'true' END) AS enabled,
        max(CASE WHEN key = 'case_notes_admin' THEN value END) AS admin_id,
        max(CASE WHEN key = 'case_notes_link' THEN value END) AS link,
        max(CASE WHEN key = 'case_notes_since' THEN TRY_CAST(nullif(value, '') AS DATE) END) AS since
    FROM config.settings
),

senders AS (
    SELECT user_id, min(admin_id) AS admin_id FROM int_admin_users GROUP BY user_id
),

cases AS (
    SELECT
        cases.conversation_id,
        replace(settings.link, '{id}', CASE WHEN starts_with(cases.case_ref, 'ref:') THEN '{' || cases.case_ref || '}' ELSE cases.case_ref END) AS link,
        coalesce(senders.admin_id, settings.admin_id) AS admin_id
    FROM int_escalation_cases AS cases
    CROSS JOIN settings
    LEFT JOIN stg_salesforce__accounts AS accounts
        ON accounts.sf_id = cases.account_id
    LEFT JOIN senders
        ON senders.user_id = accounts.owner_id
    WHERE settings.enabled
      AND (cases.created_date IS NULL OR settings.since IS NULL OR cases.created_date >= settings.since)
)

SELECT
    'case:' || conversation_id AS note_key,
    conversation_id,
    admin_id,
    '<p>Salesforce Case opened for this conversation: <a href="' || link || '">' || link || '</a></p>' AS body
FROM cases
