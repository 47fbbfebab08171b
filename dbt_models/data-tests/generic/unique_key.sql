{#- No two rows share the same combination of `columns`; NULLs compare equal (GROUP BY semantics),
    so a NULL in a key column cannot hide a duplicate. -#}
{% test unique_key(model, columns) %}

select {{ columns | join(', ') }}, count(*) as copies
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1

{% endtest %}
