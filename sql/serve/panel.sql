-- Statements of the inbox panel's snapshot (internal/serve/panel.go).
--
-- Build: run on one connection to a read-only handle of the warehouse,
-- with the new snapshot file attached as `panel`. They copy into it only
-- what a view shows, keyed for point lookups (DuckDB uses an ART index for
-- an equality filter matching few rows): one row per Intercom contact with
-- their Account, and per Account its open opportunities and open Cases,
-- each list cut to what the panel can show plus a count of the rest. A view then reads the snapshot and never
-- the warehouse, which a sync holds exclusively while it runs.
--
-- Columns the models do not carry (a person's and a user's name, a Lead's
-- company, a Case's number and priority, an Account's country) come from
-- the current-state tables raw.salesforce__<object>. Extraction selects
-- every field describe lists, so which of them exist depends on the org:
-- CaseNumber, Priority and BillingCountry are read through UNION ALL BY
-- NAME with a zero-row typed stand-in, which gives NULL where a column is
-- missing instead of a binder error.
--
-- Lookup: run on the snapshot itself, with the catalog it was built into
-- as the default.

-- name: HasView
-- 1 when the warehouse publishes model $1 (a view in main), else 0.
SELECT count(*)
FROM duckdb_views()
WHERE schema_name = 'main' AND view_name = $1;

-- name: NoHealth
-- A stand-in for account_health where the pipeline does not build it
-- (health disabled, or a --select that left it out): no Account has a score.
CREATE TEMP VIEW account_health AS
SELECT
    CAST(NULL AS VARCHAR) AS account_id,
    CAST(NULL AS DOUBLE) AS health_score,
    CAST(NULL AS VARCHAR) AS health_band
WHERE false;

-- name: BuildMeta
-- When the warehouse's last successful run finished: what the panel is as of.
CREATE TABLE panel.meta AS
SELECT
    max(finished_at) AS as_of
FROM ferry.runs
WHERE status = 'succeeded';

-- name: BuildOwners
-- Salesforce users by Id, with the name the panel shows for an owner.
CREATE TEMP TABLE owners AS
SELECT
    users.sf_id,
    coalesce(nullif(trim(raw_users."Name"), ''), users.email_norm) AS name
FROM stg_salesforce__users AS users
LEFT JOIN raw.salesforce__user AS raw_users
    ON raw_users.id = users.sf_id;

-- name: BuildPeople
-- One row per Intercom contact ferry has extracted, with the Salesforce
-- Contact or Lead that int_people_identity matched to it (none when
-- unmatched) and that person's Account, so that a view is one indexed
-- lookup. Account columns repeat for each of its people; the columnar
-- file stores the repeats compressed.
CREATE TABLE panel.people AS
WITH contacts AS (
    SELECT
        sf_id,
        name,
        email,
        owner_id,
        account_id,
        CAST(NULL AS VARCHAR) AS company,
        CAST(NULL AS VARCHAR) AS status
    FROM stg_salesforce__contacts
    WHERE NOT is_deleted
),

leads AS (
    SELECT
        leads.sf_id,
        nullif(trim(concat_ws(' ', raw_leads."FirstName", raw_leads."LastName")), '') AS name,
        nullif(trim(raw_leads."Email"), '') AS email,
        leads.owner_id,
        CAST(NULL AS VARCHAR) AS account_id,
        nullif(trim(raw_leads."Company"), '') AS company,
        leads.status
    FROM stg_salesforce__leads AS leads
    INNER JOIN raw.salesforce__lead AS raw_leads
        ON raw_leads.id = leads.sf_id
    WHERE NOT leads.is_deleted
),

people AS (
    SELECT * FROM contacts
    UNION ALL
    SELECT * FROM leads
),

countries AS (
    SELECT
        id,
        nullif(trim("BillingCountry"), '') AS country
    FROM (
        SELECT * FROM raw.salesforce__account
        UNION ALL BY NAME
        SELECT CAST(NULL AS VARCHAR) AS "BillingCountry" WHERE false
    )
),

open_opportunities AS (
    SELECT account_id, count(*) AS n
    FROM stg_salesforce__opportunities
    WHERE NOT is_deleted AND NOT is_closed AND account_id IS NOT NULL
    GROUP BY account_id
),

open_cases AS (
    SELECT account_id, count(*) AS n
    FROM stg_salesforce__cases
    WHERE NOT is_deleted AND NOT is_closed AND account_id IS NOT NULL
    GROUP BY account_id
),

accounts AS (
    SELECT
        accounts.sf_id AS account_id,
        accounts.name,
        accounts.website,
        accounts.domain_norm AS domain,
        owners.name AS owner_name,
        countries.country,
        health.health_score,
        health.health_band,
        coalesce(open_opportunities.n, 0) AS open_opportunities,
        coalesce(open_cases.n, 0) AS open_cases
    FROM stg_salesforce__accounts AS accounts
    LEFT JOIN owners
        ON owners.sf_id = accounts.owner_id
    LEFT JOIN countries
        ON countries.id = accounts.sf_id
    LEFT JOIN account_health AS health
        ON health.account_id = accounts.sf_id
    LEFT JOIN open_opportunities
        ON open_opportunities.account_id = accounts.sf_id
    LEFT JOIN open_cases
        ON open_cases.account_id = accounts.sf_id
    WHERE NOT accounts.is_deleted
),

final AS (
    SELECT
        intercom.intercom_id,
        intercom.name AS intercom_name,
        intercom.email AS intercom_email,
        identity.sf_object,
        identity.sf_id,
        people.name,
        people.email,
        owners.name AS owner_name,
        people.company,
        people.status,
        accounts.account_id,
        accounts.name AS account_name,
        accounts.website,
        accounts.domain,
        accounts.owner_name AS account_owner_name,
        accounts.country,
        CAST(accounts.health_score AS DOUBLE) AS health_score,
        accounts.health_band,
        accounts.open_opportunities,
        accounts.open_cases
    FROM stg_intercom__contacts AS intercom
    LEFT JOIN int_people_identity AS identity
        ON identity.intercom_id = intercom.intercom_id
    LEFT JOIN people
        ON people.sf_id = identity.sf_id
    LEFT JOIN owners
        ON owners.sf_id = people.owner_id
    LEFT JOIN accounts
        ON accounts.account_id = people.account_id
    WHERE NOT coalesce(intercom.is_deleted, false)
)

SELECT * FROM final;

-- name: IndexPeople
CREATE UNIQUE INDEX people_intercom_id ON panel.people (intercom_id);

-- name: BuildOpportunities
-- An Account's open opportunities, the soonest to close first; the first
-- $1 only (a single-select offers 10 options at most).
CREATE TABLE panel.opportunities AS
WITH ranked AS (
    SELECT
        opportunities.account_id,
        opportunities.sf_id AS opportunity_id,
        opportunities.name,
        opportunities.stage,
        opportunities.close_date,
        opportunities.amount,
        opportunities.owner_id,
        row_number() OVER (PARTITION BY opportunities.account_id ORDER BY opportunities.close_date NULLS LAST, opportunities.sf_id) AS position
    FROM stg_salesforce__opportunities AS opportunities
    WHERE NOT opportunities.is_deleted
      AND NOT opportunities.is_closed
      AND opportunities.account_id IS NOT NULL
),

final AS (
    SELECT
        ranked.account_id,
        ranked.position,
        ranked.opportunity_id,
        ranked.name,
        ranked.stage,
        CAST(ranked.close_date AS DATE) AS close_date,
        CAST(ranked.amount AS DOUBLE) AS amount,
        owners.name AS owner_name
    FROM ranked
    LEFT JOIN owners
        ON owners.sf_id = ranked.owner_id
    WHERE ranked.position <= $1
)

SELECT * FROM final;

-- name: IndexOpportunities
CREATE INDEX opportunities_account_id ON panel.opportunities (account_id);

-- name: BuildCases
-- An Account's open Cases, the newest first; the first $1 only.
CREATE TABLE panel.cases AS
WITH extra AS (
    SELECT
        id,
        nullif(trim("CaseNumber"), '') AS case_number,
        nullif(trim("Priority"), '') AS priority
    FROM (
        SELECT * FROM raw.salesforce__case
        UNION ALL BY NAME
        SELECT
            CAST(NULL AS VARCHAR) AS "CaseNumber",
            CAST(NULL AS VARCHAR) AS "Priority"
        WHERE false
    )
),

ranked AS (
    SELECT
        cases.account_id,
        cases.sf_id AS case_id,
        cases.subject,
        cases.status,
        row_number() OVER (PARTITION BY cases.account_id ORDER BY cases.created_date DESC NULLS LAST, cases.sf_id) AS position
    FROM stg_salesforce__cases AS cases
    WHERE NOT cases.is_deleted
      AND NOT cases.is_closed
      AND cases.account_id IS NOT NULL
),

final AS (
    SELECT
        ranked.account_id,
        ranked.position,
        ranked.case_id,
        extra.case_number,
        ranked.subject,
        ranked.status,
        extra.priority
    FROM ranked
    LEFT JOIN extra
        ON extra.id = ranked.case_id
    WHERE ranked.position <= $1
)

SELECT * FROM final;

-- name: IndexCases
CREATE INDEX cases_account_id ON panel.cases (account_id);

-- name: LookupMeta
SELECT
    (SELECT as_of FROM meta) AS as_of,
    (SELECT count(*) FROM people) AS people;

-- name: LookupPerson
-- The person and their Account (NULL columns when they have none).
SELECT
    intercom_name,
    intercom_email,
    sf_object,
    sf_id,
    name,
    email,
    owner_name,
    company,
    status,
    account_id,
    account_name,
    website,
    domain,
    account_owner_name,
    country,
    health_score,
    health_band,
    open_opportunities,
    open_cases
FROM people
WHERE intercom_id = $1;

-- name: LookupOpportunities
SELECT
    opportunity_id,
    name,
    stage,
    close_date,
    amount,
    owner_name
FROM opportunities
WHERE account_id = $1
ORDER BY position;

-- name: LookupCases
SELECT
    case_id,
    case_number,
    subject,
    status,
    priority
FROM cases
WHERE account_id = $1
ORDER BY position;
