-- materialized: incremental
-- record_ids: intercom_id, email_norm
-- description: Current version of every Intercom contact (users and leads), one row per id.
SELECT
    id AS intercom_id,
    role,
    nullif(trim(email), '') AS email,
    ferry_email(email) AS email_norm,
    nullif(external_id, '') AS external_id,
    nullif(trim(name), '') AS name,
    epoch(created_at)::BIGINT AS created_at_unix,
    company_ids[1] AS first_company_id,
    company_ids,
    tag_ids,
    nullif(owner_id, '') AS owner_id,
    last_seen_at,
    updated_at,
    is_deleted,
    merged_into -- set when the contact was merged into another (Intercom answers 410 with its id)
FROM raw.intercom__contacts
