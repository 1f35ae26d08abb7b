-- materialized: table
-- description: Outbound to Salesforce: one row per changed field of an existing record, updated by Id: the people and company mappings, health scores, and the external-id links ferry writes so later runs match by key. (The support-issue flag is a shipped sync: models/syncs/support_issue_flag.yaml.)
WITH settings AS (
    SELECT
        max(CASE WHEN key = 'people_external_id' THEN value END) AS people_external_id,
        max(CASE WHEN key = 'companies_external_id' THEN value END) AS companies_external_id
    FROM config.settings
),

field_changes AS (
    SELECT
        sf_object,
        sf_id,
        salesforce_field AS field,
        merged_value AS value,
        value_type
    FROM int_merged_fields
    WHERE winner = 'intercom'
      AND direction <> 'to_intercom'
),

people_links AS (
    SELECT
        identity.sf_object,
        identity.sf_id,
        (SELECT people_external_id FROM settings) AS field,
        identity.intercom_id AS value,
        'string' AS value_type
    FROM int_people_identity AS identity
    LEFT JOIN int_people_sf_candidates AS candidates
        ON candidates.sf_id = identity.sf_id
    WHERE candidates.intercom_link IS DISTINCT FROM identity.intercom_id
),

company_links AS (
    SELECT
        'Account' AS sf_object,
        identity.sf_id,
        (SELECT companies_external_id FROM settings) AS field,
        companies.company_id AS value,
        'string' AS value_type
    FROM int_company_identity AS identity
    INNER JOIN stg_intercom__companies AS companies
        ON companies.intercom_id = identity.intercom_id
    INNER JOIN stg_salesforce__accounts AS accounts
        ON accounts.sf_id = identity.sf_id
    WHERE companies.company_id IS NOT NULL
      AND accounts.intercom_company_link IS DISTINCT FROM companies.company_id
),

final AS (
    SELECT * FROM field_changes
    UNION ALL
    SELECT 'Account', record_id, field, value, value_type FROM health_outbound WHERE target = 'salesforce'
    UNION ALL
    SELECT * FROM people_links
    UNION ALL
    SELECT * FROM company_links
)

SELECT * FROM final
