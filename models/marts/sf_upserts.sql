-- materialized: table
-- description: Every Salesforce create-or-update keyed on an external id, one row per field: Leads for unmatched Intercom users, Tasks for conversations, Cases for escalations. The loader groups rows by object and external-id field.
WITH settings AS (
    SELECT
        max(CASE WHEN key = 'people_external_id' THEN value END) AS people_external_id,
        max(CASE WHEN key = 'tasks_external_id' THEN value END) AS tasks_external_id,
        max(CASE WHEN key = 'escalation_external_id' THEN value END) AS cases_external_id
    FROM config.settings
),

final AS (
    SELECT sf_object, (SELECT people_external_id FROM settings) AS external_id_field, record_key, field, value, value_type
    FROM sf_lead_creates
    UNION ALL
    SELECT sf_object, (SELECT tasks_external_id FROM settings), record_key, field, value, value_type
    FROM sf_task_upserts
    UNION ALL
    SELECT sf_object, (SELECT cases_external_id FROM settings), record_key, field, value, value_type
    FROM sf_case_upserts
)

SELECT * FROM final
