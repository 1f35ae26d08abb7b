-- materialized: table
-- description: The Campaign members to create (workflows.tag_campaigns): each matched Lead or Contact with a configured Intercom tag that is not a live member of the tag's Campaign. Keyed on 'tag:<tag>:<person Id>:<n>' (CampaignMember.Ferry_Key__c), n one more than the members ferry made for the pair before (removed when the tag was), so that a tag put back makes a member again. The Campaign is named 'ref:Campaign:tag:<tag>' until Salesforce holds it (the loader puts the Id in); a tag whose Campaign someone deleted gets no members.
WITH pairs AS (
    SELECT
        tag,
        sf_object,
        sf_id,
        bool_or(kind = 'wanted') AS wanted,
        bool_or(kind = 'held' AND NOT is_deleted) AS live,
        count(*) FILTER (WHERE kind = 'held' AND member_key IS NOT NULL) AS made
    FROM int_tag_campaign_members
    GROUP BY ALL
),

campaigns AS (
    SELECT nullif("Ferry_Key__c", '') AS campaign_key,
        max(id) FILTER (WHERE NOT coalesce(is_deleted, false)) AS campaign_id,
        bool_and(coalesce(is_deleted, false)) AS deleted
    FROM raw.salesforce__campaign
    WHERE starts_with("Ferry_Key__c", 'tag:')
    GROUP BY 1
)

SELECT
    'tag:' || pairs.tag || ':' || pairs.sf_id || ':' || (pairs.made + 1) AS member_key,
    coalesce(campaigns.campaign_id, 'ref:Campaign:tag:' || pairs.tag) AS campaign_id,
    CASE WHEN pairs.sf_object = 'Lead' THEN pairs.sf_id END AS lead_id,
    CASE WHEN pairs.sf_object = 'Contact' THEN pairs.sf_id END AS contact_id
FROM pairs
LEFT JOIN campaigns
    ON campaigns.campaign_key = 'tag:' || pairs.tag
WHERE pairs.wanted AND NOT pairs.live AND NOT coalesce(campaigns.deleted, false)
