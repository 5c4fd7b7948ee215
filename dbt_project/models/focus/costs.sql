{{ config(materialized='view') }}
-- The unversioned, latest FOCUS name (as finops-toolkit's Costs() over Costs_v1_2()).
select * from {{ ref('costs_v1_2') }}
