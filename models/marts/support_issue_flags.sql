-- materialized: table
-- description: The active-support-issue flag of every open Opportunity (workflows.support_issue_flag): true while its Account's people have open customer-initiated Intercom conversations, false otherwise. The whole desired state, one row per Opportunity; the sync (models/syncs/support_issue_flag.yaml) writes the flags that differ from what Salesforce holds.
WITH settings AS (
    SELECT max(CASE WHEN key = 'support_flag_enabled' THEN value = 'true' END) AS enabled
    FROM config.settings
)

SELECT
    opportunities.sf_id AS opportunity_id,
    active.account_id IS NOT NULL AS active_support_issue
FROM stg_salesforce__opportunities AS opportunities
LEFT JOIN int_account_open_conversations AS active
    ON active.account_id = opportunities.account_id
WHERE (SELECT enabled FROM settings)
  AND NOT opportunities.is_deleted
  AND NOT opportunities.is_closed
