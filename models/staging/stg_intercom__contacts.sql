-- materialized: table
-- description: Latest landed version of every Intercom contact (users and leads), one row per id.
WITH latest AS (
    SELECT * FROM ferry_latest('raw.intercom__contacts')
),

final AS (
    SELECT
        id AS intercom_id,
        json_extract_string(record, '$.role') AS role,
        nullif(trim(json_extract_string(record, '$.email')), '') AS email,
        ferry_email(json_extract_string(record, '$.email')) AS email_norm,
        nullif(json_extract_string(record, '$.external_id'), '') AS external_id,
        nullif(trim(json_extract_string(record, '$.name')), '') AS name,
        CAST(json_extract(record, '$.created_at') AS BIGINT) AS created_at_unix,
        json_extract_string(record, '$.companies.data[0].id') AS first_company_id,
        updated_at,
        is_deleted,
        record
    FROM latest
)

SELECT * FROM final
