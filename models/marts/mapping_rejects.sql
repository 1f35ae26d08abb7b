-- materialized: table
-- description: The mapped fields of matched pairs that a value map (sync.<entity>.fields[].values) cannot translate: Intercom's value, with no Salesforce value and no default, or Salesforce's, with no Intercom value, where it would be written. Neither side is written; each run lists them with its rejects, naming the value and the field, until the map covers them.
SELECT
    entity,
    position,
    intercom_id,
    sf_object,
    sf_id,
    intercom_field,
    salesforce_field,
    CASE WHEN ic_unmapped IS NOT NULL AND direction <> 'to_intercom' THEN 'intercom' ELSE 'salesforce' END AS side,
    CASE WHEN ic_unmapped IS NOT NULL AND direction <> 'to_intercom' THEN ic_unmapped ELSE merged_value END AS value
FROM int_merged_fields
WHERE winner = 'unmapped'
