-- materialized: incremental
-- record_ids: intercom_id, first_company_id
-- description: One row per live Intercom contact with the columns a lead-capture rule (workflows.lead_capture.rule) may test: tags of the contact and its conversations, company size and name, conversation counts, custom attributes (as columns named "custom_attributes.<name>"), and the latest conversation's subject and snippet for the Lead description.
-- An incremental build recomputes the contacts that changed, those whose
-- company changed, and (through stg_intercom__conversations, whose record
-- ids include the contact) those whose conversations changed. A change to
-- the tags builds it in full (raw.intercom__tags is read whole).
WITH contacts AS (
    SELECT * FROM stg_intercom__contacts
    WHERE NOT coalesce(is_deleted, false)
      AND (NOT is_incremental() OR changed(intercom_id) OR changed(first_company_id))
),

conversations AS (
    SELECT * FROM stg_intercom__conversations
    WHERE NOT is_incremental() OR contact_id IN (SELECT intercom_id FROM contacts)
),

tag_names AS (
    SELECT contacts.intercom_id, tags.name
    FROM contacts
    CROSS JOIN unnest(contacts.tag_ids) AS contact_tags(tag_id)
    INNER JOIN raw.intercom__tags AS tags
        ON tags.id = contact_tags.tag_id
    UNION
    SELECT conversations.contact_id, unnest(conversations.tag_names)
    FROM conversations
),

tag_lists AS (
    SELECT intercom_id, list_sort(list(name)) AS tag_names
    FROM tag_names
    GROUP BY intercom_id
),

conversation_stats AS (
    SELECT
        stats.contact_id,
        stats.conversation_count,
        last.subject AS last_conversation_subject,
        last.snippet AS last_conversation_snippet
    FROM (
        SELECT
            contact_id,
            count(*) AS conversation_count,
            -- Ties on created_at go to the greatest id, so the result does
            -- not depend on the order rows are stored in. Only the id is
            -- kept per contact: keeping the texts themselves in the
            -- aggregate holds them all in memory.
            arg_max(conversation_id, (created_at, conversation_id)) AS last_conversation_id
        FROM conversations
        WHERE customer_initiated
        GROUP BY contact_id
    ) AS stats
    INNER JOIN conversations AS last
        ON last.conversation_id = stats.last_conversation_id
),

-- The custom attributes are joined to a materialised result of the other
-- lookups: with all of them in one step, a full build at 1,000,000
-- contacts ran out of the 512 MB memory_limit inside a run (the same query
-- fit when run on its own); in two steps it builds in 6 s within it.
base AS MATERIALIZED (
    SELECT
        contacts.intercom_id,
        contacts.role,
        contacts.email,
        contacts.email_norm,
        contacts.name,
        contacts.owner_id AS owner_admin_id,
        contacts.first_company_id,
        coalesce(tag_lists.tag_names, []) AS tag_names,
        companies.name AS company_name,
        companies.size AS company_size,
        coalesce(conversation_stats.conversation_count, 0) AS conversation_count,
        conversation_stats.last_conversation_subject,
        conversation_stats.last_conversation_snippet
    FROM contacts
    LEFT JOIN stg_intercom__companies AS companies
        ON companies.intercom_id = contacts.first_company_id
    LEFT JOIN conversation_stats
        ON conversation_stats.contact_id = contacts.intercom_id
    LEFT JOIN tag_lists
        ON tag_lists.intercom_id = contacts.intercom_id
),

final AS (
    SELECT base.*, custom.* EXCLUDE (id)
    FROM base
    LEFT JOIN (SELECT id, COLUMNS('^custom_attributes\.') FROM raw.intercom__contacts) AS custom
        ON custom.id = base.intercom_id
)

SELECT * FROM final
