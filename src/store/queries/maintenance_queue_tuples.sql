-- Live and dead tuples of herald.queue, as the statistics estimate them.
select coalesce(n_live_tup, 0)::int8 as live, coalesce(n_dead_tup, 0)::int8 as dead
  from pg_stat_user_tables
 where relid = 'herald.queue'::regclass
