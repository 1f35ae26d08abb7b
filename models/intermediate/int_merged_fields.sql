-- materialized: incremental
-- record_ids: intercom_id, sf_id
-- description: The field-ownership merge. Per mapped field: owner salesforce or intercom means the owner's value wins; an empty owner value is filled from the other side, unless the owner emptied it since the last sync (the pair held a value then), which clears the other side; owner newest means the side that changed since the last sync wins, and when both changed (a conflict) or there is no last sync, the more recently updated record wins. One-way fields always take their source's value. Values are compared in Salesforce's vocabulary; intercom_value is the merged value in Intercom's (a field's value map); a value either way the map lacks makes the winner 'unmapped', written to neither side.
WITH field_values AS (
    SELECT
        *,
        -- Both sides held a value after the last sync: an empty value now
        -- was emptied since, on purpose.
        coalesce(has_snapshot AND snapshot_value IS NOT NULL, false) AS emptied
    FROM int_field_values
    WHERE NOT is_incremental() OR changed(intercom_id) OR changed(sf_id)
),

decided AS (
    SELECT
        field_values.*,
        has_snapshot
            AND ic_value IS DISTINCT FROM snapshot_value
            AND sf_value IS DISTINCT FROM snapshot_value
            AND ic_value IS DISTINCT FROM sf_value AS is_conflict,
        CASE
            WHEN ic_value IS NOT DISTINCT FROM sf_value THEN 'in_sync'
            WHEN direction = 'to_intercom' THEN 'salesforce'
            WHEN direction = 'to_salesforce' THEN 'intercom'
            WHEN owner = 'salesforce' THEN CASE WHEN sf_value IS NULL AND NOT emptied THEN 'intercom' ELSE 'salesforce' END
            WHEN owner = 'intercom' THEN CASE WHEN ic_value IS NULL AND NOT emptied THEN 'salesforce' ELSE 'intercom' END
            WHEN has_snapshot AND ic_value IS DISTINCT FROM snapshot_value AND sf_value IS NOT DISTINCT FROM snapshot_value THEN 'intercom'
            WHEN has_snapshot AND sf_value IS DISTINCT FROM snapshot_value AND ic_value IS NOT DISTINCT FROM snapshot_value THEN 'salesforce'
            WHEN ic_updated_at > sf_updated_at THEN 'intercom'
            ELSE 'salesforce'
        END AS winner
    FROM field_values
),

merged AS (
    SELECT
        decided.*,
        CASE winner WHEN 'salesforce' THEN sf_value ELSE ic_value END AS merged_value
    FROM decided
),

-- A field with a value map writes Intercom the Intercom value of
-- Salesforce's. A value either way that the map lacks is written to
-- neither side: winner 'unmapped' (listed with the run's rejects by
-- mapping_rejects).
final AS (
    SELECT
        merged.* EXCLUDE (winner),
        CASE
            -- Before in_sync: an untranslatable Intercom value beside an
            -- empty Salesforce field compares equal (both NULL) but is not.
            WHEN merged.ic_unmapped IS NOT NULL AND merged.direction <> 'to_intercom' THEN 'unmapped'
            WHEN merged.winner = 'in_sync' THEN 'in_sync'
            WHEN merged.has_values AND merged.winner = 'salesforce' AND merged.merged_value IS NOT NULL
                 AND back.intercom_value IS NULL AND merged.direction <> 'to_salesforce' THEN 'unmapped'
            ELSE merged.winner
        END AS winner,
        CASE WHEN merged.has_values AND merged.merged_value IS NOT NULL THEN back.intercom_value ELSE merged.merged_value END AS intercom_value
    FROM merged
    LEFT JOIN config.value_map AS back
        ON back.entity = merged.entity
        AND back.position = merged.position
        AND back.salesforce_value = merged.merged_value
        AND merged.direction <> 'to_salesforce' -- its map may send two values to one
)

SELECT * FROM final
