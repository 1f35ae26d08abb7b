-- materialized: table
-- description: Latest landed version of every Salesforce User, one row per Id.
WITH latest AS (
    SELECT * FROM ferry_latest('raw.salesforce__user')
),

final AS (
    SELECT
        id AS sf_id,
        ferry_email(json_extract_string(record, '$.Email')) AS email_norm,
        coalesce(CAST(json_extract(record, '$.IsActive') AS BOOLEAN), false) AS is_active,
        updated_at,
        record
    FROM latest
)

SELECT * FROM final
