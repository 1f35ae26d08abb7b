-- materialized: table
-- description: Intercom contacts to attach to the company that matches their Salesforce Contact's Account. Attachments are added, never removed. contact_kind 'intercom' keys an existing Intercom contact; 'salesforce_contact' keys a contact this run creates from that Salesforce Contact.
WITH account_companies AS (
    SELECT
        identity.sf_id AS account_id,
        identity.intercom_id AS company_intercom_id
    FROM int_company_identity AS identity
),

matched AS (
    SELECT
        people.intercom_id AS contact_key,
        'intercom' AS contact_kind,
        contacts.account_id,
        intercom.company_ids
    FROM int_people_identity AS people
    INNER JOIN stg_salesforce__contacts AS contacts
        ON contacts.sf_id = people.sf_id
    INNER JOIN stg_intercom__contacts AS intercom
        ON intercom.intercom_id = people.intercom_id
    WHERE contacts.account_id IS NOT NULL
),

already_attached AS (
    -- Intercom embeds up to 10 companies in a contact; attaching again is harmless.
    SELECT
        matched.contact_key,
        unnest(matched.company_ids) AS company_intercom_id
    FROM matched
),

created AS (
    SELECT DISTINCT
        creates.record_key AS contact_key,
        'salesforce_contact' AS contact_kind,
        contacts.account_id
    FROM intercom_contact_creates AS creates
    INNER JOIN stg_salesforce__contacts AS contacts
        ON contacts.sf_id = creates.record_key
    WHERE contacts.account_id IS NOT NULL
),

final AS (
    SELECT
        matched.contact_kind,
        matched.contact_key,
        account_companies.company_intercom_id
    FROM matched
    INNER JOIN account_companies
        ON account_companies.account_id = matched.account_id
    WHERE NOT EXISTS (
        SELECT 1 FROM already_attached
        WHERE already_attached.contact_key = matched.contact_key
          AND already_attached.company_intercom_id = account_companies.company_intercom_id
    )
    UNION ALL
    SELECT
        created.contact_kind,
        created.contact_key,
        account_companies.company_intercom_id
    FROM created
    INNER JOIN account_companies
        ON account_companies.account_id = created.account_id
)

SELECT * FROM final
