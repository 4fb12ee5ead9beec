-- Live and dead tuples of every table of the schema herald, whatever the engine's layout.
select relname::text, n_live_tup, n_dead_tup
  from pg_stat_user_tables
 where schemaname = 'herald'
 order by relname
