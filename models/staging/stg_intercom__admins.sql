-- materialized: table
-- record_ids: admin_id
-- description: Intercom teammates, one row per id.
SELECT
    id AS admin_id,
    name,
    ferry_email(email) AS email_norm
FROM raw.intercom__admins
