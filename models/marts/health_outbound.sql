-- materialized: table
-- description: The health score and band to write back, only where they differ from what the Account (target salesforce) or the matched Intercom company (target intercom) holds. sf_updates and intercom_updates take their rows from here.
WITH settings AS (
    SELECT
        max(CASE WHEN key = 'health_enabled' THEN value = 'true' END) AS enabled,
        max(CASE WHEN key = 'health_sf_score_field' THEN value END) AS sf_score_field,
        max(CASE WHEN key = 'health_sf_score_path' THEN value END) AS sf_score_path,
        max(CASE WHEN key = 'health_sf_band_field' THEN value END) AS sf_band_field,
        max(CASE WHEN key = 'health_sf_band_path' THEN value END) AS sf_band_path,
        max(CASE WHEN key = 'health_ic_score_field' THEN value END) AS ic_score_field,
        max(CASE WHEN key = 'health_ic_score_path' THEN value END) AS ic_score_path,
        max(CASE WHEN key = 'health_ic_band_field' THEN value END) AS ic_band_field,
        max(CASE WHEN key = 'health_ic_band_path' THEN value END) AS ic_band_path
    FROM config.settings
),

targets AS (
    SELECT 'salesforce' AS target, health.account_id AS record_id, accounts.record,
           settings.sf_score_field AS score_field, settings.sf_score_path AS score_path,
           settings.sf_band_field AS band_field, settings.sf_band_path AS band_path,
           health.health_score, health.health_band
    FROM account_health AS health
    INNER JOIN stg_salesforce__accounts AS accounts
        ON accounts.sf_id = health.account_id
    CROSS JOIN settings
    WHERE settings.enabled
    UNION ALL
    SELECT 'intercom', health.company_intercom_id, companies.record,
           settings.ic_score_field, settings.ic_score_path, settings.ic_band_field, settings.ic_band_path,
           health.health_score, health.health_band
    FROM account_health AS health
    INNER JOIN stg_intercom__companies AS companies
        ON companies.intercom_id = health.company_intercom_id
    CROSS JOIN settings
    WHERE settings.enabled
),

outbound AS (
    SELECT target, record_id, score_field AS field, ferry_norm(health_score, 'number') AS value, 'number' AS value_type,
           ferry_norm(json_extract_string(record, score_path), 'number') AS current
    FROM targets
    UNION ALL
    SELECT target, record_id, band_field, health_band, 'string', json_extract_string(record, band_path)
    FROM targets
),

final AS (
    SELECT target, record_id, field, value, value_type
    FROM outbound
    WHERE field NOT IN ('', 'custom_attributes.')
      AND value IS DISTINCT FROM current
)

SELECT * FROM final
