-- materialized: incremental
-- record_ids: record_key, email_norm, first_company_id, owner_admin_id
-- description: Leads to create, keyed on the people external id (an upsert, so a retry can never duplicate), one row per field: Intercom users with an email that match no Salesforce person (sync.people.create_salesforce_leads), and contacts of any role that meet the lead-capture rule (workflows.lead_capture). Never created when the email exists in Salesforce in any form, deleted records included: a person sales deleted is not resurrected. Each row also names the email, company and owning admin it was computed from, so that an incremental build recomputes a contact when any of them changes.
WITH settings AS (
    SELECT
        max(CASE WHEN key = 'create_salesforce_leads' THEN value = 'true' END) AS create_for_users,
        max(CASE WHEN key = 'capture_enabled' THEN value = 'true' END) AS capture,
        max(CASE WHEN key = 'capture_lead_source' THEN value END) AS lead_source,
        max(CASE WHEN key = 'capture_owner_from_intercom' THEN value = 'true' END) AS owner_from_intercom,
        max(CASE WHEN key = 'capture_placeholder' THEN value END) AS placeholder
    FROM config.settings
),

sf_emails AS (
    SELECT email_norm FROM stg_salesforce__leads WHERE email_norm IS NOT NULL
    UNION
    SELECT email_norm FROM stg_salesforce__contacts WHERE email_norm IS NOT NULL
),

sf_links AS (
    SELECT intercom_link FROM stg_salesforce__leads WHERE intercom_link IS NOT NULL
    UNION
    SELECT intercom_link FROM stg_salesforce__contacts WHERE intercom_link IS NOT NULL
),

owners AS (
    SELECT admin_id, user_id FROM int_admin_users
),

-- An incremental build recomputes the contacts one of whose records
-- changed: the contact, its email (a Salesforce person taking or leaving
-- it), its company, its owning admin.
people AS (
    SELECT * FROM int_people_intercom
    WHERE NOT is_incremental()
       OR changed(intercom_id)
       OR changed(email_norm)
       OR changed(first_company_id)
       OR intercom_id IN (SELECT intercom_id FROM lead_capture_input WHERE changed(owner_admin_id))
),

candidates AS (
    SELECT
        people.intercom_id,
        people.email_norm,
        people.first_company_id,
        input.owner_admin_id,
        people.email,
        people.name,
        companies.name AS company_name,
        input.last_conversation_subject,
        input.last_conversation_snippet,
        owners.user_id AS owner_id,
        qualified.intercom_id IS NOT NULL AS captured
    FROM people
    INNER JOIN stg_intercom__contacts AS contacts
        ON contacts.intercom_id = people.intercom_id
    INNER JOIN lead_capture_input AS input
        ON input.intercom_id = people.intercom_id
    LEFT JOIN int_lead_capture_qualified AS qualified
        ON qualified.intercom_id = people.intercom_id
    LEFT JOIN stg_intercom__companies AS companies
        ON companies.intercom_id = people.first_company_id
    LEFT JOIN owners
        ON owners.admin_id = input.owner_admin_id
    CROSS JOIN settings
    WHERE people.email_rank = 1
      AND people.intercom_id NOT IN (SELECT intercom_id FROM int_people_identity)
      AND people.email_norm NOT IN (SELECT email_norm FROM sf_emails)
      AND people.intercom_id NOT IN (SELECT intercom_link FROM sf_links)
      AND ((settings.create_for_users AND people.role = 'user') OR (settings.capture AND qualified.intercom_id IS NOT NULL))
),

-- The external id is the sync's key (models/syncs/mapping.yaml), written
-- with every Lead.
base_fields AS (
    SELECT intercom_id, 'Email' AS field, email AS value, 'string' AS value_type FROM candidates
    UNION ALL
    SELECT intercom_id, 'LastName',
        CASE WHEN name IS NULL THEN (SELECT placeholder FROM settings)
             WHEN strpos(name, ' ') > 0 THEN substr(name, strpos(name, ' ') + 1)
             ELSE name END,
        'string'
    FROM candidates
    UNION ALL
    SELECT intercom_id, 'FirstName', CASE WHEN strpos(name, ' ') > 0 THEN split_part(name, ' ', 1) END, 'string'
    FROM candidates WHERE strpos(coalesce(name, ''), ' ') > 0
    UNION ALL
    SELECT intercom_id, 'Company', coalesce(company_name, (SELECT placeholder FROM settings)), 'string' FROM candidates
    UNION ALL
    SELECT intercom_id, 'LeadSource', (SELECT lead_source FROM settings), 'string' FROM candidates
    UNION ALL
    SELECT intercom_id, 'Description', left(concat_ws(chr(10), last_conversation_subject, last_conversation_snippet), 32000), 'string'
    FROM candidates WHERE captured AND last_conversation_subject IS NOT NULL
    UNION ALL
    SELECT intercom_id, 'OwnerId', owner_id, 'string'
    FROM candidates WHERE owner_id IS NOT NULL AND (SELECT owner_from_intercom FROM settings)
),

mapped_fields AS (
    SELECT
        candidates.intercom_id,
        field_map.salesforce_field AS field,
        -- In Salesforce's vocabulary (a value map); a value the map lacks
        -- is left out of the Lead.
        CASE WHEN field_map.has_values AND ferry_norm(held.value, field_map.value_type) IS NOT NULL
             THEN coalesce(value_map.salesforce_value, field_map.default_value)
             ELSE ferry_norm(held.value, field_map.value_type) END AS value,
        field_map.value_type
    FROM candidates
    INNER JOIN config.field_map AS field_map
        ON field_map.entity = 'people' AND field_map.direction <> 'to_intercom'
    LEFT JOIN (
        SELECT * FROM int_configured_values
        WHERE NOT is_incremental() OR record_id IN (SELECT intercom_id FROM candidates)
    ) AS held
        ON held.record_id = candidates.intercom_id
        AND held.field = field_map.intercom_field
    LEFT JOIN config.value_map AS value_map
        ON value_map.entity = field_map.entity
        AND value_map.position = field_map.position
        AND value_map.intercom_value = held.value
),

fields AS (
    SELECT intercom_id, field, value, value_type FROM base_fields
    UNION ALL
    SELECT intercom_id, field, value, value_type FROM mapped_fields WHERE value IS NOT NULL
),

final AS (
    SELECT
        'Lead' AS sf_object,
        fields.intercom_id AS record_key,
        fields.field,
        fields.value,
        fields.value_type,
        candidates.email_norm,
        candidates.first_company_id,
        candidates.owner_admin_id
    FROM fields
    INNER JOIN candidates
        ON candidates.intercom_id = fields.intercom_id
)

SELECT * FROM final
