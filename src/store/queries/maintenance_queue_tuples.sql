-- Live and dead tuples of herald.queue, as the statistics estimate them, and the row count the
-- planner works with (pg_class.reltuples; before the first VACUUM or ANALYZE, -1 from
-- PostgreSQL 14 on and 0 before).
select coalesce(s.n_live_tup, 0)::int8 as live, coalesce(s.n_dead_tup, 0)::int8 as dead,
       c.reltuples::int8 as planned
  from pg_class c
  left join pg_stat_user_tables s on s.relid = c.oid
 where c.oid = 'herald.queue'::regclass
