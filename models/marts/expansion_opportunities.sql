-- materialized: table
-- description: Expansion signals: one Opportunity per Account and configured tag (workflows.expansion_opportunities.tags, tag to Opportunity Type) on a conversation of the account's people. Related to the Account, owned by its owner, at the configured stage and amount (none unless configured), closing the configured number of days after the latest conversation that signals it (as of its creation), its active-support-issue flag set as workflows.support_issue_flag would set it. Keyed on 'expansion:<Account Id>:<tag>' and written by an insert (models/syncs/expansion_opportunities.yaml): never twice for the same signal, even after someone deletes the Opportunity.
WITH settings AS (
    SELECT
        max(CASE WHEN key = 'expansion_enabled' THEN value = 'true' END) AS enabled,
        max(CASE WHEN key = 'expansion_stage' THEN value END) AS stage,
        max(CASE WHEN key = 'expansion_amount' THEN TRY_CAST(nullif(value, '') AS DOUBLE) END) AS amount,
        max(CASE WHEN key = 'expansion_close_in_days' THEN TRY_CAST(value AS INTEGER) END) AS close_in_days,
        max(CASE WHEN key = 'support_flag_enabled' THEN value = 'true' END) AS support_flag
    FROM config.settings
),

-- Accounts with open customer conversations: an Opportunity opened for
-- one is created with its active-support-issue flag set, as
-- workflows.support_issue_flag would set it.
active_accounts AS (
    SELECT account_id FROM int_account_open_conversations
),

signals AS (
    SELECT contacts.account_id, tags.tag, tags.opportunity_type, max(conversations.created_at) AS last_seen
    FROM stg_intercom__conversations AS conversations
    INNER JOIN config.expansion_tags AS tags
        ON list_contains(conversations.tag_names, tags.tag)
    INNER JOIN int_people_identity AS people
        ON people.intercom_id = conversations.contact_id
    INNER JOIN stg_salesforce__contacts AS contacts
        ON contacts.sf_id = people.sf_id
    WHERE contacts.account_id IS NOT NULL AND NOT contacts.is_deleted
      AND (SELECT enabled FROM settings) -- nothing is computed while the workflow is off
    GROUP BY ALL
)

SELECT
    'expansion:' || signals.account_id || ':' || signals.tag AS signal_key,
    left('Expansion: ' || signals.tag || ' - ' || accounts.name, 120) AS name,
    signals.account_id,
    accounts.owner_id,
    signals.opportunity_type,
    settings.stage,
    settings.amount,
    -- Written once, when the Opportunity is created: then the latest
    -- signal's date (models never read the clock) plus the configured days.
    strftime(CAST(signals.last_seen AS DATE) + settings.close_in_days, '%Y-%m-%d') AS close_date,
    CASE WHEN settings.support_flag THEN active_accounts.account_id IS NOT NULL END AS active_support_issue
FROM signals
CROSS JOIN settings
INNER JOIN stg_salesforce__accounts AS accounts
    ON accounts.sf_id = signals.account_id
LEFT JOIN active_accounts
    ON active_accounts.account_id = signals.account_id
WHERE settings.enabled AND NOT accounts.is_deleted
