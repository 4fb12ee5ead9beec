-- The database's work counters (replicas bench): this database's commits and rows fetched,
-- the queue's index scans and rows updated, where the server keeps postmaster.pid, and how many
-- other client backends are connected to this database.
select d.xact_commit, d.tup_fetched, d.tup_returned,
       coalesce((select q.idx_scan from pg_stat_user_tables q
                  where q.schemaname = 'herald' and q.relname = 'queue'), 0),
       coalesce((select q.n_tup_upd from pg_stat_user_tables q
                  where q.schemaname = 'herald' and q.relname = 'queue'), 0),
       current_setting('data_directory'),
       (select count(*) from pg_stat_activity a
         where a.datname = current_database() and a.pid <> pg_backend_pid()
           and a.backend_type = 'client backend')
  from pg_stat_database d
 where d.datname = current_database()
