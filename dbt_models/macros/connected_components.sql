{#- Connected components of an undirected graph, in portable SQL (no recursion).

    `edges` is a relation with columns (node_a, node_b); include (n, n) for a node with no edge.
    Returns (node, component): the component is the smallest node of its component.

    Each round gives every node the smallest label among its neighbours' labels and its label's
    label (pointer jumping), so a chain of length d converges in about log2(d) + 2 rounds rather
    than d. The rounds work on the nodes' numbers in sort order, not their strings: at 1.3M nodes
    that took the model from 18 s to 7 s and into a 512MB DuckDB pool, where the strings ran out of
    memory. `var('identity_graph_rounds')` rounds are unrolled; the data test
    `assert_identity_graph_converged` fails if they were not enough. An engine with a better tool
    (a graph library, recursive CTEs with a fixpoint) can override this through adapter.dispatch. -#}
{% macro connected_components(edges, rounds=none) -%}
    {{ return(adapter.dispatch('connected_components', 'engagement')(edges, rounds or var('identity_graph_rounds'))) }}
{%- endmacro %}

{% macro default__connected_components(edges, rounds) -%}
    with

    -- every node numbered in sort order: the rounds join and compare integers, not identifier
    -- strings, and the smallest number is the smallest node
    numbered as (
        select node, cast(row_number() over (order by node) as integer) as id
        from (
            select node_a as node from {{ edges }}
            union
            select node_b as node from {{ edges }}
        ) as nodes
    ),

    numbered_edges as (
        select a.id as node_a, b.id as node_b
        from {{ edges }} as e
        inner join numbered as a on a.node = e.node_a
        inner join numbered as b on b.node = e.node_b
    ),

    neighbours as (
        select node_a as node, node_b as neighbour from numbered_edges
        union
        select node_b as node, node_a as neighbour from numbered_edges
        union
        select id as node, id as neighbour from numbered
    ),

    labels_0 as (
        select node, min(neighbour) as label
        from neighbours
        group by node
    ),

    {% for round in range(1, rounds + 1) %}
    labels_{{ round }} as (
        select
            n.node,
            case
                when min(via_neighbour.label) < min(via_label.label) then min(via_neighbour.label)
                else min(via_label.label)
            end as label
        from neighbours as n
        inner join labels_{{ round - 1 }} as via_neighbour on via_neighbour.node = n.neighbour
        inner join labels_{{ round - 1 }} as own on own.node = n.node
        inner join labels_{{ round - 1 }} as via_label on via_label.node = own.label
        group by n.node
    ),
    {% endfor %}

    components as (
        select node.node, component.node as component
        from labels_{{ rounds }} as l
        inner join numbered as node on node.id = l.node
        inner join numbered as component on component.id = l.label
    )

    select * from components
{%- endmacro %}

{#- Spark inlines every CTE referenced more than once, so pointer jumping (a round reads the
    previous one twice or more) makes a plan of 2^rounds or 3^rounds copies: minutes to plan at 12
    rounds. On Spark each round reads the previous one once: a node takes the smallest label of its
    neighbours (itself included). That needs as many rounds as the longest chain of links, so Spark
    runs var('identity_graph_rounds_spark') of them (a plan linear in the rounds); the same data
    test proves they sufficed, and the components are the same as the default's. -#}
{% macro spark__connected_components(edges, rounds) -%}
    {%- set rounds = var('identity_graph_rounds_spark') %}
    with

    neighbours as (
        select node_a as node, node_b as neighbour from {{ edges }}
        union
        select node_b as node, node_a as neighbour from {{ edges }}
        union
        select node_a as node, node_a as neighbour from {{ edges }}
        union
        select node_b as node, node_b as neighbour from {{ edges }}
    ),

    labels_0 as (
        select node, min(neighbour) as label
        from neighbours
        group by node
    ),

    {% for round in range(1, rounds + 1) %}
    labels_{{ round }} as (
        select n.node, min(l.label) as label
        from neighbours as n
        inner join labels_{{ round - 1 }} as l on l.node = n.neighbour
        group by n.node
    ),
    {% endfor %}

    components as (
        select node, label as component from labels_{{ rounds }}
    )

    select * from components
{%- endmacro %}
