-- materialized: incremental
-- record_ids: conversation_id, contact_id
-- description: Current version of every Intercom conversation with its statistics, rating, tags and a plain-text snippet, one row per id. activity_at is its latest message or close (its creation, with none): notes, tags and assignments, which move updated_at, leave it alone.
SELECT
    id AS conversation_id,
    contact_ids[1] AS contact_id,
    state,
    state = 'open' AS is_open,
    coalesce("source.delivered_as", '') <> 'admin_initiated' AS customer_initiated,
    priority,
    nullif(nullif(admin_assignee_id, '0'), '') AS admin_assignee_id,
    tag_names,
    "conversation_rating.rating" AS rating,
    "source.subject" AS subject,
    left(trim(regexp_replace(coalesce("source.body", ''), '<[^>]*>', ' ', 'g')), 500) AS snippet,
    created_at,
    updated_at,
    greatest(
        created_at,
        coalesce("statistics.last_contact_reply_at", created_at),
        coalesce("statistics.last_admin_reply_at", created_at),
        coalesce("statistics.last_close_at", created_at)
    ) AS activity_at,
    "statistics.time_to_admin_reply" AS seconds_to_first_reply,
    "statistics.last_close_at" AS closed_at,
    "conversation_parts.total_count" AS part_count
FROM raw.intercom__conversations
