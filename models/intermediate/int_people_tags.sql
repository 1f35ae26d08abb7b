-- materialized: table
-- description: The Intercom tags of each matched person, sorted and ';'-separated ('' for none) and as a list, with the Salesforce Lead or Contact the person matches: what workflows.tags_to_salesforce writes to Intercom_Tags__c, and workflows.tag_campaigns makes Campaign members of.
WITH enabled AS (
    SELECT bool_or(value = 'true') AS is_enabled FROM config.settings WHERE key IN ('tags_to_sf_enabled', 'tag_campaigns_enabled')
),

-- Nothing is computed while the workflow is off.
contacts AS (
    SELECT intercom_id, tag_ids FROM stg_intercom__contacts
    WHERE (SELECT is_enabled FROM enabled)
),

tags AS (
    SELECT contacts.intercom_id, list_sort(list(DISTINCT tags.name)) AS names
    FROM contacts
    CROSS JOIN unnest(contacts.tag_ids) AS contact_tags(tag_id)
    INNER JOIN raw.intercom__tags AS tags
        ON tags.id = contact_tags.tag_id
    GROUP BY ALL
),

-- Matched people, and people whose Lead this run creates: 'lead:<intercom
-- id>', which the loader replaces with the new Lead's Id.
people AS (
    SELECT intercom_id, sf_object, sf_id FROM int_people_identity
    UNION ALL
    SELECT DISTINCT record_key, 'Lead', 'lead:' || record_key FROM sf_lead_creates
)

SELECT
    identity.intercom_id,
    identity.sf_object,
    identity.sf_id,
    coalesce(array_to_string(tags.names, ';'), '') AS tags,
    coalesce(tags.names, []) AS tag_names
FROM people AS identity
LEFT JOIN tags
    ON tags.intercom_id = identity.intercom_id
WHERE (SELECT is_enabled FROM enabled)
