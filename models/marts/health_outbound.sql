-- materialized: table
-- description: The health score and band to write back, only where they differ from what the Account (target salesforce) or the matched Intercom company (target intercom) holds. sf_updates and intercom_updates take their rows from here.
WITH settings AS (
    SELECT
        max(CASE WHEN key = 'health_enabled' THEN value = 'true' END) AS enabled,
        max(CASE WHEN key = 'health_sf_score_field' THEN value END) AS sf_score_field,
        max(CASE WHEN key = 'health_sf_band_field' THEN value END) AS sf_band_field,
        max(CASE WHEN key = 'health_ic_score_field' THEN value END) AS ic_score_field,
        max(CASE WHEN key = 'health_ic_band_field' THEN value END) AS ic_band_field
    FROM config.settings
),

targets AS (
    SELECT 'salesforce' AS target, health.account_id AS record_id,
           settings.sf_score_field AS score_field, settings.sf_band_field AS band_field,
           health.health_score, health.health_band
    FROM account_health AS health
    INNER JOIN stg_salesforce__accounts AS accounts
        ON accounts.sf_id = health.account_id
    CROSS JOIN settings
    WHERE settings.enabled
    UNION ALL
    SELECT 'intercom', health.company_intercom_id,
           settings.ic_score_field, settings.ic_band_field,
           health.health_score, health.health_band
    FROM account_health AS health
    INNER JOIN stg_intercom__companies AS companies
        ON companies.intercom_id = health.company_intercom_id
    CROSS JOIN settings
    WHERE settings.enabled
),

outbound AS (
    SELECT target, record_id, score_field AS field, ferry_norm(health_score, 'number') AS value, 'number' AS value_type
    FROM targets
    UNION ALL
    SELECT target, record_id, band_field, health_band, 'string'
    FROM targets
),

compared AS (
    SELECT outbound.*, ferry_norm(held.value, outbound.value_type) AS current
    FROM outbound
    LEFT JOIN int_configured_values AS held
        ON held.record_id = outbound.record_id
        AND held.field = outbound.field
),

final AS (
    SELECT target, record_id, field, value, value_type
    FROM compared
    WHERE field NOT IN ('', 'custom_attributes.')
      AND value IS DISTINCT FROM current
)

SELECT * FROM final
