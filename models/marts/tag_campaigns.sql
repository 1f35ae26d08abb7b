-- materialized: table
-- description: A Salesforce Campaign per Intercom tag of workflows.tag_campaigns.tags, keyed on 'tag:<tag>' (Campaign.Ferry_Key__c) and created once (models/syncs/tag_campaigns.yaml): a Campaign someone deletes is not created again.
SELECT
    'tag:' || tags.tag AS campaign_key,
    left('Intercom tag: ' || tags.tag, 80) AS name,
    true AS is_active
FROM config.campaign_tags AS tags
WHERE (SELECT value = 'true' FROM config.settings WHERE key = 'tag_campaigns_enabled')
