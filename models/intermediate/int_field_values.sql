-- materialized: incremental
-- record_ids: intercom_id, sf_id
-- description: For every matched pair and mapped field: the value each side holds now (canonicalised; Intercom's translated into Salesforce's vocabulary by the field's value map, ic_unmapped holding a value the map lacks), when each record last changed, and the value both held after the last sync.
WITH people_pairs AS (
    SELECT
        'people' AS entity,
        identity.intercom_id,
        identity.sf_object,
        identity.sf_id,
        contacts.updated_at AS ic_updated_at,
        coalesce(sf_contacts.updated_at, sf_leads.updated_at) AS sf_updated_at
    FROM int_people_identity AS identity
    INNER JOIN stg_intercom__contacts AS contacts
        ON contacts.intercom_id = identity.intercom_id
    -- Ids are unique across objects (key prefixes), so equality on the id
    -- alone finds the record; a constant in the join condition would make
    -- DuckDB fall back to a nested-loop join.
    LEFT JOIN stg_salesforce__contacts AS sf_contacts
        ON sf_contacts.sf_id = identity.sf_id
    LEFT JOIN stg_salesforce__leads AS sf_leads
        ON sf_leads.sf_id = identity.sf_id
    -- An incremental build recomputes only the pairs with a changed record.
    WHERE NOT is_incremental() OR changed(identity.intercom_id) OR changed(identity.sf_id)
),

company_pairs AS (
    SELECT
        'companies' AS entity,
        identity.intercom_id,
        'Account' AS sf_object,
        identity.sf_id,
        companies.updated_at AS ic_updated_at,
        accounts.updated_at AS sf_updated_at
    FROM int_company_identity AS identity
    INNER JOIN stg_intercom__companies AS companies
        ON companies.intercom_id = identity.intercom_id
    INNER JOIN stg_salesforce__accounts AS accounts
        ON accounts.sf_id = identity.sf_id
    WHERE NOT is_incremental() OR changed(identity.intercom_id) OR changed(identity.sf_id)
),

pairs AS (
    SELECT * FROM people_pairs
    UNION ALL
    SELECT * FROM company_pairs
),

-- Each side's configured values of the mapped fields only, and in an
-- incremental build of the pairs' records only: int_configured_values holds
-- every field the pipeline names of every object (22,000,000 rows at
-- 1,000,000 contacts), and a lookup joined with all of it built its hash
-- table over every value.
ic_pair_values AS (
    SELECT record_id, field, value FROM int_configured_values
    WHERE source IN ('intercom__contacts', 'intercom__companies')
      AND field IN (SELECT intercom_field FROM config.field_map)
      AND (NOT is_incremental() OR record_id IN (SELECT intercom_id FROM pairs))
),

sf_pair_values AS (
    SELECT record_id, field, value FROM int_configured_values
    WHERE source IN ('salesforce__contact', 'salesforce__lead', 'salesforce__account')
      AND field IN (SELECT salesforce_field FROM config.field_map)
      AND (NOT is_incremental() OR record_id IN (SELECT sf_id FROM pairs))
),

-- One lookup at a time, each materialised before the next, so that two
-- value hash tables and the snapshot's are never held at once.
ic_field_values AS MATERIALIZED (
    SELECT
        pairs.*,
        field_map.position,
        field_map.intercom_field,
        field_map.salesforce_field,
        field_map.owner,
        field_map.direction,
        field_map.value_type,
        field_map.has_values,
        field_map.default_value,
        ic_values.value AS ic_raw
    FROM pairs
    INNER JOIN config.field_map AS field_map
        ON field_map.entity = pairs.entity
    LEFT JOIN ic_pair_values AS ic_values
        ON ic_values.record_id = pairs.intercom_id
        AND ic_values.field = field_map.intercom_field
),

field_values AS MATERIALIZED (
    SELECT
        v.entity,
        v.intercom_id,
        v.sf_object,
        v.sf_id,
        v.ic_updated_at,
        v.sf_updated_at,
        v.position,
        v.intercom_field,
        v.salesforce_field,
        v.owner,
        v.direction,
        v.value_type,
        v.has_values,
        -- Intercom's value in Salesforce's vocabulary where the field has a
        -- value map (sync.<entity>.fields[].values), so that the two
        -- compare; a value the map lacks, with no default, is unmapped.
        CASE WHEN v.has_values AND ferry_norm(v.ic_raw, v.value_type) IS NOT NULL
             THEN coalesce(value_map.salesforce_value, v.default_value)
             ELSE ferry_norm(v.ic_raw, v.value_type) END AS ic_value,
        CASE WHEN v.has_values AND ferry_norm(v.ic_raw, v.value_type) IS NOT NULL
              AND value_map.salesforce_value IS NULL AND v.default_value IS NULL
             THEN v.ic_raw END AS ic_unmapped,
        ferry_norm(sf_values.value, v.value_type) AS sf_value
    FROM ic_field_values AS v
    LEFT JOIN config.value_map AS value_map
        ON value_map.entity = v.entity
        AND value_map.position = v.position
        AND value_map.intercom_value = v.ic_raw
    LEFT JOIN sf_pair_values AS sf_values
        ON sf_values.record_id = v.sf_id
        AND sf_values.field = v.salesforce_field
),

-- Likewise the snapshot rows of the pairs only.
pair_snapshot AS (
    SELECT * FROM ferry.snapshot
    WHERE NOT is_incremental()
       OR intercom_id IN (SELECT intercom_id FROM pairs)
),

final AS (
    SELECT
        field_values.*,
        snapshot.value AS snapshot_value,
        snapshot.field IS NOT NULL AS has_snapshot
    FROM field_values
    LEFT JOIN pair_snapshot AS snapshot
        ON snapshot.entity = field_values.entity
        AND snapshot.intercom_id = field_values.intercom_id
        AND snapshot.sf_id = field_values.sf_id
        AND snapshot.field = field_values.intercom_field
)

SELECT * FROM final
