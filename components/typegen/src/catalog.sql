-- The catalog queries of `supalite gen types typescript`, adapted from
-- supabase/postgres-meta v0.96.6 (src/lib/sql/*.sql.ts), keeping only the
-- fields its TypeScript generator reads. Each query answers one row with
-- one json column (an array of objects). $1 is the included schemas as a
-- JSON array of names. Each query follows its own `-- name:` line.

-- name: schemas
select coalesce(json_agg(t), '[]') from (
  select n.nspname as name
  from pg_namespace n, pg_roles u
  where n.nspowner = u.oid
    and n.nspname not in ('information_schema', 'pg_catalog', 'pg_toast')
    and n.nspname in (select jsonb_array_elements_text($1::jsonb))
    and not pg_catalog.starts_with(n.nspname, 'pg_')
    and (pg_has_role(n.nspowner, 'USAGE') or has_schema_privilege(n.oid, 'CREATE, USAGE'))
    and not pg_catalog.starts_with(n.nspname, 'pg_temp_')
    and not pg_catalog.starts_with(n.nspname, 'pg_toast_temp_')
) t

-- name: tables
select coalesce(json_agg(t), '[]') from (
  select c.oid::int8 as id, nc.nspname as schema, c.relname as name
  from pg_namespace nc join pg_class c on nc.oid = c.relnamespace
  where nc.nspname in (select jsonb_array_elements_text($1::jsonb))
    and c.relkind in ('r', 'p')
    and not pg_is_other_temp_schema(nc.oid)
    and (
      pg_has_role(c.relowner, 'USAGE')
      or has_table_privilege(c.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
      or has_any_column_privilege(c.oid, 'SELECT, INSERT, UPDATE, REFERENCES')
    )
) t

-- name: foreign_tables
select coalesce(json_agg(t), '[]') from (
  select c.oid::int8 as id, n.nspname as schema, c.relname as name
  from pg_class c join pg_namespace n on n.oid = c.relnamespace
  where n.nspname in (select jsonb_array_elements_text($1::jsonb))
    and c.relkind = 'f'
) t

-- name: views
select coalesce(json_agg(t), '[]') from (
  select c.oid::int8 as id, n.nspname as schema, c.relname as name,
    (pg_relation_is_updatable(c.oid, false) & 20) = 20 as is_updatable
  from pg_class c join pg_namespace n on n.oid = c.relnamespace
  where n.nspname in (select jsonb_array_elements_text($1::jsonb))
    and c.relkind = 'v'
) t

-- name: materialized_views
select coalesce(json_agg(t), '[]') from (
  select c.oid::int8 as id, n.nspname as schema, c.relname as name
  from pg_class c join pg_namespace n on n.oid = c.relnamespace
  where n.nspname in (select jsonb_array_elements_text($1::jsonb))
    and c.relkind = 'm'
) t

-- name: columns
select coalesce(json_agg(t), '[]') from (
  select
    c.oid::int8 as table_id,
    a.attname as name,
    a.atthasdef as has_default,
    coalesce(bt.typname, t.typname) as format,
    a.attidentity in ('a', 'd') as is_identity,
    case a.attidentity when 'a' then 'ALWAYS' when 'd' then 'BY DEFAULT' else null end
      as identity_generation,
    not (a.attnotnull or t.typtype = 'd' and t.typnotnull) as is_nullable,
    (
      c.relkind in ('r', 'p')
      or c.relkind in ('v', 'f') and pg_column_is_updatable(c.oid, a.attnum, false)
    ) as is_updatable
  from pg_attribute a
    join (pg_class c join pg_namespace nc on c.relnamespace = nc.oid) on a.attrelid = c.oid
    join (pg_type t join pg_namespace nt on t.typnamespace = nt.oid) on a.atttypid = t.oid
    left join (pg_type bt join pg_namespace nbt on bt.typnamespace = nbt.oid)
      on t.typtype = 'd' and t.typbasetype = bt.oid
  where nc.nspname in (select jsonb_array_elements_text($1::jsonb))
    and not pg_is_other_temp_schema(nc.oid)
    and a.attnum > 0
    and not a.attisdropped
    and c.relkind in ('r', 'v', 'm', 'f', 'p')
    and (
      pg_has_role(c.relowner, 'USAGE')
      or has_column_privilege(c.oid, a.attnum, 'SELECT, INSERT, UPDATE, REFERENCES')
    )
  order by c.oid, a.attnum
) t

-- name: table_relationships
with pks_uniques_cols as (
  select connamespace, conrelid, jsonb_agg(column_info.cols) as cols
  from pg_constraint
  join lateral (
    select array_agg(cols.attname order by cols.attnum) as cols
    from (select unnest(conkey) as col) _
    join pg_attribute cols on cols.attrelid = conrelid and cols.attnum = col
  ) column_info on true
  where contype in ('p', 'u')
    and connamespace::regnamespace::text <> 'pg_catalog'
    and connamespace::regnamespace::text not in ('information_schema', 'pg_catalog', 'pg_toast')
  group by connamespace, conrelid
)
select coalesce(json_agg(t), '[]') from (
  select
    traint.conname as foreign_key_name,
    ns1.nspname as schema,
    tab.relname as relation,
    column_info.cols as columns,
    ns2.nspname as referenced_schema,
    other.relname as referenced_relation,
    column_info.refs as referenced_columns,
    (column_info.cols in (select * from jsonb_array_elements(pks_uqs.cols))) as is_one_to_one
  from pg_constraint traint
  join lateral (
    select
      jsonb_agg(cols.attname order by ord) as cols,
      jsonb_agg(refs.attname order by ord) as refs
    from unnest(traint.conkey, traint.confkey) with ordinality as _(col, ref, ord)
    join pg_attribute cols on cols.attrelid = traint.conrelid and cols.attnum = col
    join pg_attribute refs on refs.attrelid = traint.confrelid and refs.attnum = ref
    where traint.connamespace::regnamespace::text not in ('information_schema', 'pg_catalog', 'pg_toast')
  ) as column_info on true
  join pg_namespace ns1 on ns1.oid = traint.connamespace
  join pg_class tab on tab.oid = traint.conrelid
  join pg_class other on other.oid = traint.confrelid
  join pg_namespace ns2 on ns2.oid = other.relnamespace
  left join pks_uniques_cols pks_uqs
    on pks_uqs.connamespace = traint.connamespace and pks_uqs.conrelid = traint.conrelid
  where traint.contype = 'f'
    and traint.conparentid = 0
    and ns1.nspname not in ('information_schema', 'pg_catalog', 'pg_toast')
  order by traint.oid
) t

-- name: views_key_dependencies
with recursive
pks_fks as (
  select contype::text as contype, conname, array_length(conkey, 1) as ncol,
    conrelid as resorigtbl, col as resorigcol, ord
  from pg_constraint
  left join lateral unnest(conkey) with ordinality as _(col, ord) on true
  where contype in ('p', 'f')
  union
  select concat(contype, '_ref') as contype, conname, array_length(confkey, 1) as ncol,
    confrelid, col, ord
  from pg_constraint
  left join lateral unnest(confkey) with ordinality as _(col, ord) on true
  where contype = 'f'
    and connamespace::regnamespace::text not in ('information_schema', 'pg_catalog', 'pg_toast')
),
views as (
  select c.oid as view_id, n.nspname as view_schema, c.relname as view_name,
    r.ev_action as view_definition
  from pg_class c
  join pg_namespace n on n.oid = c.relnamespace
  join pg_rewrite r on r.ev_class = c.oid
  where c.relkind in ('v', 'm')
    and n.nspname not in ('information_schema', 'pg_catalog', 'pg_toast')
),
transform_json as (
  select view_id, view_schema, view_name,
    replace(replace(replace(replace(replace(replace(replace(
    regexp_replace(
    replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(
      view_definition::text,
      '<>', '()'),
      ',', ''),
      E'\\{', ''),
      E'\\}', ''),
      ' :targetList ', ',"targetList":'),
      ' :resno ', ',"resno":'),
      ' :resorigtbl ', ',"resorigtbl":'),
      ' :resorigcol ', ',"resorigcol":'),
      '{', '{ :'),
      '((', '{(('),
      '({', '{({'),
      ' :[^}{,]+', ',"":', 'g'),
      ',"":}', '}'),
      ',"":,', ','),
      '{(', '('),
      '{,', '{'),
      '(', '['),
      ')', ']'),
      ' ', ','
    )::json as view_definition
  from views
),
target_entries as (
  select view_id, view_schema, view_name,
    json_array_elements(view_definition->0->'targetList') as entry
  from transform_json
),
results as (
  select view_id, view_schema, view_name,
    (entry->>'resno')::int as view_column,
    (entry->>'resorigtbl')::oid as resorigtbl,
    (entry->>'resorigcol')::int as resorigcol
  from target_entries
),
recursion(view_id, view_schema, view_name, view_column, resorigtbl, resorigcol, is_cycle, path) as (
  select r.*, false, array[resorigtbl]
  from results r
  where view_schema not in ('information_schema', 'pg_catalog', 'pg_toast')
  union all
  select view.view_id, view.view_schema, view.view_name, view.view_column,
    tab.resorigtbl, tab.resorigcol, tab.resorigtbl = any(path), path || tab.resorigtbl
  from recursion view
  join results tab on view.resorigtbl = tab.view_id and view.resorigcol = tab.view_column
  where not is_cycle
),
repeated_references as (
  select view_id, view_schema, view_name, resorigtbl, resorigcol,
    array_agg(attname) as view_columns
  from recursion
  join pg_attribute vcol on vcol.attrelid = view_id and vcol.attnum = view_column
  group by view_id, view_schema, view_name, resorigtbl, resorigcol
)
select coalesce(json_agg(t), '[]') from (
  select
    sch.nspname as table_schema,
    tbl.relname as table_name,
    rep.view_schema,
    rep.view_name,
    pks_fks.conname as constraint_name,
    pks_fks.contype as constraint_type,
    jsonb_agg(
      jsonb_build_object('table_column', col.attname, 'view_columns', view_columns)
      order by pks_fks.ord
    ) as column_dependencies
  from repeated_references rep
  join pks_fks using (resorigtbl, resorigcol)
  join pg_class tbl on tbl.oid = rep.resorigtbl
  join pg_attribute col on col.attrelid = tbl.oid and col.attnum = rep.resorigcol
  join pg_namespace sch on sch.oid = tbl.relnamespace
  group by sch.nspname, tbl.relname, rep.view_schema, rep.view_name,
    pks_fks.conname, pks_fks.contype, pks_fks.ncol
  having ncol = array_length(array_agg(row(col.attname, view_columns) order by pks_fks.ord), 1)
  order by rep.view_schema, rep.view_name
) t

-- name: functions
with functions as (
  select
    p.*,
    coalesce(
      p.proargmodes,
      array_fill('i'::text, array[cardinality(coalesce(p.proallargtypes, p.proargtypes))])
    ) as arg_modes,
    coalesce(
      p.proargnames,
      array_fill(''::text, array[cardinality(coalesce(p.proallargtypes, p.proargtypes))])
    ) as arg_names,
    coalesce(p.proallargtypes, p.proargtypes) as arg_types,
    array_cat(
      array_fill(false, array[pronargs - pronargdefaults]),
      array_fill(true, array[pronargdefaults])) as arg_has_defaults
  from pg_proc as p
  join pg_namespace n on p.pronamespace = n.oid
  where n.nspname in (select jsonb_array_elements_text($1::jsonb))
    and p.prokind = 'f'
)
select coalesce(json_agg(t), '[]') from (
  select
    f.oid::int8 as id,
    n.nspname as schema,
    f.proname as name,
    coalesce(f_args.args, '[]') as args,
    pg_get_function_arguments(f.oid) as argument_types,
    f.prorettype::int8 as return_type_id,
    pg_get_function_result(f.oid) as return_type,
    nullif(rt.typrelid::int8, 0) as return_type_relation_id,
    f.proretset as is_set_returning_function,
    case when f.proretset then nullif(f.prorows, 0) else null end as prorows
  from functions f
  left join pg_namespace n on f.pronamespace = n.oid
  left join pg_type rt on rt.oid = f.prorettype
  left join (
    select oid,
      jsonb_agg(jsonb_build_object(
        'mode', t2.mode, 'name', name, 'type_id', type_id, 'has_default', has_default
      )) as args
    from (
      select oid,
        unnest(arg_modes) as mode,
        unnest(arg_names) as name,
        unnest(arg_types)::int8 as type_id,
        unnest(arg_has_defaults) as has_default
      from functions
    ) as t1,
    lateral (
      select case
        when t1.mode = 'i' then 'in'
        when t1.mode = 'o' then 'out'
        when t1.mode = 'b' then 'inout'
        when t1.mode = 'v' then 'variadic'
        else 'table'
      end as mode
    ) as t2
    group by t1.oid
  ) f_args on f_args.oid = f.oid
  where pg_get_function_result(f.oid) not in ('trigger', 'event_trigger')
  order by f.oid
) t

-- name: types
select coalesce(json_agg(t), '[]') from (
  select
    t.oid::int8 as id,
    t.typname as name,
    n.nspname as schema,
    -- format_type() as postgres-meta's connection sees it (search_path
    -- "$user", public): only relation row types' names are read.
    case
      when t.typrelid = 0 then format_type(t.oid, null)
      when n.nspname in ('public', 'pg_catalog') then quote_ident(t.typname)
      else quote_ident(n.nspname) || '.' || quote_ident(t.typname)
    end as format,
    coalesce(t_enums.enums, '[]') as enums,
    coalesce(t_attributes.attributes, '[]') as attributes,
    nullif(t.typrelid::int8, 0) as type_relation_id
  from pg_type t
  left join pg_namespace n on n.oid = t.typnamespace
  left join (
    select enumtypid, jsonb_agg(enumlabel order by enumsortorder) as enums
    from pg_enum
    group by enumtypid
  ) as t_enums on t_enums.enumtypid = t.oid
  left join (
    select oid,
      jsonb_agg(
        jsonb_build_object('name', a.attname, 'type_id', a.atttypid::int8)
        order by a.attnum asc
      ) as attributes
    from pg_class c
    join pg_attribute a on a.attrelid = c.oid
    where c.relkind = 'c' and not a.attisdropped
    group by c.oid
  ) as t_attributes on t_attributes.oid = t.typrelid
  where (
    t.typrelid = 0
    or (select c.relkind in ('c', 'r', 'v', 'm', 'p') from pg_class c where c.oid = t.typrelid)
  )
  order by t.oid
) t
