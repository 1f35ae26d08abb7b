-- materialized: table
-- description: Cases for urgent conversations (an escalating priority or tag) of Contacts whose Account is high-value (workflows.escalation), keyed on the conversation id. Linked to the Contact and Account, owned by the Account owner, New while the conversation is open and Closed once it closes. A Case someone deleted is not created again. One row per field, only fields that differ from the Case Salesforce holds.
WITH settings AS (
    SELECT
        max(CASE WHEN key = 'escalation_enabled' THEN value = 'true' END) AS enabled,
        max(CASE WHEN key = 'escalation_account_field' THEN value END) AS account_field,
        max(CASE WHEN key = 'escalation_min_value' THEN TRY_CAST(value AS DOUBLE) END) AS min_value,
        max(CASE WHEN key = 'escalation_values' THEN value END) AS account_values,
        max(CASE WHEN key = 'escalation_priorities' THEN value END) AS priorities,
        max(CASE WHEN key = 'escalation_tags' THEN value END) AS tags,
        max(CASE WHEN key = 'tasks_link_template' THEN value END) AS link_template
    FROM config.settings
),

high_value_accounts AS (
    SELECT
        accounts.sf_id AS account_id,
        accounts.owner_id
    FROM stg_salesforce__accounts AS accounts
    CROSS JOIN settings
    INNER JOIN int_configured_values AS held
        ON held.record_id = accounts.sf_id
        AND held.field = settings.account_field
    WHERE NOT accounts.is_deleted
      AND (
          (settings.min_value IS NOT NULL AND TRY_CAST(held.value AS DOUBLE) >= settings.min_value)
          OR (settings.account_values <> '' AND list_contains(string_split(settings.account_values, ','), held.value))
      )
),

-- Conversations whose Case was deleted, and that have no live one.
deleted_cases AS (
    SELECT conversation_link FROM stg_salesforce__cases
    WHERE is_deleted AND conversation_link IS NOT NULL
    EXCEPT
    SELECT conversation_link FROM stg_salesforce__cases
    WHERE NOT is_deleted AND conversation_link IS NOT NULL
),

escalated AS (
    SELECT
        conversations.*,
        contacts.sf_id AS sf_contact_id,
        high_value_accounts.account_id,
        high_value_accounts.owner_id
    FROM stg_intercom__conversations AS conversations
    CROSS JOIN settings
    INNER JOIN int_people_identity AS people
        ON people.intercom_id = conversations.contact_id AND people.sf_object = 'Contact'
    INNER JOIN stg_salesforce__contacts AS contacts
        ON contacts.sf_id = people.sf_id
    INNER JOIN high_value_accounts
        ON high_value_accounts.account_id = contacts.account_id
    WHERE settings.enabled
      AND (list_contains(string_split(settings.priorities, ','), conversations.priority)
           OR list_has_any(conversations.tag_names, string_split(settings.tags, ',')))
      -- A Case someone deleted in Salesforce is not created again.
      AND conversations.conversation_id NOT IN (SELECT conversation_link FROM deleted_cases)
),

-- INCLUDE NULLS: a field that became empty (no owner any more) is
-- cleared on an existing Case, not left as it was.
fields AS (
    SELECT * FROM (
        SELECT
            conversation_id,
            sf_contact_id AS "ContactId",
            account_id AS "AccountId",
            owner_id AS "OwnerId",
            left('Intercom: ' || coalesce(nullif(subject, ''), 'conversation ' || conversation_id), 255) AS "Subject",
            concat_ws(chr(10) || chr(10), nullif(snippet, ''), replace((SELECT link_template FROM settings), '{id}', conversation_id)) AS "Description",
            CASE WHEN state = 'closed' THEN 'Closed' ELSE 'New' END AS "Status"
        FROM escalated
    ) UNPIVOT INCLUDE NULLS (value FOR field IN ("ContactId", "AccountId", "OwnerId", "Subject", "Description", "Status"))
),

constant_fields AS (
    SELECT escalated.conversation_id, case_fields.field, case_fields.value
    FROM escalated
    CROSS JOIN config.case_fields AS case_fields
),

all_fields AS (
    SELECT conversation_id, field, value FROM fields
    UNION ALL
    SELECT conversation_id, field, value FROM constant_fields
),

current_cases AS (
    SELECT sf_id, conversation_link
    FROM stg_salesforce__cases
    WHERE NOT is_deleted AND conversation_link IS NOT NULL
),

current_values AS (
    SELECT current_cases.conversation_link, held.field, nullif(held.value, '') AS value
    FROM current_cases
    INNER JOIN int_configured_values AS held
        ON held.record_id = current_cases.sf_id
),

final AS (
    SELECT
        'Case' AS sf_object,
        all_fields.conversation_id AS record_key,
        all_fields.field,
        all_fields.value,
        'string' AS value_type
    FROM all_fields
    LEFT JOIN current_cases
        ON current_cases.conversation_link = all_fields.conversation_id
    LEFT JOIN current_values
        ON current_values.conversation_link = all_fields.conversation_id
        AND current_values.field = all_fields.field
    WHERE (current_cases.conversation_link IS NULL AND all_fields.value IS NOT NULL)
       OR (current_cases.conversation_link IS NOT NULL AND all_fields.value IS DISTINCT FROM current_values.value)
)

SELECT * FROM final
