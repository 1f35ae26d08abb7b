-- materialized: table
-- description: Intercom contacts to attach to the company that matches their Salesforce Contact's Account, one row per contact and company, leaving out those Intercom holds already (so that the table stays the size of what changed). Attachments are added, never removed. A contact this run creates from a Salesforce Contact is named ref:intercom.contacts:<Contact Id>: the loader puts in the id Intercom gave it.
WITH account_companies AS (
    SELECT
        identity.sf_id AS account_id,
        identity.intercom_id AS company_intercom_id
    FROM int_company_identity AS identity
),

matched AS (
    SELECT
        people.intercom_id AS contact_key,
        contacts.account_id,
        intercom.company_ids
    FROM int_people_identity AS people
    INNER JOIN stg_salesforce__contacts AS contacts
        ON contacts.sf_id = people.sf_id
    INNER JOIN stg_intercom__contacts AS intercom
        ON intercom.intercom_id = people.intercom_id
    WHERE contacts.account_id IS NOT NULL
),

created AS (
    SELECT DISTINCT
        'ref:intercom.contacts:' || creates.record_key AS contact_key,
        contacts.account_id,
        []::VARCHAR[] AS company_ids
    FROM intercom_contact_creates AS creates
    INNER JOIN stg_salesforce__contacts AS contacts
        ON contacts.sf_id = creates.record_key
    WHERE contacts.account_id IS NOT NULL
),

final AS (
    SELECT
        people.contact_key,
        account_companies.company_intercom_id
    FROM (SELECT * FROM matched UNION ALL SELECT * FROM created) AS people
    INNER JOIN account_companies
        ON account_companies.account_id = people.account_id
    -- Intercom embeds up to 10 companies in a contact; attaching again is
    -- harmless.
    WHERE NOT coalesce(list_contains(people.company_ids, account_companies.company_intercom_id), false)
)

SELECT * FROM final
