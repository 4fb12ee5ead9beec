-- Live and dead tuples of herald.queue, as the statistics estimate them, and the row count the
-- planner works with (pg_class.reltuples; before the first VACUUM or ANALYZE, -1 from
-- PostgreSQL 14 on and 0 before). Also what this session's role may do about them: VACUUM is
-- for the table's or the database's owner (from PostgreSQL 17 on, also for a role granted
-- MAINTAIN on it); herald.analyze_queue for a role granted EXECUTE on it (`--grant-worker`).
select coalesce(s.n_live_tup, 0)::int8 as live, coalesce(s.n_dead_tup, 0)::int8 as dead,
       c.reltuples::int8 as planned,
       current_user::text as role,
       pg_has_role(c.relowner, 'USAGE')
         or pg_has_role(d.datdba, 'USAGE')
         or case when current_setting('server_version_num')::int >= 170000
                 then has_table_privilege(c.oid, 'MAINTAIN') else false end as may_vacuum,
       coalesce(has_function_privilege(to_regprocedure('herald.analyze_queue()'), 'EXECUTE'),
                false) as may_analyze
  from pg_class c
  left join pg_stat_user_tables s on s.relid = c.oid
  join pg_database d on d.datname = current_database()
 where c.oid = 'herald.queue'::regclass
