-- materialized: table
-- description: Latest landed version of every Intercom company, one row per id.
WITH landed AS (
    SELECT * FROM raw.intercom__companies
),

ranked AS (
    SELECT
        landed.*,
        row_number() OVER (PARTITION BY id ORDER BY updated_at DESC, _extracted_at DESC) AS version_rank
    FROM landed
),

final AS (
    SELECT
        id AS intercom_id,
        nullif(json_extract_string(record, '$.company_id'), '') AS company_id,
        json_extract_string(record, '$.name') AS name,
        ferry_domain(json_extract_string(record, '$.website')) AS domain_norm,
        CAST(json_extract(record, '$.created_at') AS BIGINT) AS created_at_unix,
        updated_at,
        is_deleted,
        record
    FROM ranked
    WHERE version_rank = 1
)

SELECT * FROM final
