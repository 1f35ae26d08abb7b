-- materialized: table
-- description: One Salesforce Account per Intercom company. Rule: company_id = Intercom_Company_Id__c first, then the bare web domain. Among several Accounts on one domain: oldest CreatedDate, then lowest Id; the others are listed in int_company_ambiguous.
WITH keys AS (
    SELECT value AS match_keys FROM config.settings WHERE key = 'companies_match_keys'
),

companies AS (
    SELECT
        stg_intercom__companies.*,
        CASE
            WHEN domain_norm IS NULL THEN NULL
            ELSE row_number() OVER (PARTITION BY domain_norm ORDER BY created_at_unix, intercom_id)
        END AS domain_rank
    FROM stg_intercom__companies
    WHERE NOT coalesce(is_deleted, false)
),

accounts AS (
    SELECT * FROM stg_salesforce__accounts
    WHERE NOT is_deleted
),

linked AS (
    SELECT
        companies.intercom_id,
        accounts.sf_id,
        'company_id' AS match_rule,
        count(*) OVER (PARTITION BY companies.intercom_id) AS candidate_count,
        string_agg(accounts.sf_id, ', ') OVER (PARTITION BY companies.intercom_id) AS candidate_ids,
        row_number() OVER (PARTITION BY companies.intercom_id ORDER BY accounts.created_date, accounts.sf_id) AS candidate_rank
    FROM companies
    INNER JOIN accounts
        ON accounts.intercom_company_link = companies.company_id
    WHERE (SELECT match_keys FROM keys) LIKE '%company_id%'
),

by_domain_candidates AS (
    SELECT
        companies.intercom_id,
        accounts.sf_id,
        'website_domain' AS match_rule,
        count(*) OVER (PARTITION BY companies.intercom_id) AS candidate_count,
        string_agg(accounts.sf_id, ', ') OVER (PARTITION BY companies.intercom_id) AS candidate_ids,
        row_number() OVER (PARTITION BY companies.intercom_id ORDER BY accounts.created_date, accounts.sf_id) AS candidate_rank
    FROM companies
    INNER JOIN accounts
        ON accounts.domain_norm = companies.domain_norm
    WHERE companies.domain_rank = 1
      AND companies.intercom_id NOT IN (SELECT intercom_id FROM linked)
      AND accounts.sf_id NOT IN (SELECT sf_id FROM linked)
      AND (accounts.intercom_company_link IS NULL
           OR accounts.intercom_company_link NOT IN (SELECT company_id FROM companies WHERE company_id IS NOT NULL))
      AND (SELECT match_keys FROM keys) LIKE '%website_domain%'
),

final AS (
    SELECT intercom_id, sf_id, match_rule, candidate_count, candidate_ids FROM linked WHERE candidate_rank = 1
    UNION ALL
    SELECT intercom_id, sf_id, match_rule, candidate_count, candidate_ids FROM by_domain_candidates WHERE candidate_rank = 1
)

SELECT * FROM final
