-- materialized: table
-- description: The Leads lead capture creates for unmatched Intercom users, keyed on an external id, one row per field. (Tasks and Cases are shipped syncs: models/syncs/conversation_tasks.yaml, models/syncs/escalation.yaml.) The loader groups rows by object and external-id field.
WITH settings AS (
    SELECT
        max(CASE WHEN key = 'people_external_id' THEN value END) AS people_external_id
    FROM config.settings
),

final AS (
    SELECT sf_object, (SELECT people_external_id FROM settings) AS external_id_field, record_key, field, value, value_type
    FROM sf_lead_creates
)

SELECT * FROM final
