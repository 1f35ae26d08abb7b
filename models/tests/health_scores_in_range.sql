-- model: account_health
-- description: A health score is 0 to 100, and its band is the one the pipeline's thresholds give it (a shipped custom test: it returns the rows that break the rule).
WITH settings AS (
    SELECT
        max(CASE WHEN key = 'health_green' THEN CAST(value AS DOUBLE) END) AS green,
        max(CASE WHEN key = 'health_yellow' THEN CAST(value AS DOUBLE) END) AS yellow
    FROM config.settings
)

SELECT health.account_id, health.health_score, health.health_band
FROM account_health AS health
CROSS JOIN settings
WHERE health.health_score NOT BETWEEN 0 AND 100
   OR health.health_band <> CASE
        WHEN health.health_score >= settings.green THEN 'green'
        WHEN health.health_score >= settings.yellow THEN 'yellow'
        ELSE 'red'
      END
