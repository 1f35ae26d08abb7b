-- materialized: table
-- record_ids: intercom_id, sf_id
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

-- Candidate lists use GROUP BY: string_agg as a window function crashes
-- DuckDB 1.4 on large inputs (docs/decisions.md).
ranked AS (
    SELECT * FROM linked
    UNION ALL
    SELECT * FROM by_domain_candidates
),

lists AS (
    SELECT
        intercom_id,
        match_rule,
        count(*) AS candidate_count,
        string_agg(sf_id, ', ' ORDER BY candidate_rank) AS candidate_ids
    FROM ranked
    GROUP BY intercom_id, match_rule
),

final AS (
    SELECT
        ranked.intercom_id,
        ranked.sf_id,
        ranked.match_rule,
        lists.candidate_count,
        lists.candidate_ids
    FROM ranked
    INNER JOIN lists
        ON lists.intercom_id = ranked.intercom_id AND lists.match_rule = ranked.match_rule
    WHERE ranked.candidate_rank = 1
)

SELECT * FROM final
