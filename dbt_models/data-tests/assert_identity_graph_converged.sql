-- The identity graph's label propagation reached its fixpoint: both ends of every link carry the
-- same person. If this fails, raise var('identity_graph_rounds').
{{ config(meta={'dagster': {'ref': {'name': 'int_identity__persons'}}}) }}

select e.node_a, e.node_b
from {{ ref('int_identity__edges') }} as e
inner join {{ ref('int_identity__persons') }} as a on a.identifier = e.node_a
inner join {{ ref('int_identity__persons') }} as b on b.identifier = e.node_b
where a.person_id != b.person_id
