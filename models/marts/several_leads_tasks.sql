-- materialized: table
-- description: When a person's email matches several open Leads, each conversation of theirs is logged as a Task on every one of those Leads, as Intercom's own Salesforce app does (workflows.several_leads); the Lead or Contact identity matched already has the conversation's Task (sf_task_upserts). Keyed on 'lead-task:<conversation>:<Lead Id>' (models/syncs/several_leads.yaml); a Task completes when its conversation closes. Follows conversation_tasks' tags.
WITH settings AS (
    SELECT
        bool_and(CASE key WHEN 'several_leads_enabled' THEN value = 'true' WHEN 'tasks_enabled' THEN value = 'true' END) AS enabled,
        max(CASE WHEN key = 'tasks_tags' THEN value END) AS tags,
        max(CASE WHEN key = 'tasks_link_template' THEN value END) AS link_template
    FROM config.settings
    WHERE key IN ('several_leads_enabled', 'tasks_enabled', 'tasks_tags', 'tasks_link_template')
),

leads AS (
    SELECT sf_id, email_norm, owner_id
    FROM stg_salesforce__leads
    WHERE NOT is_deleted AND NOT is_converted AND email_norm IS NOT NULL
      AND (SELECT enabled FROM settings) -- nothing is computed while the workflow is off
),

shared AS (
    SELECT email_norm FROM leads GROUP BY email_norm HAVING count(*) > 1
),

people AS (
    SELECT intercom_id, email_norm FROM int_people_intercom
    WHERE email_norm IN (SELECT email_norm FROM shared)
)

SELECT
    'lead-task:' || conversations.conversation_id || ':' || leads.sf_id AS task_key,
    leads.sf_id AS who_id,
    leads.owner_id,
    left('Intercom: ' || coalesce(nullif(conversations.subject, ''), 'conversation ' || conversations.conversation_id), 255) AS subject,
    concat_ws(chr(10) || chr(10), nullif(conversations.snippet, ''), replace(settings.link_template, '{id}', conversations.conversation_id)) AS description,
    CASE WHEN conversations.state = 'closed' THEN 'Completed' ELSE 'In Progress' END AS status,
    strftime(conversations.created_at, '%Y-%m-%d') AS activity_date
FROM stg_intercom__conversations AS conversations
CROSS JOIN settings
INNER JOIN people
    ON people.intercom_id = conversations.contact_id
INNER JOIN leads
    ON leads.email_norm = people.email_norm
LEFT JOIN int_people_identity AS identity
    ON identity.intercom_id = conversations.contact_id
WHERE settings.enabled
  AND conversations.customer_initiated
  AND leads.sf_id IS DISTINCT FROM identity.sf_id
  AND (settings.tags = '' OR list_has_any(conversations.tag_names, string_split(settings.tags, ',')))
