-- Macros every model may use. Created before the models are built.

-- ferry_norm canonicalises a mapped value so that equal values compare
-- equal whichever system they came from: '' is NULL, numbers and booleans
-- are rendered one way.
CREATE OR REPLACE MACRO ferry_norm(v, t) AS
    CASE
        WHEN v IS NULL OR trim(CAST(v AS VARCHAR)) = '' THEN NULL
        WHEN t = 'number' THEN CAST(TRY_CAST(v AS DOUBLE) AS VARCHAR)
        WHEN t = 'integer' THEN CAST(TRY_CAST(TRY_CAST(v AS DOUBLE) AS BIGINT) AS VARCHAR)
        WHEN t = 'boolean' THEN CAST(TRY_CAST(lower(CAST(v AS VARCHAR)) AS BOOLEAN) AS VARCHAR)
        ELSE CAST(v AS VARCHAR)
    END;

-- ferry_email is the match form of an email address.
CREATE OR REPLACE MACRO ferry_email(e) AS nullif(lower(trim(e)), '');

-- ferry_domain reduces a URL or host to its bare domain:
-- 'https://www.Acme.com/about' -> 'acme.com'.
CREATE OR REPLACE MACRO ferry_domain(u) AS
    nullif(
        split_part(
            split_part(
                regexp_replace(regexp_replace(lower(trim(u)), '^[a-z][a-z0-9+.-]*://', ''), '^www\.', ''),
                '/', 1),
            ':', 1),
        '');

-- ferry_latest returns the latest landed version of each record of a raw
-- relation: landing files are append-only, so a record extracted by several
-- runs (or re-read inside a lookback window) appears more than once.
CREATE OR REPLACE MACRO ferry_latest(relation) AS TABLE
    SELECT *
    FROM query_table(relation)
    QUALIFY row_number() OVER (PARTITION BY id ORDER BY updated_at DESC, _extracted_at DESC) = 1;
