-- Which run loaded the published generation's plan. `ferry load` on its
-- own refuses a plan a load already wrote: sending it again would repeat
-- its messages and overwrite whatever changed in either system since.
ALTER TABLE ferry.model_builds ADD COLUMN loaded_by VARCHAR;
