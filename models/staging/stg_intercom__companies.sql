-- materialized: table
-- description: Latest landed version of every Intercom company, one row per id.
WITH latest AS (
    SELECT * FROM ferry_latest('raw.intercom__companies')
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
    FROM latest
)

SELECT * FROM final
