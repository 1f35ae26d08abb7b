-- materialized: table
-- description: Intercom users with an email that match no Salesforce person, to be created as Leads keyed on the people external id (an upsert, so a retry can never duplicate). One row per field. Never created when the email exists in Salesforce in any form, deleted records included: a person sales deleted is not resurrected.
WITH enabled AS (
    SELECT value = 'true' AS is_enabled FROM config.settings WHERE key = 'create_salesforce_leads'
),

external_id AS (
    SELECT value AS field FROM config.settings WHERE key = 'people_external_id'
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

candidates AS (
    SELECT
        people.intercom_id,
        people.email,
        people.name,
        contacts.record,
        companies.name AS company_name
    FROM int_people_intercom AS people
    INNER JOIN stg_intercom__contacts AS contacts
        ON contacts.intercom_id = people.intercom_id
    LEFT JOIN stg_intercom__companies AS companies
        ON companies.intercom_id = people.first_company_id
    WHERE people.role = 'user'
      AND people.email_rank = 1
      AND people.intercom_id NOT IN (SELECT intercom_id FROM int_people_identity)
      AND people.email_norm NOT IN (SELECT email_norm FROM sf_emails)
      AND people.intercom_id NOT IN (SELECT intercom_link FROM sf_links)
      AND (SELECT is_enabled FROM enabled)
),

base_fields AS (
    SELECT intercom_id, (SELECT field FROM external_id) AS field, intercom_id AS value, 'string' AS value_type FROM candidates
    UNION ALL
    SELECT intercom_id, 'Email', email, 'string' FROM candidates
    UNION ALL
    SELECT intercom_id, 'LastName',
        CASE WHEN name IS NULL THEN '[not provided]'
             WHEN strpos(name, ' ') > 0 THEN substr(name, strpos(name, ' ') + 1)
             ELSE name END,
        'string'
    FROM candidates
    UNION ALL
    SELECT intercom_id, 'FirstName', CASE WHEN strpos(name, ' ') > 0 THEN split_part(name, ' ', 1) END, 'string'
    FROM candidates WHERE strpos(coalesce(name, ''), ' ') > 0
    UNION ALL
    SELECT intercom_id, 'Company', coalesce(company_name, '[not provided]'), 'string' FROM candidates
    UNION ALL
    SELECT intercom_id, 'LeadSource', 'Intercom', 'string' FROM candidates
),

mapped_fields AS (
    SELECT
        candidates.intercom_id,
        field_map.salesforce_field AS field,
        ferry_norm(json_extract_string(candidates.record, field_map.intercom_path), field_map.value_type) AS value,
        field_map.value_type
    FROM candidates
    INNER JOIN config.field_map AS field_map
        ON field_map.entity = 'people' AND field_map.direction <> 'to_intercom'
),

final AS (
    SELECT 'Lead' AS sf_object, intercom_id AS record_key, field, value, value_type FROM base_fields
    UNION ALL
    SELECT 'Lead', intercom_id, field, value, value_type FROM mapped_fields WHERE value IS NOT NULL
)

SELECT * FROM final
