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

-- The configured values of the pairs' records only: joined whole, the
-- second lookup built its hash table over every value (10 s of an 11 s
-- incremental build at 1,000,000 contacts).
pair_values AS (
    SELECT * FROM int_configured_values
    WHERE NOT is_incremental()
       OR record_id IN (SELECT intercom_id FROM pairs UNION ALL SELECT sf_id FROM pairs)
),

-- Materialised before the snapshot join, so that the two value lookups
-- and the snapshot are not all held as hash tables at once (a full build
-- at 1,000,000 contacts is close to the 512 MB memory_limit).
field_values AS MATERIALIZED (
    SELECT
        pairs.entity,
        pairs.intercom_id,
        pairs.sf_object,
        pairs.sf_id,
        pairs.ic_updated_at,
        pairs.sf_updated_at,
        field_map.position,
        field_map.intercom_field,
        field_map.salesforce_field,
        field_map.owner,
        field_map.direction,
        field_map.value_type,
        field_map.has_values,
        -- Intercom's value in Salesforce's vocabulary where the field has a
        -- value map (sync.<entity>.fields[].values), so that the two
        -- compare; a value the map lacks, with no default, is unmapped.
        CASE WHEN field_map.has_values AND ferry_norm(ic_values.value, field_map.value_type) IS NOT NULL
             THEN coalesce(value_map.salesforce_value, field_map.default_value)
             ELSE ferry_norm(ic_values.value, field_map.value_type) END AS ic_value,
        CASE WHEN field_map.has_values AND ferry_norm(ic_values.value, field_map.value_type) IS NOT NULL
              AND value_map.salesforce_value IS NULL AND field_map.default_value IS NULL
             THEN ic_values.value END AS ic_unmapped,
        ferry_norm(sf_values.value, field_map.value_type) AS sf_value
    FROM pairs
    INNER JOIN config.field_map AS field_map
        ON field_map.entity = pairs.entity
    LEFT JOIN pair_values AS ic_values
        ON ic_values.record_id = pairs.intercom_id
        AND ic_values.field = field_map.intercom_field
    LEFT JOIN config.value_map AS value_map
        ON value_map.entity = field_map.entity
        AND value_map.position = field_map.position
        AND value_map.intercom_value = ic_values.value
    LEFT JOIN pair_values AS sf_values
        ON sf_values.record_id = pairs.sf_id
        AND sf_values.field = field_map.salesforce_field
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
