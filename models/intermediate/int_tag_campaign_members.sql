-- materialized: table
-- description: For workflows.tag_campaigns: each matched Lead or Contact whose Intercom contact has a configured tag (wanted), and the members of the tags' Campaigns (held, deleted ones included, whoever made them; member_key is ferry's key, NULL for a member made by hand), with the tag and person each is for.
WITH enabled AS (
    SELECT value = 'true' AS is_on FROM config.settings WHERE key = 'tag_campaigns_enabled'
),

campaigns AS (
    SELECT id AS campaign_id, nullif("Ferry_Key__c", '') AS campaign_key, coalesce(is_deleted, false) AS is_deleted
    FROM raw.salesforce__campaign
    WHERE starts_with("Ferry_Key__c", 'tag:') AND (SELECT is_on FROM enabled)
)

-- Each configured tag on each matched person (not a Lead this run
-- creates: its member waits for the run that matches it).
SELECT 'wanted' AS kind, tags.tag, people.sf_object, people.sf_id, NULL::VARCHAR AS member_id, NULL::VARCHAR AS member_key, NULL::BOOLEAN AS is_deleted
FROM int_people_tags AS people
CROSS JOIN unnest(people.tag_names) AS person_tags(tag)
INNER JOIN config.campaign_tags AS tags
    ON tags.tag = person_tags.tag
WHERE (SELECT is_on FROM enabled) AND NOT starts_with(people.sf_id, 'lead:')
UNION ALL
-- Every member of the tags' Campaigns, whoever made it (one made by hand
-- counts: Salesforce refuses a second member for one person), as the
-- Contact it names when it names one (a converted Lead's member).
SELECT 'held', substr(campaigns.campaign_key, 5), CASE WHEN members."ContactId" IS NOT NULL THEN 'Contact' ELSE 'Lead' END,
    coalesce(members."ContactId", members."LeadId"), members.id, nullif(members."Ferry_Key__c", ''), coalesce(members.is_deleted, false)
FROM raw.salesforce__campaign_member AS members
INNER JOIN campaigns
    ON campaigns.campaign_id = members."CampaignId"
