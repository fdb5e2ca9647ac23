with
tbls as (
  select n.nspname as schema, c.relname as name, c.relkind::text as kind,
    coalesce((select json_agg(json_build_object(
        'name', a.attname,
        'type', format_type(a.atttypid, a.atttypmod),
        -- a domain's base type (through domains over domains)
        'base', (with recursive d(oid, base) as (
            select a.atttypid, ty.typbasetype from pg_type ty where ty.oid = a.atttypid and ty.typtype = 'd'
            union all
            select d.base, ty.typbasetype from d join pg_type ty on ty.oid = d.base and ty.typtype = 'd')
          select format_type(d.base, null) from d
          where not exists (select 1 from pg_type ty where ty.oid = d.base and ty.typtype = 'd')),
        'nullable', not a.attnotnull,
        'has_default', a.atthasdef or a.attidentity <> '' or a.attgenerated <> '')
      order by a.attnum)
      from pg_attribute a where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped), '[]') as columns,
    coalesce((select json_agg(a.attname order by k.ord)
      from pg_index i, unnest(i.indkey::int2[]) with ordinality k(attnum, ord)
      join pg_attribute a on a.attrelid = c.oid and a.attnum = k.attnum
      where i.indrelid = c.oid and i.indisprimary), '[]') as pk,
    coalesce((select json_agg(u.cols) from (
      select json_agg(a.attname order by k.ord) as cols
      from pg_index i, unnest(i.indkey::int2[]) with ordinality k(attnum, ord)
      join pg_attribute a on a.attrelid = c.oid and a.attnum = k.attnum
      where i.indrelid = c.oid and i.indisunique and i.indpred is null
      group by i.indexrelid) u), '[]') as uniques
  from pg_class c join pg_namespace n on n.oid = c.relnamespace
  where c.relkind in ('r', 'v', 'm', 'f', 'p') and n.nspname = any($1::text[]) and not c.relispartition
),
keys as (
  -- primary and foreign keys in every non-system schema: views in an
  -- exposed schema may select from tables anywhere
  select con.conname as name, con.contype::text as kind, con.conrelid::int8 as rel,
    n1.nspname as schema, c1.relname as "table",
    (select json_agg(json_build_array(a.attnum, a.attname) order by k.ord) from unnest(con.conkey) with ordinality k(attnum, ord)
      join pg_attribute a on a.attrelid = con.conrelid and a.attnum = k.attnum) as columns,
    nullif(con.confrelid, 0)::int8 as frel, n2.nspname as fschema, c2.relname as ftable,
    (select json_agg(json_build_array(a.attnum, a.attname) order by k.ord) from unnest(con.confkey) with ordinality k(attnum, ord)
      join pg_attribute a on a.attrelid = con.confrelid and a.attnum = k.attnum) as fcolumns,
    con.contype = 'f' and exists (
      select 1 from pg_constraint u where u.conrelid = con.conrelid and u.contype in ('p', 'u')
        and (select array_agg(x order by x) from unnest(u.conkey) x) = (select array_agg(x order by x) from unnest(con.conkey) x)
    ) as one_to_one
  from pg_constraint con
  join pg_class c1 on c1.oid = con.conrelid join pg_namespace n1 on n1.oid = c1.relnamespace
  left join pg_class c2 on c2.oid = con.confrelid left join pg_namespace n2 on n2.oid = c2.relnamespace
  where con.contype in ('p', 'f') and con.conparentid = 0
    and n1.nspname not in ('pg_catalog', 'information_schema')
),
views as (
  -- each view's query tree, read in Rust for its columns' lineage
  select c.oid::int8 as oid, n.nspname as schema, c.relname as name, r.ev_action::text as definition,
    coalesce((select json_agg(json_build_array(a.attnum, a.attname)) from pg_attribute a
      where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped), '[]') as columns
  from pg_class c join pg_namespace n on n.oid = c.relnamespace
  join pg_rewrite r on r.ev_class = c.oid and r.ev_type = '1'
  where c.relkind in ('v', 'm') and n.nspname not in ('pg_catalog', 'information_schema')
),
fns as (
  select n.nspname as schema, p.proname as name,
    coalesce((select json_agg(json_build_object('name', coalesce(x.name, ''), 'type', format_type(x.type, null), 'mode', x.mode) order by x.ord)
      from unnest(
        coalesce(p.proallargtypes, p.proargtypes::oid[]),
        coalesce(p.proargmodes::text[], array_fill('i'::text, array[cardinality(coalesce(p.proallargtypes, p.proargtypes::oid[]))])),
        coalesce(p.proargnames, array_fill(''::text, array[cardinality(coalesce(p.proallargtypes, p.proargtypes::oid[]))]))
      ) with ordinality x(type, mode, name, ord)), '[]') as args,
    p.pronargdefaults as defaults,
    format_type(p.prorettype, null) as returns,
    p.proretset as returns_set,
    -- a domain over a composite type returns rows like the composite
    t.typtype::text as return_kind,
    case when t.typrelid <> 0 then (select json_build_object('schema', rn.nspname, 'name', rc.relname)
      from pg_class rc join pg_namespace rn on rn.oid = rc.relnamespace where rc.oid = t.typrelid) end as return_table,
    p.provolatile::text as volatility,
    -- a function of one table row returning rows of a table: a computed relationship
    case when p.pronargs = 1 then (
      select json_build_object('schema', an.nspname, 'name', ac.relname,
        'fschema', rn.nspname, 'fname', rc.relname, 'single', not p.proretset or p.prorows = 1)
      from pg_type at join pg_class ac on ac.oid = at.typrelid join pg_namespace an on an.oid = ac.relnamespace,
        pg_class rc join pg_namespace rn on rn.oid = rc.relnamespace
      where at.oid = p.proargtypes[0] and ac.relkind in ('v', 'r', 'm', 'f', 'p')
        and rc.oid = t.typrelid and rc.relkind in ('v', 'r', 'm', 'f', 'p')
    ) end as computed
  from pg_proc p join pg_namespace n on n.oid = p.pronamespace
  join pg_type rt on rt.oid = p.prorettype
  join pg_type t on t.oid = case when rt.typtype = 'd' and exists (
      select 1 from pg_type b where b.oid = rt.typbasetype and b.typtype = 'c') then rt.typbasetype else rt.oid end
  where n.nspname = any($1::text[]) and p.prokind = 'f'
    and p.prorettype not in ('trigger'::regtype, 'event_trigger'::regtype, 'internal'::regtype)
),
reps as (
  -- data representations: implicit casts between a domain and json or text
  select format_type(c.castsource, null) as source, format_type(c.casttarget, null) as target,
    fn.nspname as schema, f.proname as function
  from pg_cast c
  join pg_type src on src.oid = c.castsource join pg_type dst on dst.oid = c.casttarget
  join pg_proc f on f.oid = c.castfunc join pg_namespace fn on fn.oid = f.pronamespace
  where c.castcontext = 'i' and c.castmethod = 'f'
    and ((src.typtype = 'd' and c.casttarget in ('json'::regtype, 'text'::regtype))
      or (dst.typtype = 'd' and c.castsource in ('json'::regtype, 'text'::regtype)))
),
media_types as (
  select t.oid, lower(t.typname) as name, format_type(t.typbasetype, null) as base
  from pg_type t
  where t.typbasetype <> 0 and (t.typname ~* '^[A-Za-z0-9.-]+/[A-Za-z0-9.+-]+$' or t.typname = '*/*')
),
handlers as (
  -- aggregates of a table's rows (or anyelement) into a media type domain
  select fn.nspname as schema, f.proname as name,
    coalesce(tn.nspname, '') as target_schema, coalesce(tc.relname, 'anyelement') as target_name,
    m.name as media_type, m.base, false as raw
  from media_types m
  join pg_proc f on f.prorettype = m.oid and f.prokind = 'a' and f.pronargs = 1
  join pg_namespace fn on fn.oid = f.pronamespace
  left join pg_class tc on tc.reltype = f.proargtypes[0] and tc.relkind in ('v', 'r', 'm', 'f', 'p')
  left join pg_namespace tn on tn.oid = tc.relnamespace
  where fn.nspname = any($1::text[])
    and (f.proargtypes[0] = 'anyelement'::regtype or tc.oid is not null)
  union all
  -- functions returning a media type domain answer with their value as is
  select '', '', fn.nspname, f.proname, m.name, m.base, true
  from media_types m
  join pg_proc f on f.prorettype = m.oid and f.prokind = 'f' and not f.proretset
  join pg_namespace fn on fn.oid = f.pronamespace
  where fn.nspname = any($1::text[])
)
select json_build_object(
  'tables', coalesce((select json_agg(tbls) from tbls), '[]'),
  'handlers', coalesce((select json_agg(handlers) from handlers), '[]'),
  'reps', coalesce((select json_agg(reps) from reps), '[]'),
  'keys', coalesce((select json_agg(keys) from keys), '[]'),
  'functions', coalesce((select json_agg(fns) from fns), '[]'),
  'views', coalesce((select json_agg(views) from views), '[]')
)::text
