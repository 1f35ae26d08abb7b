-- materialized: table
-- description: Latest landed version of every Salesforce User, one row per Id.
WITH landed AS (
    SELECT * FROM raw.salesforce__user
),

ranked AS (
    SELECT
        landed.*,
        row_number() OVER (PARTITION BY id ORDER BY updated_at DESC, _extracted_at DESC) AS version_rank
    FROM landed
),

final AS (
    SELECT
        id AS sf_id,
        ferry_email(json_extract_string(record, '$.Email')) AS email_norm,
        coalesce(CAST(json_extract(record, '$.IsActive') AS BOOLEAN), false) AS is_active,
        updated_at,
        record
    FROM ranked
    WHERE version_rank = 1
)

SELECT * FROM final
