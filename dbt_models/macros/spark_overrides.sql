{#- dbt-spark built-ins this project overrides (the root project wins dbt's dispatch). -#}

{#- dbt-spark's seed loader binds every value, and its session cursor turns a blank cell (None)
    into the string 'None': a blank cell is a NULL here, as on every other engine. -#}
{% macro spark__load_csv_rows(model, agate_table) %}
  {% set batch_size = get_batch_size() %}
  {% set column_override = model['config'].get('column_types', {}) %}
  {% set statements = [] %}
  {% for chunk in agate_table.rows | batch(batch_size) %}
      {% set bindings = [] %}
      {% for row in chunk %}
          {% for value in row if value is not none %}
              {% do bindings.append(value) %}
          {% endfor %}
      {% endfor %}
      {% set sql %}
          insert into {{ this.render() }} values
          {% for row in chunk -%}
              ({%- for col_name in agate_table.column_names -%}
                  {%- set inferred_type = adapter.convert_type(agate_table, loop.index0) -%}
                  {%- set type = column_override.get(col_name, inferred_type) -%}
                  {%- if row[loop.index0] is none -%}
                    cast(null as {{ type }})
                  {%- else -%}
                    cast({{ get_binding_char() }} as {{ type }})
                  {%- endif -%}
                  {%- if not loop.last %},{% endif %}
              {%- endfor -%})
              {%- if not loop.last %},{% endif %}
          {%- endfor %}
      {% endset %}
      {% do adapter.add_query(sql, bindings=bindings, abridge_sql_log=True) %}
      {% if loop.index0 == 0 %}
          {% do statements.append(sql) %}
      {% endif %}
  {% endfor %}
  {{ return(statements[0]) }}
{% endmacro %}

{#- dbt-spark's listagg ignores the order (collect_list's order is the shuffle's): sort
    (order key, value) pairs, then keep the values. One ascending order expression. -#}
{% macro spark__listagg(measure, delimiter_text, order_by_clause, limit_num) -%}
    {%- if order_by_clause %}
        {%- set order_expression = order_by_clause | trim %}
        {%- if order_expression[:8] | lower == 'order by' %}{% set order_expression = order_expression[8:] | trim %}{% endif %}
        {%- if ' desc' in order_expression | lower or ',' in order_expression %}
            {{ exceptions.raise_compiler_error("listagg on Spark supports one ascending order expression, got: " ~ order_by_clause) }}
        {%- endif %}
        {%- set collected = "transform(array_sort(collect_list(named_struct('k', " ~ order_expression ~ ", 'v', " ~ measure ~ "))), pair -> pair.v)" %}
    {%- else %}
        {%- set collected = 'collect_list(' ~ measure ~ ')' %}
    {%- endif %}
    {%- if limit_num %}{% set collected = 'slice(' ~ collected ~ ', 1, ' ~ limit_num ~ ')' %}{% endif %}
    array_join({{ collected }}, {{ delimiter_text }})
{%- endmacro %}

{#- dbt's generate_series cross-joins log2(n) two-row relations: on Spark each join is a
    broadcast job and the plan grows with every power of two (9 s for the 16-year time spine).
    Spark has the series built in. -#}
{% macro spark__generate_series(upper_bound) %}
    select explode(sequence(1, {{ upper_bound }})) as generated_number
{% endmacro %}
