-- name: InsertRun
INSERT INTO ferry.runs (run_id, command, pipeline, started_at, status)
VALUES ($1, $2, $3, $4, 'running');

-- name: NumberRun
-- Runs in the order they start (ferry.run_order, for incremental builds).
INSERT INTO ferry.run_order VALUES ($1, nextval('ferry.run_seq'));

-- name: FinishRun
UPDATE ferry.runs
SET finished_at = $2, status = $3, exit_code = $4, summary = $5, error = $6
WHERE run_id = $1;

-- name: GetWatermark
SELECT ts, last_id FROM ferry.watermarks WHERE system = $1 AND object = $2;

-- name: UpsertWatermark
INSERT INTO ferry.watermarks (system, object, ts, last_id, run_id, updated_at)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (system, object) DO UPDATE
SET ts = excluded.ts, last_id = excluded.last_id, run_id = excluded.run_id, updated_at = excluded.updated_at;

-- name: InsertExtract
INSERT INTO ferry.extracts (run_id, system, object, mode, lower_ts, upper_ts, rows, files, requests)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9);

-- name: ListWatermarks
SELECT system, object, ts, last_id, run_id, updated_at FROM ferry.watermarks ORDER BY system, object;

-- name: ListRuns
SELECT run_id, command, started_at, finished_at, status, exit_code, coalesce(summary, ''), coalesce(error, '')
FROM ferry.runs ORDER BY started_at DESC LIMIT $1;

-- name: InsertLedger
INSERT INTO ferry.ledger (run_id, target, object, record_key, op, payload_hash, status, result_id, error, written_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10);

-- name: PendingCreates
-- Creates marked pending and never settled since: the run died around the
-- call, or its answer was lost (status 'unknown' settles nothing). They are
-- looked up before anything is sent again. (Status 'unsent': marked pending
-- with its batch, never sent because the run stopped first.)
-- With each key, its earliest such mark: when the create may have been
-- made.
SELECT l.record_key, min(l.written_at)
FROM ferry.ledger AS l
WHERE l.target = $1 AND l.object = $2 AND l.op = 'create' AND l.status = 'pending'
  AND NOT EXISTS (
      SELECT 1 FROM ferry.ledger AS d
      WHERE d.target = l.target AND d.object = l.object AND d.record_key = l.record_key
        AND d.op = 'create' AND d.status IN ('done', 'rejected', 'unsent') AND d.written_at >= l.written_at
  )
GROUP BY l.record_key;

-- name: DoneCreates
-- Which of the keys $3 a create of $1 $2 is recorded done for, by any run.
SELECT DISTINCT record_key
FROM ferry.ledger
WHERE target = $1 AND object = $2 AND op = 'create' AND status = 'done'
  AND record_key IN (SELECT unnest($3::VARCHAR[]));

-- name: RunResultIDs
-- The ids a target gave this run's successful writes of the given keys.
SELECT record_key, result_id
FROM ferry.ledger
WHERE run_id = $1 AND target = $2 AND object = $3 AND status = 'done' AND result_id IS NOT NULL
  AND record_key IN (SELECT unnest($4::VARCHAR[]));

-- name: RunResults
-- The key and id of each of this run's successful writes of one operation.
SELECT record_key, result_id
FROM ferry.ledger
WHERE run_id = $1 AND target = $2 AND object = $3 AND op = $4 AND status = 'done' AND result_id IS NOT NULL;

-- name: RunResultCount
-- How many rows RunResults returns.
SELECT count(*)
FROM ferry.ledger
WHERE run_id = $1 AND target = $2 AND object = $3 AND op = $4 AND status = 'done' AND result_id IS NOT NULL;

-- name: InsertBulkJob
INSERT INTO ferry.bulk_jobs (job_id, run_id, object, operation, state, created_at)
VALUES ($1, $2, $3, $4, $5, $6);

-- name: UpdateBulkJob
UPDATE ferry.bulk_jobs SET state = $2, finished_at = $3 WHERE job_id = $1;

-- name: OpenBulkJobs
SELECT job_id, object, operation, state FROM ferry.bulk_jobs
WHERE state NOT IN ('JobComplete', 'Failed', 'Aborted', 'NotFound');

-- name: InsertReject
INSERT INTO ferry.rejects (run_id, target, object, record_key, op, error, payload)
VALUES ($1, $2, $3, $4, $5, $6, $7);

-- name: StageSnapshot
-- What both systems hold after a load, per matched pair and mapped field;
-- pairs with a rejected write keep their old snapshot and are retried, as
-- does a field whose value a value map cannot translate.
-- Only values that differ from the snapshot are staged (run_id says which
-- run last changed a value), so a run that synced nothing new leaves the
-- snapshot as it was. DeleteSnapshotStaged and InsertSnapshotStaged then
-- replace those rows, in the commit's transaction.
CREATE OR REPLACE TEMP TABLE ferry_snapshot_staged AS
SELECT m.entity, m.intercom_id, m.sf_id, m.intercom_field AS field, m.merged_value AS value, CAST($1 AS VARCHAR) AS run_id
FROM main.int_merged_fields AS m
LEFT JOIN ferry.snapshot AS s
    ON s.entity = m.entity AND s.intercom_id = m.intercom_id
    AND s.sf_id = m.sf_id AND s.field = m.intercom_field
WHERE (s.field IS NULL OR s.value IS DISTINCT FROM m.merged_value)
  AND m.winner <> 'unmapped' -- written to neither side: its snapshot stays
  AND NOT EXISTS (
    SELECT 1 FROM ferry.rejects AS r
    WHERE r.run_id = $1 AND r.record_key IN (m.intercom_id, m.sf_id)
      AND NOT starts_with(r.error, 'UNMAPPED:') -- a value map's, not the write's
);

-- name: DeleteSnapshotStaged
DELETE FROM ferry.snapshot AS s
USING ferry_snapshot_staged AS d
WHERE s.entity = d.entity AND s.intercom_id = d.intercom_id AND s.sf_id = d.sf_id AND s.field = d.field;

-- name: InsertSnapshotStaged
INSERT INTO ferry.snapshot BY NAME SELECT * FROM ferry_snapshot_staged;

-- name: DropSnapshotStaged
DROP TABLE ferry_snapshot_staged;

-- name: CreateHealthHistory
-- account_health_history: one row per account per run, append-only.
CREATE TABLE IF NOT EXISTS main.account_health_history AS
SELECT CAST(NULL AS VARCHAR) AS run_id, CAST(NULL AS TIMESTAMPTZ) AS recorded_at, *
FROM main.account_health
WHERE false;

-- name: AppendHealthHistory
INSERT INTO main.account_health_history BY NAME
SELECT $1 AS run_id, $2 AS recorded_at, *
FROM main.account_health;

-- name: LastExtract
-- When the last extraction of an object by a run that succeeded (or
-- finished with rejects) started (NULL if never); how many writes ferry has
-- sent to that object since; and how many runs since were interrupted
-- (still 'running' but not run $3, the current one): a killed run may have
-- written without its ledger rows being flushed.
WITH last AS (
    SELECT max(r.started_at) AS started_at
    FROM ferry.extracts AS e
    JOIN ferry.runs AS r ON r.run_id = e.run_id
    WHERE e.system = $1 AND e.object = $2 AND e.mode NOT IN ('targeted', 'readback')
      AND r.status IN ('succeeded', 'rejects')
)
SELECT
    last.started_at,
    (SELECT count(*) FROM ferry.ledger AS l
     WHERE l.target = $1 AND l.object = $2 AND l.written_at >= last.started_at) AS writes,
    (SELECT count(*) FROM ferry.runs AS r
     WHERE r.status = 'running' AND r.run_id <> $3 AND r.started_at >= last.started_at) AS interrupted
FROM last;

-- name: UnreadWrites
-- For a run that reads records by id (ferry serve's batches): how many of
-- ferry's writes to an object no extraction has read back yet, and how
-- many runs were interrupted since (they may have written without a
-- ledger row). An extraction from the watermark reads back the writes
-- made before the upper bound of its window (which lags behind its
-- start); a run reading back what it wrote by id ('readback') reads back
-- its own writes that succeeded with a record id, to the object itself.
-- The ledger names some writes by what they change rather than by the
-- object extracted: a contact's tags and companies are read with the
-- contact, a conversation's notes and messages with the conversation;
-- those are read back only from the watermark.
WITH last AS (
    SELECT coalesce(max(e.upper_ts), '-infinity'::TIMESTAMPTZ) AS upper_ts
    FROM ferry.extracts AS e
    JOIN ferry.runs AS r ON r.run_id = e.run_id
    WHERE e.system = $1 AND e.object = $2 AND e.mode NOT IN ('targeted', 'readback')
      AND r.status IN ('succeeded', 'rejects')
),
writes AS (
    SELECT l.run_id, l.object AS written, l.status, l.result_id,
        CASE
            WHEN l.target = 'intercom' AND l.object IN ('contact_tags', 'contact_companies') THEN 'contacts'
            WHEN l.target = 'intercom' AND l.object IN ('conversation_notes', 'messages') THEN 'conversations'
            ELSE l.object
        END AS object
    FROM ferry.ledger AS l, last
    WHERE l.target = $1 AND l.written_at >= last.upper_ts
)
SELECT
    (SELECT count(*) FROM writes AS w
     WHERE w.object = $2 AND NOT (
        w.written = $2 AND w.status = 'done' AND w.result_id IS NOT NULL AND EXISTS (
            SELECT 1 FROM ferry.extracts AS e
            WHERE e.run_id = w.run_id AND e.system = $1 AND e.object = $2 AND e.mode = 'readback'))),
    (SELECT count(*) FROM ferry.runs AS r, last
     WHERE r.status = 'running' AND r.run_id <> $3 AND r.started_at >= last.upper_ts);

-- name: LastModelBuild
-- The published generation's inputs and structure fingerprints ('' if
-- none) and the number of the run that built it (NULL if unknown).
SELECT coalesce(max(inputs), ''), coalesce(max(structure), ''), max(seq) FROM ferry.model_builds;

-- name: PlanLoaded
-- The run that built the published generation, when, and the run that
-- loaded its plan (NULL while none has).
SELECT run_id, built_at, loaded_by FROM ferry.model_builds LIMIT 1;

-- name: MarkPlanLoaded
UPDATE ferry.model_builds SET loaded_by = $1;

-- name: RecordModelBuild
-- $1 inputs fingerprint, $2 run id, $3 time, $4 structure fingerprint; the
-- caller deletes the old row in the same transaction.
INSERT INTO ferry.model_builds (inputs, run_id, built_at, structure, seq)
VALUES ($1, $2, $3, $4, (SELECT seq FROM ferry.run_order WHERE run_id = $2));

-- name: GetDeleteChecks
-- When an object's deletes were last looked for ($1 system, $2 object).
SELECT max(log_covered), max(swept_at) FROM ferry.delete_checks WHERE system = $1 AND object = $2;

-- name: UpsertDeleteChecks
-- $3 log_covered and $4 swept_at replace the stored ones when not NULL.
INSERT INTO ferry.delete_checks (system, object, log_covered, swept_at) VALUES ($1, $2, $3, $4)
ON CONFLICT (system, object) DO UPDATE SET
    log_covered = coalesce(excluded.log_covered, ferry.delete_checks.log_covered),
    swept_at = coalesce(excluded.swept_at, ferry.delete_checks.swept_at);

-- name: InsertDeletion
-- A record found gone: $1 system, $2 object, $3 id, $4 when, $5 the
-- record it was merged into (NULL if none), $6 how, $7 the run.
INSERT INTO ferry.deletions (system, object, id, deleted_at, merged_into, how, found_by) VALUES ($1, $2, $3, $4, $5, $6, $7);

-- name: PendingDeletionObjects
-- The objects with deletions no tombstone has landed for yet.
SELECT DISTINCT system, object FROM ferry.deletions WHERE landed_by IS NULL ORDER BY system, object;

-- name: MarkDeletionsLanded
UPDATE ferry.deletions SET landed_by = $1 WHERE landed_by IS NULL;

-- name: TallyCalls
-- Calls $5 that run $1 made to system $2 in stage $3, as of $4.
INSERT INTO ferry.api_calls VALUES ($1, $2, $3, $4, $5);

-- name: CallsSince
-- The calls to system $1 since $2 by runs other than $3.
SELECT coalesce(sum(calls), 0) FROM ferry.api_calls WHERE system = $1 AND made_at > $2 AND run_id <> $3;

-- name: RecentExtractCalls
-- What the extractions of the last three runs that extracted cost, in
-- calls to system $1: a run's forecast of its own.
SELECT coalesce(max(calls), 0) FROM (
    SELECT sum(calls) AS calls FROM ferry.api_calls
    WHERE system = $1 AND stage = 'extract'
    GROUP BY run_id ORDER BY max(made_at) DESC LIMIT 3
);

-- name: ClearSyncLogStaged
DELETE FROM ferry.sync_log_staged;

-- name: CommitSyncLog
-- The staged plan records of run $1 with their outcome: the last ledger
-- row this run wrote for the record and operation. The ledger names
-- records as they were written: an attachment by the Intercom contact
-- (for a contact this run created, 'ref:intercom.contacts:<key>', the id
-- its create returned), a message or a note as a create. A record the
-- ledger never saw was not written. One statement logs the records whose
-- key hashes to $2 of $3 parts, reading only the ledger rows they need:
-- a first sync at 1,000,000 contacts stages 3,000,000 records, too many
-- to join with their ledger rows at once within DuckDB's memory limit.
INSERT INTO ferry.sync_log
WITH staged AS (
    SELECT *,
        CASE WHEN target = 'salesforce' AND op = 'update' AND record_key LIKE 'lead:%' THEN 'Lead'
             WHEN target = 'salesforce' AND op = 'update' AND record_key LIKE 'ref:%:%' THEN split_part(record_key, ':', 2) END AS ref_object,
        CASE WHEN target = 'salesforce' AND op = 'update' AND record_key LIKE 'lead:%' THEN substr(record_key, 6)
             WHEN target = 'salesforce' AND op = 'update' AND record_key LIKE 'ref:%:%' THEN substr(record_key, length(split_part(record_key, ':', 2)) + 6) END AS ref_key
    FROM ferry.sync_log_staged
    WHERE run_id = $1 AND hash(record_key) % $3 = $2
),
created AS (
    SELECT record_key AS sf_key, max(result_id) AS result_id
    FROM ferry.ledger
    WHERE run_id = $1 AND target = 'intercom' AND object = 'contacts' AND op = 'create' AND status = 'done'
      AND record_key IN (SELECT substr(record_key, length('ref:intercom.contacts:') + 1) FROM staged WHERE op = 'attach' AND record_key LIKE 'ref:intercom.contacts:%')
    GROUP BY record_key
),
-- An update keyed by a record this run created ('lead:<key>',
-- 'ref:<Object>:<key>') is in the ledger under the created record's Id.
made AS (
    SELECT object, record_key, max(result_id) AS result_id
    FROM ferry.ledger
    WHERE run_id = $1 AND target = 'salesforce' AND status = 'done' AND result_id IS NOT NULL
      AND record_key IN (SELECT ref_key FROM staged WHERE ref_key IS NOT NULL)
    GROUP BY ALL
),
planned AS (
    SELECT s.* EXCLUDE (ref_object, ref_key),
        CASE WHEN s.op = 'attach' THEN 'contacts' ELSE s.object END AS ledger_object,
        CASE WHEN s.op = 'attach' AND s.record_key LIKE 'ref:intercom.contacts:%' THEN created.result_id
             WHEN s.ref_object IS NOT NULL THEN made.result_id
             ELSE s.record_key END AS ledger_key,
        CASE WHEN s.op IN ('send', 'note', 'message') THEN 'create' ELSE s.op END AS ledger_op
    FROM staged AS s
    LEFT JOIN created ON s.op = 'attach' AND s.record_key LIKE 'ref:intercom.contacts:%'
        AND created.sf_key = substr(s.record_key, length('ref:intercom.contacts:') + 1)
    LEFT JOIN made ON made.object = s.ref_object AND made.record_key = s.ref_key
),
last AS (
    SELECT target, object, record_key, op, status, result_id, error
    FROM ferry.ledger
    WHERE run_id = $1 AND record_key IN (SELECT ledger_key FROM planned WHERE ledger_key IS NOT NULL)
    QUALIFY row_number() OVER (PARTITION BY target, object, record_key, op ORDER BY written_at DESC, CASE status WHEN 'pending' THEN 1 ELSE 0 END) = 1
)
SELECT p.run_id, p.source, p.target, p.object, p.record_key, p.op,
    CASE WHEN p.deferred THEN 'deferred' ELSE CASE coalesce(l.status, 'unsent') WHEN 'pending' THEN 'unknown' WHEN 'unsent' THEN 'not_written' ELSE l.status END END,
    l.result_id,
    CASE WHEN p.deferred THEN 'deferred: the run''s Salesforce calls would have passed connections.salesforce.budget.daily_calls; planned again next run'
    ELSE coalesce(l.error, CASE WHEN l.status IS NULL THEN 'no write was made: its create failed, it was already sent, or the load stopped first' END) END
FROM planned AS p
LEFT JOIN last AS l
    ON l.target = p.target AND l.object = p.ledger_object AND l.record_key = p.ledger_key AND l.op = p.ledger_op;

-- name: SyncLogView
CREATE OR REPLACE VIEW main.sync_log AS SELECT * FROM ferry.sync_log;

-- name: OnboardingPeople
-- The Intercom contacts whose data events are read: the people (matched
-- Contacts) of the Accounts in onboarding, those with a Closed Won
-- Opportunity closed on or after $1, as the last transform saw them.
SELECT DISTINCT people.intercom_id
FROM main.stg_salesforce__opportunities AS opportunities
INNER JOIN main.stg_salesforce__contacts AS contacts
    ON contacts.account_id = opportunities.account_id AND NOT contacts.is_deleted
INNER JOIN main.int_people_identity AS people
    ON people.sf_id = contacts.sf_id
WHERE opportunities.is_won AND NOT opportunities.is_deleted
  AND opportunities.close_date >= CAST($1 AS DATE)
ORDER BY 1;

-- name: HistoryNotExported
-- The runs of account_health_history without a file of their own yet.
SELECT DISTINCT run_id FROM main.account_health_history
WHERE run_id IS NOT NULL
  AND run_id NOT IN (SELECT run_id FROM ferry.history_exports)
ORDER BY run_id;

-- name: HistoryExported
INSERT OR REPLACE INTO ferry.history_exports VALUES ($1, $2);
