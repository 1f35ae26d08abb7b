-- materialized: table
-- record_ids: contact_id
-- description: Intercom data events summarised per contact and event name (first and last occurrence, count), for the people workflows.onboarding_milestones reads them for (extract.intercom.events). One row per contact and name.
SELECT
    contact_id,
    event_name,
    first_at,
    last_at,
    "count" AS event_count
FROM raw.intercom__events
WHERE NOT coalesce(is_deleted, false)
