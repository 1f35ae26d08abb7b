-- materialized: table
-- description: Intercom teammates, one row per id.
WITH latest AS (
    SELECT * FROM ferry_latest('raw.intercom__admins')
),

final AS (
    SELECT
        id AS admin_id,
        json_extract_string(record, '$.name') AS name,
        ferry_email(json_extract_string(record, '$.email')) AS email_norm
    FROM latest
)

SELECT * FROM final
