-- materialized: table
-- description: Every ambiguous match, with the record chosen and the rule that chose it. Nothing listed here was merged.
WITH people_sf AS (
    SELECT
        'people' AS entity,
        intercom_id AS record_key,
        sf_object || ':' || sf_id AS chosen,
        candidate_ids AS candidates,
        'several Salesforce records match by ' || match_rule || '; chose Contact before Lead, then oldest CreatedDate, then lowest Id' AS rule
    FROM int_people_identity
    WHERE candidate_count > 1
),

people_linked_duplicates AS (
    SELECT
        'people' AS entity,
        identity.intercom_id AS record_key,
        identity.sf_object || ':' || identity.sf_id AS chosen,
        string_agg(others.sf_object || ':' || others.sf_id, ', ' ORDER BY others.sf_object, others.sf_id) AS candidates,
        'linked by external id; other Salesforce records share the email and are left alone' AS rule
    FROM int_people_identity AS identity
    INNER JOIN int_people_sf_candidates AS linked
        ON linked.sf_id = identity.sf_id
    INNER JOIN int_people_sf_candidates AS others
        ON others.email_norm = linked.email_norm AND others.sf_id <> linked.sf_id
    WHERE identity.match_rule = 'external_id'
      AND others.intercom_link IS NULL
    GROUP BY identity.intercom_id, identity.sf_object, identity.sf_id
),

people_intercom AS (
    SELECT
        'people' AS entity,
        losers.intercom_id AS record_key,
        winners.intercom_id AS chosen,
        losers.intercom_id || ', ' || winners.intercom_id AS candidates,
        'several Intercom contacts share the email; chose user before lead, then oldest, then lowest id; this one is not synced' AS rule
    FROM int_people_intercom AS losers
    INNER JOIN int_people_intercom AS winners
        ON winners.email_norm = losers.email_norm AND winners.email_rank = 1
    WHERE losers.email_rank > 1
),

companies AS (
    SELECT
        'companies' AS entity,
        intercom_id AS record_key,
        'Account:' || sf_id AS chosen,
        candidate_ids AS candidates,
        'several Accounts match by ' || match_rule || '; chose oldest CreatedDate, then lowest Id' AS rule
    FROM int_company_identity
    WHERE candidate_count > 1
),

final AS (
    SELECT * FROM people_sf
    UNION ALL
    SELECT * FROM people_linked_duplicates
    UNION ALL
    SELECT * FROM people_intercom
    UNION ALL
    SELECT * FROM companies
)

SELECT * FROM final
