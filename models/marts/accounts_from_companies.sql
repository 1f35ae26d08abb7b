-- materialized: table
-- description: Intercom companies to create as Salesforce Accounts (workflows.accounts_from_companies): live companies with a company_id that no Account matches (int_company_identity) and that meet the pipeline's rule (int_accounts_from_companies_qualified). Keyed on the company_id, which the Account's Intercom_Company_Id__c holds from its creation, so that identity matches the two on the next run and the company mapping keeps them in step; written by an insert (models/syncs/accounts_from_companies.yaml): once, never again after someone deletes the Account.
SELECT
    companies.company_id,
    left(coalesce(nullif(companies.name, ''), companies.company_id), 255) AS name,
    companies.website,
    companies.size
FROM stg_intercom__companies AS companies
INNER JOIN int_accounts_from_companies_qualified AS qualified
    ON qualified.intercom_id = companies.intercom_id
WHERE companies.company_id IS NOT NULL
  AND NOT coalesce(companies.is_deleted, false)
  AND companies.intercom_id NOT IN (SELECT intercom_id FROM int_company_identity)
