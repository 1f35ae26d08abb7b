-- materialized: table
-- description: Onboarding messages to send: the primary contact (else the first contact role) of every Closed Won opportunity, matched in Intercom, once per opportunity — opportunities whose message the write ledger records as sent are left out. Sent by the Intercom admin who is the opportunity owner (matched by email), else by the configured admin. One row per message, sent by models/syncs/onboarding_message.yaml.
WITH settings AS (
    SELECT
        max(CASE WHEN key = 'onboarding_enabled' THEN value = 'true' END) AS enabled,
        max(CASE WHEN key = 'onboarding_from_admin' THEN value END) AS from_admin,
        max(CASE WHEN key = 'onboarding_type' THEN value END) AS message_type,
        max(CASE WHEN key = 'onboarding_subject' THEN value END) AS subject,
        max(CASE WHEN key = 'onboarding_body' THEN value END) AS body,
        max(CASE WHEN key = 'onboarding_since' THEN TRY_CAST(nullif(value, '') AS DATE) END) AS since
    FROM config.settings
),

won AS (
    SELECT
        opportunities.sf_id AS opportunity_id,
        opportunities.name AS opportunity_name,
        opportunities.owner_id,
        accounts.name AS account_name
    FROM stg_salesforce__opportunities AS opportunities
    CROSS JOIN settings
    LEFT JOIN stg_salesforce__accounts AS accounts
        ON accounts.sf_id = opportunities.account_id
    WHERE settings.enabled
      AND opportunities.is_won
      AND NOT opportunities.is_deleted
      AND (settings.since IS NULL OR opportunities.close_date >= settings.since)
),

primary_contacts AS (
    SELECT
        opportunity_id,
        arg_min(contact_id, (NOT is_primary, sf_id)) AS contact_id
    FROM stg_salesforce__opportunity_contact_roles
    WHERE NOT is_deleted
    GROUP BY opportunity_id
),

senders AS (
    SELECT user_id, min(admin_id) AS admin_id FROM int_admin_users GROUP BY user_id
),

already_sent AS (
    SELECT record_key FROM ferry.ledger
    WHERE target = 'intercom' AND object = 'messages' AND status = 'done'
),

recipients AS (
    SELECT
        won.opportunity_id,
        people.intercom_id,
        coalesce(senders.admin_id, (SELECT from_admin FROM settings)) AS admin_id,
        coalesce(nullif(split_part(contacts.name, ' ', 1), ''), 'there') AS first_name,
        won.opportunity_name,
        coalesce(won.account_name, '') AS account_name
    FROM won
    INNER JOIN primary_contacts
        ON primary_contacts.opportunity_id = won.opportunity_id
    INNER JOIN int_people_identity AS people
        ON people.sf_id = primary_contacts.contact_id
    INNER JOIN stg_salesforce__contacts AS contacts
        ON contacts.sf_id = primary_contacts.contact_id
    LEFT JOIN senders
        ON senders.user_id = won.owner_id
    WHERE won.opportunity_id NOT IN (SELECT record_key FROM already_sent)
),

rendered AS (
    SELECT
        recipients.opportunity_id,
        recipients.intercom_id AS "contact",
        recipients.admin_id AS "admin",
        (SELECT message_type FROM settings) AS "message_type",
        replace(replace(replace((SELECT subject FROM settings), '{first_name}', first_name), '{opportunity}', opportunity_name), '{account}', account_name) AS "subject",
        replace(replace(replace((SELECT body FROM settings), '{first_name}', first_name), '{opportunity}', opportunity_name), '{account}', account_name) AS "body"
    FROM recipients
),

final AS (
    SELECT opportunity_id AS message_key, "contact", "admin", "message_type", "subject", "body"
    FROM rendered
)

SELECT * FROM final
