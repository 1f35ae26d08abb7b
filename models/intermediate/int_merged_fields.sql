-- materialized: incremental
-- record_ids: intercom_id, sf_id
-- description: The field-ownership merge. Per mapped field: owner salesforce or intercom means the owner's value wins; an empty owner value is filled from the other side, unless the owner emptied it since the last sync (the pair held a value then), which clears the other side; owner newest means the side that changed since the last sync wins, and when both changed (a conflict) or there is no last sync, the more recently updated record wins. One-way fields always take their source's value.
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

final AS (
    SELECT
        decided.*,
        CASE winner WHEN 'salesforce' THEN sf_value ELSE ic_value END AS merged_value
    FROM decided
)

SELECT * FROM final
