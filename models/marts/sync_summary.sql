-- materialized: table
-- description: Counts that explain a run: matches by rule, unmatched people and why, ambiguous cases, and the writes planned per target.
WITH intercom AS (
    SELECT * FROM int_people_intercom
),

final AS (
    SELECT 'people matched by ' || match_rule AS metric, count(*) AS value FROM int_people_identity GROUP BY match_rule
    UNION ALL
    SELECT 'companies matched by ' || match_rule, count(*) FROM int_company_identity GROUP BY match_rule
    UNION ALL
    SELECT 'intercom contacts without email and unmatched', count(*) FROM intercom
    WHERE email_norm IS NULL AND intercom_id NOT IN (SELECT intercom_id FROM int_people_identity)
    UNION ALL
    SELECT 'intercom leads with email and unmatched', count(*) FROM intercom
    WHERE role = 'lead' AND email_norm IS NOT NULL AND intercom_id NOT IN (SELECT intercom_id FROM int_people_identity)
    UNION ALL
    SELECT 'contacts meeting the lead-capture rule without email (not sent)', count(*)
    FROM int_lead_capture_qualified AS qualified
    INNER JOIN intercom ON intercom.intercom_id = qualified.intercom_id
    WHERE intercom.email_norm IS NULL
    UNION ALL
    SELECT 'conversations of people unmatched in Salesforce', count(*)
    FROM stg_intercom__conversations
    WHERE contact_id NOT IN (SELECT intercom_id FROM int_people_identity)
    UNION ALL
    SELECT 'ambiguous matches', count(*) FROM identity_ambiguous
    UNION ALL
    SELECT 'field conflicts resolved by owner rule', count(*) FROM int_merged_fields WHERE is_conflict
)

SELECT * FROM final
