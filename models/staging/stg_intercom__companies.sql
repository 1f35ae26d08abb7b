-- materialized: incremental
-- record_ids: intercom_id
-- description: Current version of every Intercom company, one row per id.
SELECT
    id AS intercom_id,
    nullif(company_id, '') AS company_id,
    name,
    nullif(website, '') AS website,
    ferry_domain(website) AS domain_norm,
    epoch(created_at)::BIGINT AS created_at_unix,
    size,
    updated_at,
    is_deleted
FROM raw.intercom__companies
