-- materialized: table
-- description: Customer health per Salesforce Account, 0-100, with every component as a column. Each component scores linearly between the pipeline's bad and good values; the score is their weighted mean over the components that have a value. as_of is the latest customer activity landed (a conversation's message or close, or a contact last seen; with none, the latest Account change), so scores are reproducible from the landing data, do not move when ferry itself writes (a Case note changes its conversation, not its activity), and models never read the clock.
-- test: unique(account_id)
-- test: not_null(account_id, health_score, health_band)
-- test: accepted_values(health_band, 'green', 'yellow', 'red')
-- test: relationships(account_id, stg_salesforce__accounts.sf_id)
WITH settings AS (
    SELECT
        max(CASE WHEN key = 'health_green' THEN CAST(value AS DOUBLE) END) AS green,
        max(CASE WHEN key = 'health_yellow' THEN CAST(value AS DOUBLE) END) AS yellow
    FROM config.settings
),

as_of AS (
    SELECT coalesce(greatest(
        (SELECT max(activity_at) FROM stg_intercom__conversations WHERE customer_initiated),
        (SELECT max(last_seen_at) FROM stg_intercom__contacts)
    ), (SELECT max(updated_at) FROM stg_salesforce__accounts)) AS as_of
),

accounts AS (
    SELECT
        sf_id AS account_id,
        name,
        annual_revenue
    FROM stg_salesforce__accounts
    WHERE NOT is_deleted
),

account_people AS (
    SELECT
        contacts.account_id,
        people.intercom_id
    FROM stg_salesforce__contacts AS contacts
    INNER JOIN int_people_identity AS people
        ON people.sf_id = contacts.sf_id
    WHERE NOT contacts.is_deleted
      AND contacts.account_id IS NOT NULL
),

conversation_stats AS (
    SELECT
        account_people.account_id,
        count(*) FILTER (WHERE conversations.created_at >= (SELECT as_of FROM as_of) - INTERVAL 30 DAY) AS conversations_30d,
        count(*) FILTER (WHERE conversations.created_at >= (SELECT as_of FROM as_of) - INTERVAL 90 DAY) AS conversations_90d,
        count(*) FILTER (WHERE conversations.is_open) AS open_conversations,
        median(conversations.seconds_to_first_reply) FILTER (WHERE conversations.created_at >= (SELECT as_of FROM as_of) - INTERVAL 90 DAY) / 60.0 AS median_first_response_minutes,
        avg(conversations.rating) AS avg_csat
    FROM stg_intercom__conversations AS conversations
    INNER JOIN account_people
        ON account_people.intercom_id = conversations.contact_id
    WHERE conversations.customer_initiated
    GROUP BY account_people.account_id
),

last_seen AS (
    SELECT
        account_people.account_id,
        max(contacts.last_seen_at) AS last_seen_at
    FROM account_people
    INNER JOIN stg_intercom__contacts AS contacts
        ON contacts.intercom_id = account_people.intercom_id
    GROUP BY account_people.account_id
),

deals AS (
    SELECT
        account_id,
        sum(amount) FILTER (WHERE NOT is_closed OR is_won) AS pipeline_and_won,
        min(close_date) FILTER (WHERE NOT is_closed) AS next_close_date
    FROM stg_salesforce__opportunities
    -- The Opportunities ferry opens for expansion signals are prospects,
    -- not contracted value or renewals.
    WHERE NOT is_deleted AND coalesce(ferry_key, '') NOT LIKE 'expansion:%'
    GROUP BY account_id
),

components AS (
    SELECT
        accounts.account_id,
        accounts.name AS account_name,
        companies.intercom_id AS company_intercom_id,
        (SELECT as_of FROM as_of) AS as_of,
        CAST(coalesce(conversation_stats.conversations_30d, 0) AS DOUBLE) AS conversations_30d,
        CAST(coalesce(conversation_stats.conversations_90d, 0) AS DOUBLE) AS conversations_90d,
        CAST(coalesce(conversation_stats.open_conversations, 0) AS DOUBLE) AS open_conversations,
        CAST(conversation_stats.median_first_response_minutes AS DOUBLE) AS median_first_response_minutes,
        CAST(conversation_stats.avg_csat AS DOUBLE) AS avg_csat,
        CAST(date_diff('day', last_seen.last_seen_at, (SELECT as_of FROM as_of)) AS DOUBLE) AS days_since_last_seen,
        CAST(coalesce(deals.pipeline_and_won, accounts.annual_revenue) AS DOUBLE) AS contract_value,
        CAST(date_diff('day', CAST((SELECT as_of FROM as_of) AS DATE), deals.next_close_date) AS DOUBLE) AS days_to_renewal
    FROM accounts
    LEFT JOIN int_company_identity AS companies
        ON companies.sf_id = accounts.account_id
    LEFT JOIN conversation_stats
        ON conversation_stats.account_id = accounts.account_id
    LEFT JOIN last_seen
        ON last_seen.account_id = accounts.account_id
    LEFT JOIN deals
        ON deals.account_id = accounts.account_id
),

component_values AS (
    UNPIVOT components
    ON conversations_30d, conversations_90d, open_conversations, median_first_response_minutes,
       avg_csat, days_since_last_seen, contract_value, days_to_renewal
    INTO NAME component VALUE value
),

scored AS (
    SELECT
        component_values.account_id,
        sum(weights.weight * greatest(0.0, least(1.0, (component_values.value - weights.bad) / (weights.good - weights.bad))))
            / nullif(sum(weights.weight), 0) AS score_fraction
    FROM component_values
    INNER JOIN config.health_components AS weights
        ON weights.component = component_values.component
    GROUP BY component_values.account_id
),

final AS (
    SELECT
        components.*,
        CAST(round(100 * coalesce(scored.score_fraction, 0.5)) AS DOUBLE) AS health_score,
        CASE
            WHEN round(100 * coalesce(scored.score_fraction, 0.5)) >= (SELECT green FROM settings) THEN 'green'
            WHEN round(100 * coalesce(scored.score_fraction, 0.5)) >= (SELECT yellow FROM settings) THEN 'yellow'
            ELSE 'red'
        END AS health_band
    FROM components
    LEFT JOIN scored
        ON scored.account_id = components.account_id
)

SELECT * FROM final
