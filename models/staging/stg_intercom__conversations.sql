-- materialized: table
-- description: Latest landed version of every Intercom conversation with its statistics, rating, tags and a plain-text snippet, one row per id.
WITH latest AS (
    SELECT * FROM ferry_latest('raw.intercom__conversations')
),

final AS (
    SELECT
        id AS conversation_id,
        json_extract_string(record, '$.contacts.contacts[0].id') AS contact_id,
        json_extract_string(record, '$.state') AS state,
        json_extract_string(record, '$.state') = 'open' AS is_open,
        coalesce(json_extract_string(record, '$.source.delivered_as'), '') <> 'admin_initiated' AS customer_initiated,
        json_extract_string(record, '$.priority') AS priority,
        nullif(nullif(json_extract_string(record, '$.admin_assignee_id'), '0'), '') AS admin_assignee_id,
        json_extract_string(record, '$.tags.tags[*].name') AS tag_names,
        TRY_CAST(json_extract(record, '$.conversation_rating.rating') AS INTEGER) AS rating,
        json_extract_string(record, '$.source.subject') AS subject,
        left(trim(regexp_replace(coalesce(json_extract_string(record, '$.source.body'), ''), '<[^>]*>', ' ', 'g')), 500) AS snippet,
        to_timestamp(CAST(json_extract(record, '$.created_at') AS BIGINT)) AS created_at,
        updated_at,
        TRY_CAST(json_extract(record, '$.statistics.time_to_admin_reply') AS BIGINT) AS seconds_to_first_reply,
        to_timestamp(TRY_CAST(json_extract(record, '$.statistics.last_close_at') AS BIGINT)) AS closed_at,
        TRY_CAST(json_extract(record, '$.conversation_parts.total_count') AS INTEGER) AS part_count,
        record
    FROM latest
)

SELECT * FROM final
