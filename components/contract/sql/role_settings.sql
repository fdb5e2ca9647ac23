select r.rolname, split_part(c, '=', 1), substr(c, strpos(c, '=') + 1)
from pg_catalog.pg_db_role_setting s
join pg_catalog.pg_roles r on r.oid = s.setrole
cross join lateral unnest(s.setconfig) as c
where s.setdatabase in (0, (select oid from pg_catalog.pg_database where datname = current_database()))
  and exists (select 1 from pg_catalog.pg_settings p where p.name = split_part(c, '=', 1) and p.context = 'user')
order by s.setdatabase
