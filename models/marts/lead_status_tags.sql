-- materialized: table
-- description: The Lead status of each Intercom contact matched to a Lead, as a tag (workflows.lead_status_tags: the prefix, then the status), and the status tags the contact holds that are not its Lead's status any more, to untag. One row per contact and tag with tagged true or false (models/syncs/lead_status_tags.yaml); only tags starting with the prefix are ever touched.
WITH settings AS (
    SELECT
        max(CASE WHEN key = 'lead_status_tags_enabled' THEN value = 'true' END) AS enabled,
        max(CASE WHEN key = 'lead_status_tag_prefix' THEN value END) AS prefix
    FROM config.settings
),

desired AS (
    SELECT identity.intercom_id, (SELECT prefix FROM settings) || leads.status AS tag
    FROM int_people_identity AS identity
    INNER JOIN stg_salesforce__leads AS leads
        ON leads.sf_id = identity.sf_id
    WHERE leads.status IS NOT NULL AND NOT leads.is_deleted
      AND (SELECT enabled FROM settings) -- nothing is computed while the workflow is off
),

held AS (
    SELECT contacts.intercom_id, tags.name AS tag
    FROM stg_intercom__contacts AS contacts
    CROSS JOIN unnest(contacts.tag_ids) AS contact_tags(tag_id)
    INNER JOIN raw.intercom__tags AS tags
        ON tags.id = contact_tags.tag_id
    WHERE (SELECT enabled FROM settings)
      AND starts_with(tags.name, (SELECT prefix FROM settings))
)

SELECT intercom_id, tag, true AS tagged FROM desired
UNION ALL
SELECT held.intercom_id, held.tag, false
FROM held
LEFT JOIN desired
    ON desired.intercom_id = held.intercom_id AND desired.tag = held.tag
WHERE desired.tag IS NULL
