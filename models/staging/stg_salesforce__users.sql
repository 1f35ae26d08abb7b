-- materialized: incremental
-- record_ids: sf_id
-- description: Current version of every Salesforce User, one row per Id.
SELECT
    id AS sf_id,
    ferry_email("Email") AS email_norm,
    coalesce("IsActive", false) AS is_active,
    updated_at
FROM raw.salesforce__user
