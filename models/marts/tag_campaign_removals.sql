-- materialized: table
-- description: The Campaign members to delete (workflows.tag_campaigns): live members ferry made whose Lead or Contact no longer has the tag on its Intercom contact, for tags still configured. Members made by hand are left alone.
WITH pairs AS (
    SELECT tag, sf_id, bool_or(kind = 'wanted') AS wanted
    FROM int_tag_campaign_members
    GROUP BY ALL
)

SELECT held.member_id
FROM int_tag_campaign_members AS held
INNER JOIN pairs
    ON pairs.tag = held.tag AND pairs.sf_id = held.sf_id
INNER JOIN config.campaign_tags AS tags
    ON tags.tag = held.tag
WHERE held.kind = 'held' AND NOT held.is_deleted AND NOT pairs.wanted
  AND held.member_key IS NOT NULL -- members made by hand are left alone
