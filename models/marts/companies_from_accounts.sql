-- materialized: table
-- description: Salesforce Accounts to create as Intercom companies (workflows.companies_from_accounts): live Accounts that no company matches (int_company_identity) and that no company link names, meeting the pipeline's rule (int_companies_from_accounts_qualified). The company's company_id is the Account Id, which the Account's Intercom_Company_Id__c is set to in the same run, so that identity matches the two from the next run on (models/syncs/companies_from_accounts.yaml).
SELECT
    accounts.sf_id AS account_id,
    accounts.sf_id AS company_id,
    accounts.name,
    accounts.website,
    accounts.employees AS size
FROM stg_salesforce__accounts AS accounts
INNER JOIN int_companies_from_accounts_qualified AS qualified
    ON qualified.sf_id = accounts.sf_id
WHERE NOT accounts.is_deleted
  AND accounts.intercom_company_link IS NULL
  AND accounts.sf_id NOT IN (SELECT sf_id FROM int_company_identity WHERE sf_id IS NOT NULL)
