-- materialized: table
-- record_ids: intercom_id, sf_id
-- description: One Salesforce Contact or Lead per Intercom contact. Rule: first the external id ferry wrote (Intercom_Id__c; a converted Lead's link is followed to its Contact; a link to an Intercom contact merged into another counts for the survivor, and is rewritten to it), then the normalised email. Among several candidates: Contact before Lead, then oldest CreatedDate, then lowest Id; the others are listed in int_people_ambiguous, never merged.
-- test: unique(intercom_id)
WITH keys AS (
    SELECT value AS match_keys FROM config.settings WHERE key = 'people_match_keys'
),

intercom AS (
    SELECT intercom_id, email_norm, email_rank FROM int_people_intercom
),

-- Intercom contacts merged into another: a link to one moves to the
-- contact that survived.
merges AS (
    SELECT intercom_id, merged_into FROM stg_intercom__contacts
    WHERE is_deleted AND merged_into IS NOT NULL
),

linked_candidates AS (
    SELECT
        coalesce(merges.merged_into, candidates.intercom_link) AS intercom_id,
        candidates.sf_object,
        candidates.sf_id,
        candidates.type_rank,
        candidates.created_date
    FROM int_people_sf_candidates AS candidates
    LEFT JOIN merges
        ON merges.intercom_id = candidates.intercom_link
    WHERE candidates.intercom_link IS NOT NULL
    UNION ALL
    SELECT
        coalesce(merges.merged_into, leads.intercom_link) AS intercom_id,
        'Contact' AS sf_object,
        leads.converted_contact_id AS sf_id,
        1 AS type_rank,
        leads.created_date
    FROM stg_salesforce__leads AS leads
    LEFT JOIN merges
        ON merges.intercom_id = leads.intercom_link
    WHERE leads.is_converted
      AND NOT leads.is_deleted
      AND leads.intercom_link IS NOT NULL
      AND leads.converted_contact_id IS NOT NULL
),

-- Candidate lists are aggregated with GROUP BY: string_agg as a window
-- function crashes DuckDB 1.4 on large inputs (docs/decisions.md).
linked_ranked AS (
    SELECT
        linked_candidates.*,
        row_number() OVER (PARTITION BY linked_candidates.intercom_id ORDER BY linked_candidates.type_rank, linked_candidates.created_date, linked_candidates.sf_id) AS candidate_rank
    FROM linked_candidates
    WHERE linked_candidates.intercom_id IN (SELECT intercom_id FROM intercom)
      AND (SELECT match_keys FROM keys) LIKE '%external_id%'
),

-- Lists are built only where there are several candidates: an ordered
-- string_agg keeps its whole input in memory, and over every Intercom
-- contact it ran past memory_limit at 1,000,000 contacts.
linked_counts AS (
    SELECT intercom_id, count(*) AS candidate_count
    FROM linked_ranked
    GROUP BY intercom_id
),

linked_lists AS (
    SELECT
        linked_ranked.intercom_id,
        string_agg(linked_ranked.sf_object || ':' || linked_ranked.sf_id, ', ' ORDER BY linked_ranked.candidate_rank) AS candidate_ids
    FROM linked_ranked
    INNER JOIN linked_counts
        ON linked_counts.intercom_id = linked_ranked.intercom_id
    WHERE linked_counts.candidate_count > 1
    GROUP BY linked_ranked.intercom_id
),

linked AS (
    SELECT
        linked_ranked.intercom_id,
        linked_ranked.sf_object,
        linked_ranked.sf_id,
        'external_id' AS match_rule,
        linked_counts.candidate_count,
        coalesce(linked_lists.candidate_ids, linked_ranked.sf_object || ':' || linked_ranked.sf_id) AS candidate_ids
    FROM linked_ranked
    INNER JOIN linked_counts
        ON linked_counts.intercom_id = linked_ranked.intercom_id
    LEFT JOIN linked_lists
        ON linked_lists.intercom_id = linked_ranked.intercom_id
    WHERE linked_ranked.candidate_rank = 1
),

by_email_candidates AS (
    SELECT
        intercom.intercom_id,
        candidates.sf_object,
        candidates.sf_id,
        row_number() OVER (PARTITION BY intercom.intercom_id ORDER BY candidates.type_rank, candidates.created_date, candidates.sf_id) AS candidate_rank
    FROM intercom
    INNER JOIN int_people_sf_candidates AS candidates
        ON candidates.email_norm = intercom.email_norm
    WHERE intercom.email_rank = 1
      AND intercom.intercom_id NOT IN (SELECT intercom_id FROM linked)
      AND candidates.sf_id NOT IN (SELECT sf_id FROM linked)
      AND (candidates.intercom_link IS NULL OR candidates.intercom_link NOT IN (SELECT intercom_id FROM intercom))
      AND (SELECT match_keys FROM keys) LIKE '%email%'
),

by_email_counts AS (
    SELECT intercom_id, count(*) AS candidate_count
    FROM by_email_candidates
    GROUP BY intercom_id
),

by_email_lists AS (
    SELECT
        by_email_candidates.intercom_id,
        string_agg(by_email_candidates.sf_object || ':' || by_email_candidates.sf_id, ', ' ORDER BY by_email_candidates.candidate_rank) AS candidate_ids
    FROM by_email_candidates
    INNER JOIN by_email_counts
        ON by_email_counts.intercom_id = by_email_candidates.intercom_id
    WHERE by_email_counts.candidate_count > 1
    GROUP BY by_email_candidates.intercom_id
),

by_email AS (
    SELECT
        by_email_candidates.intercom_id,
        by_email_candidates.sf_object,
        by_email_candidates.sf_id,
        'email' AS match_rule,
        by_email_counts.candidate_count,
        coalesce(by_email_lists.candidate_ids, by_email_candidates.sf_object || ':' || by_email_candidates.sf_id) AS candidate_ids
    FROM by_email_candidates
    INNER JOIN by_email_counts
        ON by_email_counts.intercom_id = by_email_candidates.intercom_id
    LEFT JOIN by_email_lists
        ON by_email_lists.intercom_id = by_email_candidates.intercom_id
    WHERE by_email_candidates.candidate_rank = 1
),

final AS (
    SELECT * FROM linked
    UNION ALL
    SELECT * FROM by_email
)

SELECT * FROM final
