-- Statements of `ferry report` (internal/report). They read the published
-- models (main.account_health, main.account_health_history) and the config
-- tables the last transform wrote, and aggregate in DuckDB: what reaches Go
-- is bounded by the report's limits, not by the number of accounts or runs.
-- A band ranks green 3, yellow 2, red 1 (anything else 0): a move's
-- direction is the new rank less the old, negative for a fall.

-- name: HasTable
-- 1 when schema $1 has a table or view named $2, else 0.
SELECT count(*)
FROM information_schema.tables
WHERE table_schema = $1 AND table_name = $2;

-- name: Overview
-- The accounts, by band, their mean score and the activity they are as of.
SELECT
    count(*) AS accounts,
    count(*) FILTER (WHERE health_band = 'green') AS green,
    count(*) FILTER (WHERE health_band = 'yellow') AS yellow,
    count(*) FILTER (WHERE health_band = 'red') AS red,
    coalesce(avg(health_score), 0) AS mean_score,
    max(as_of) AS as_of
FROM main.account_health;

-- name: Thresholds
-- The scores from which an account is green and yellow (NULL if unset).
SELECT
    max(CASE WHEN key = 'health_green' THEN TRY_CAST(value AS DOUBLE) END) AS green,
    max(CASE WHEN key = 'health_yellow' THEN TRY_CAST(value AS DOUBLE) END) AS yellow
FROM config.settings;

-- name: ScoreBuckets
-- Accounts per 10-point bucket of health_score (0 is 0-9, 9 is 90-100), by band.
SELECT
    CAST(least(9, greatest(0, floor(health_score / 10))) AS INTEGER) AS bucket,
    count(*) FILTER (WHERE health_band = 'green') AS green,
    count(*) FILTER (WHERE health_band = 'yellow') AS yellow,
    count(*) FILTER (WHERE health_band = 'red') AS red,
    count(*) FILTER (WHERE health_band IS DISTINCT FROM 'green'
        AND health_band IS DISTINCT FROM 'yellow'
        AND health_band IS DISTINCT FROM 'red') AS other
FROM main.account_health
WHERE health_score IS NOT NULL
GROUP BY bucket
ORDER BY bucket;

-- name: BandsByRun
-- Accounts per band in each of the last $1 runs of the history, newest
-- first, with the number of runs the history holds.
WITH runs AS (
    SELECT
        run_id,
        min(recorded_at) AS recorded_at,
        count(*) FILTER (WHERE health_band = 'green') AS green,
        count(*) FILTER (WHERE health_band = 'yellow') AS yellow,
        count(*) FILTER (WHERE health_band = 'red') AS red,
        count(*) FILTER (WHERE health_band IS DISTINCT FROM 'green'
            AND health_band IS DISTINCT FROM 'yellow'
            AND health_band IS DISTINCT FROM 'red') AS other
    FROM main.account_health_history
    GROUP BY run_id
)

SELECT
    run_id,
    recorded_at,
    green,
    yellow,
    red,
    other,
    count(*) OVER () AS runs
FROM runs
LEFT JOIN ferry.run_order USING (run_id)
-- In the order runs started (machines' clocks may disagree).
ORDER BY run_order.seq DESC NULLS LAST, recorded_at DESC, run_id DESC
LIMIT $1;

-- name: LastTwoRuns
-- The last two runs of the history, newest first.
SELECT
    history.run_id,
    min(history.recorded_at) AS recorded_at
FROM main.account_health_history AS history
LEFT JOIN ferry.run_order USING (run_id)
GROUP BY history.run_id
ORDER BY max(run_order.seq) DESC NULLS LAST, recorded_at DESC, history.run_id DESC
LIMIT 2;

-- name: BandMoves
-- The accounts whose band differs between run $2 (previous) and run $1
-- (last): the ones that fell furthest first, then by new score; at most $3
-- of them (MovePairs counts them all).
WITH last AS (
    SELECT account_id, account_name, health_band, health_score
    FROM main.account_health_history
    WHERE run_id = $1
),

previous AS (
    SELECT account_id, health_band, health_score
    FROM main.account_health_history
    WHERE run_id = $2
),

moves AS (
    SELECT
        last.account_id,
        last.account_name,
        coalesce(previous.health_band, 'none') AS old_band,
        coalesce(last.health_band, 'none') AS new_band,
        previous.health_score AS old_score,
        last.health_score AS new_score,
        (CASE last.health_band WHEN 'green' THEN 3 WHEN 'yellow' THEN 2 WHEN 'red' THEN 1 ELSE 0 END)
            - (CASE previous.health_band WHEN 'green' THEN 3 WHEN 'yellow' THEN 2 WHEN 'red' THEN 1 ELSE 0 END) AS direction
    FROM last
    INNER JOIN previous
        ON previous.account_id = last.account_id
    WHERE previous.health_band IS DISTINCT FROM last.health_band
)

SELECT
    account_id,
    coalesce(account_name, '') AS account_name,
    old_band,
    new_band,
    old_score,
    new_score
FROM moves
ORDER BY direction, new_score, account_id
LIMIT $3;

-- name: MovePairs
-- How many accounts went from each band to each other between run $2
-- (previous) and run $1 (last): falls first, the largest first.
WITH last AS (
    SELECT account_id, health_band
    FROM main.account_health_history
    WHERE run_id = $1
),

previous AS (
    SELECT account_id, health_band
    FROM main.account_health_history
    WHERE run_id = $2
),

pairs AS (
    SELECT
        coalesce(previous.health_band, 'none') AS old_band,
        coalesce(last.health_band, 'none') AS new_band,
        count(*) AS accounts
    FROM last
    INNER JOIN previous
        ON previous.account_id = last.account_id
    WHERE previous.health_band IS DISTINCT FROM last.health_band
    GROUP BY ALL
)

SELECT
    old_band,
    new_band,
    accounts
FROM pairs
ORDER BY
    (CASE new_band WHEN 'green' THEN 3 WHEN 'yellow' THEN 2 WHEN 'red' THEN 1 ELSE 0 END)
        - (CASE old_band WHEN 'green' THEN 3 WHEN 'yellow' THEN 2 WHEN 'red' THEN 1 ELSE 0 END),
    accounts DESC,
    old_band,
    new_band;

-- name: LowestAccounts
-- The $1 lowest-scoring accounts, one row per configured component (an
-- account without any has one row with a NULL component): the component's
-- value, its weight, its share of the weight of the components that have a
-- value (what the score averaged), and its score from 0 (at `bad`) to 1 (at
-- `good`). Every column of account_health is cast to text to be unpivoted
-- (NULL to '', which UNPIVOT keeps), so the components are found by name
-- whatever columns the model has.
WITH lowest AS (
    SELECT *
    FROM main.account_health
    WHERE health_score IS NOT NULL
    ORDER BY health_score, account_id
    LIMIT $1
),

texts AS (
    SELECT
        account_id AS ferry_report_account,
        coalesce(CAST(COLUMNS(*) AS VARCHAR), '')
    FROM lowest
),

cells AS (
    UNPIVOT texts
    ON COLUMNS(* EXCLUDE (ferry_report_account))
    INTO NAME component VALUE value
),

components AS (
    SELECT
        cells.ferry_report_account AS account_id,
        weights.component,
        weights.weight,
        TRY_CAST(cells.value AS DOUBLE) AS value,
        weights.bad,
        weights.good
    FROM cells
    INNER JOIN config.health_components AS weights
        ON weights.component = cells.component
)

SELECT
    lowest.account_id,
    coalesce(lowest.account_name, '') AS account_name,
    lowest.health_score,
    coalesce(lowest.health_band, 'none') AS health_band,
    components.component,
    components.weight,
    components.value,
    CASE WHEN components.value IS NOT NULL THEN
        components.weight / nullif(sum(components.weight) FILTER (WHERE components.value IS NOT NULL)
            OVER (PARTITION BY lowest.account_id), 0)
    END AS share,
    -- greatest and least skip NULLs: a component without a value has no score.
    CASE WHEN components.value IS NOT NULL THEN
        greatest(0.0, least(1.0, (components.value - components.bad) / nullif(components.good - components.bad, 0)))
    END AS fraction
FROM lowest
LEFT JOIN components
    ON components.account_id = lowest.account_id
ORDER BY lowest.health_score, lowest.account_id, components.weight DESC, components.component;
