-- materialized: table
-- description: Outbound to Intercom: one row per changed attribute of an existing contact or company.
WITH changes AS (
    SELECT
        merged.entity,
        merged.intercom_id,
        merged.intercom_field AS field,
        merged.merged_value AS value,
        merged.value_type
    FROM int_merged_fields AS merged
    WHERE merged.winner = 'salesforce'
      AND merged.direction <> 'to_salesforce'
),

health_settings AS (
    SELECT
        max(CASE WHEN key = 'health_enabled' THEN value = 'true' END) AS enabled,
        max(CASE WHEN key = 'health_ic_score_field' THEN value END) AS score_field,
        max(CASE WHEN key = 'health_ic_score_path' THEN value END) AS score_path,
        max(CASE WHEN key = 'health_ic_band_field' THEN value END) AS band_field,
        max(CASE WHEN key = 'health_ic_band_path' THEN value END) AS band_path
    FROM config.settings
),

health_changes AS (
    -- The health score and band of each matched company, written only when changed.
    SELECT
        'companies' AS entity,
        health.company_intercom_id AS intercom_id,
        outbound.field,
        outbound.value,
        outbound.value_type
    FROM account_health AS health
    INNER JOIN stg_intercom__companies AS companies
        ON companies.intercom_id = health.company_intercom_id
    CROSS JOIN health_settings AS settings
    CROSS JOIN LATERAL (
        SELECT settings.score_field AS field, ferry_norm(health.health_score, 'number') AS value, 'number' AS value_type,
               ferry_norm(json_extract_string(companies.record, settings.score_path), 'number') AS current
        UNION ALL
        SELECT settings.band_field, health.health_band, 'string',
               json_extract_string(companies.record, settings.band_path)
    ) AS outbound
    WHERE settings.enabled
      AND outbound.field <> 'custom_attributes.'
      AND outbound.value IS DISTINCT FROM outbound.current
),

all_changes AS (
    SELECT * FROM changes
    UNION ALL
    SELECT * FROM health_changes
),

final AS (
    SELECT
        changes.entity,
        changes.intercom_id,
        CASE WHEN changes.entity = 'companies' THEN companies.company_id END AS company_id,
        changes.field,
        changes.value,
        changes.value_type
    FROM all_changes AS changes
    LEFT JOIN stg_intercom__companies AS companies
        ON companies.intercom_id = changes.intercom_id
)

SELECT * FROM final
