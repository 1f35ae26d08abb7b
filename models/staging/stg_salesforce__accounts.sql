-- materialized: incremental
-- record_ids: sf_id
-- description: Current version of every Salesforce Account (deleted ones flagged), one row per Id.
SELECT
    id AS sf_id,
    "Name" AS name,
    nullif("Website", '') AS website,
    ferry_domain("Website") AS domain_norm,
    "NumberOfEmployees" AS employees,
    nullif({{ var('companies_external_id') }}, '') AS intercom_company_link,
    "CreatedDate" AS created_date,
    "OwnerId" AS owner_id,
    "AnnualRevenue" AS annual_revenue,
    updated_at,
    is_deleted
FROM raw.salesforce__account
