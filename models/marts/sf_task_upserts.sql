-- materialized: incremental
-- record_ids: record_key, contact_id, who_id, admin_assignee_id, task_id
-- description: Conversations logged as Salesforce Tasks, keyed on the conversation id (an upsert: a retry or rerun never makes a second Task). One row per field, and only fields that differ from the Task Salesforce holds (all of them for a new Task). WhoId is the matched Lead or Contact; WhatId the contact's single open opportunity where it has a role, none when there are several; OwnerId the assignee's Salesforce user, matched by email. A Task someone deleted is not created again. Each row also names the records it was computed from (the Intercom contact, the WhoId, the assignee, the Task Salesforce holds), so that an incremental build recomputes a conversation when any of them changes.
WITH settings AS (
    SELECT
        max(CASE WHEN key = 'tasks_enabled' THEN value = 'true' END) AS enabled,
        max(CASE WHEN key = 'tasks_tags' THEN value END) AS tags,
        max(CASE WHEN key = 'tasks_link_template' THEN value END) AS link_template
    FROM config.settings
),

-- Conversations whose Task was deleted, and that have no live one.
deleted_tasks AS (
    SELECT conversation_link FROM stg_salesforce__tasks
    WHERE is_deleted AND conversation_link IS NOT NULL
    EXCEPT
    SELECT conversation_link FROM stg_salesforce__tasks
    WHERE NOT is_deleted AND conversation_link IS NOT NULL
),

in_scope AS (
    SELECT conversations.*
    FROM stg_intercom__conversations AS conversations
    CROSS JOIN settings
    WHERE settings.enabled
      AND conversations.customer_initiated -- not the conversations ferry's own messages open
      -- A Task someone deleted in Salesforce is not created again.
      AND conversations.conversation_id NOT IN (SELECT conversation_link FROM deleted_tasks)
      AND (settings.tags = '' OR list_has_any(conversations.tag_names, string_split(settings.tags, ',')))
      -- An incremental build recomputes the conversations one of whose
      -- records changed: itself, its contact, its assignee, the Salesforce
      -- person its contact matches, the Task that logs it.
      AND (NOT is_incremental()
           OR changed(conversations.conversation_id)
           OR changed(conversations.contact_id)
           OR changed(conversations.admin_assignee_id)
           OR conversations.contact_id IN (SELECT intercom_id FROM int_people_identity WHERE changed(sf_id))
           OR conversations.conversation_id IN (SELECT conversation_link FROM stg_salesforce__tasks WHERE changed(sf_id)))
),

open_roles AS (
    SELECT contact_id, open_opportunities, opportunity_id FROM int_contact_open_opportunities
),

owners AS (
    SELECT admin_id, user_id FROM int_admin_users
),

people AS (
    -- Matched people, and people whose Lead this run creates: their WhoId
    -- is 'lead:<intercom id>', resolved by the loader from the Lead upsert.
    SELECT intercom_id, sf_object, sf_id FROM int_people_identity
    UNION ALL
    SELECT DISTINCT record_key, 'Lead', 'lead:' || record_key FROM sf_lead_creates
),

desired AS (
    SELECT
        in_scope.conversation_id,
        in_scope.contact_id,
        in_scope.admin_assignee_id,
        left('Intercom: ' || coalesce(nullif(in_scope.subject, ''), 'conversation ' || in_scope.conversation_id), 255) AS subject,
        concat_ws(chr(10) || chr(10), nullif(in_scope.snippet, ''), replace((SELECT link_template FROM settings), '{id}', in_scope.conversation_id)) AS description,
        CASE WHEN in_scope.state = 'closed' THEN 'Completed' ELSE 'In Progress' END AS status,
        identity.sf_id AS who_id,
        CASE WHEN open_roles.open_opportunities = 1 THEN open_roles.opportunity_id END AS what_id,
        owners.user_id AS owner_id,
        strftime(in_scope.created_at, '%Y-%m-%d') AS activity_date
    FROM in_scope
    INNER JOIN people AS identity
        ON identity.intercom_id = in_scope.contact_id
    -- Only Contacts have opportunity roles; ids are unique across objects
    -- (key prefixes), so the id alone finds them. A constant in the join
    -- condition would make DuckDB fall back to a nested-loop join (85 s of a
    -- 2-minute transform at 1,000,000 contacts).
    LEFT JOIN open_roles
        ON open_roles.contact_id = identity.sf_id
    LEFT JOIN owners
        ON owners.admin_id = in_scope.admin_assignee_id
),

-- INCLUDE NULLS: a relation the Task lost (its contact now has two open
-- opportunities, so no single WhatId) is cleared, not left as it was.
fields AS (
    SELECT * FROM (
        SELECT conversation_id, contact_id, admin_assignee_id, who_id AS matched_id, subject AS "Subject", description AS "Description", status AS "Status",
               who_id AS "WhoId", what_id AS "WhatId", owner_id AS "OwnerId", activity_date AS "ActivityDate"
        FROM desired
    ) UNPIVOT INCLUDE NULLS (value FOR field IN ("Subject", "Description", "Status", "WhoId", "WhatId", "OwnerId", "ActivityDate"))
),

current_tasks AS (
    SELECT tasks.sf_id, tasks.conversation_link
    FROM stg_salesforce__tasks AS tasks
    WHERE NOT tasks.is_deleted AND tasks.conversation_link IS NOT NULL
      AND (NOT is_incremental() OR tasks.conversation_link IN (SELECT conversation_id FROM in_scope))
),

-- The held values of the in-scope conversations' Tasks only: an
-- incremental build would otherwise join every configured value.
current_values AS (
    SELECT current_tasks.conversation_link, held.field, nullif(held.value, '') AS value
    FROM current_tasks
    INNER JOIN int_configured_values AS held
        ON held.record_id = current_tasks.sf_id
    WHERE held.source = 'salesforce__task'
      AND (NOT is_incremental() OR held.record_id IN (SELECT sf_id FROM current_tasks))
),

final AS (
    SELECT
        'Task' AS sf_object,
        fields.conversation_id AS record_key,
        fields.field,
        fields.value,
        'string' AS value_type,
        fields.contact_id,
        fields.matched_id AS who_id,
        fields.admin_assignee_id,
        current_tasks.sf_id AS task_id
    FROM fields
    LEFT JOIN current_tasks
        ON current_tasks.conversation_link = fields.conversation_id
    LEFT JOIN current_values
        ON current_values.conversation_link = fields.conversation_id
        AND current_values.field = fields.field
    WHERE (current_tasks.conversation_link IS NULL AND fields.value IS NOT NULL)
       OR (current_tasks.conversation_link IS NOT NULL AND fields.value IS DISTINCT FROM current_values.value)
)

SELECT * FROM final
