-- materialized: table
-- description: Onboarding milestones (workflows.onboarding_milestones), in long form: per Account with a Closed Won Opportunity, and per configured Intercom event name, the date (UTC) its people (matched Contacts) first had the event, as the Account field the event is mapped to. Events are read only for the people of Accounts in onboarding (a Closed Won Opportunity closed in the last workflows.onboarding_milestones.days days), so a milestone stays as it was once the Account leaves onboarding. Written by an update of the Account (models/syncs/onboarding_milestones.yaml).
WITH enabled AS (
    SELECT max(CASE WHEN key = 'milestones_enabled' THEN value = 'true' END) AS is_on
    FROM config.settings
),

won_accounts AS (
    SELECT DISTINCT account_id
    FROM stg_salesforce__opportunities
    WHERE is_won AND NOT is_deleted AND account_id IS NOT NULL
),

account_people AS (
    SELECT DISTINCT contacts.account_id, people.intercom_id
    FROM stg_salesforce__contacts AS contacts
    INNER JOIN int_people_identity AS people
        ON people.sf_id = contacts.sf_id
    WHERE NOT contacts.is_deleted
      AND contacts.account_id IN (SELECT account_id FROM won_accounts)
)

SELECT
    account_people.account_id,
    milestones.field,
    CAST(min(events.first_at) AS DATE) AS first_on -- sessions run in UTC
FROM stg_intercom__events AS events
INNER JOIN config.onboarding_milestones AS milestones
    ON milestones.event_name = events.event_name
INNER JOIN account_people
    ON account_people.intercom_id = events.contact_id
WHERE (SELECT is_on FROM enabled)
GROUP BY ALL
