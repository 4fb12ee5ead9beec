-- Who leads: the session holding Herald's leader advisory lock (key 0x6865726c_6c656164,
-- "herl" / "lead"). Its application_name is `herald-leader:<worker id>`.
create or replace view herald.leader as
select a.pid,
       a.application_name,
       a.client_addr,
       a.backend_start,
       l.granted
  from pg_locks l
  join pg_stat_activity a on a.pid = l.pid
 where l.locktype = 'advisory'
   and l.database = (select oid from pg_database where datname = current_database())
   and l.classid = x'6865726c'::int
   and l.objid = x'6c656164'::int
   and l.objsubid = 1
   and l.granted;

comment on view herald.leader is 'The Herald replica that currently holds leadership (at most one row).';

-- Analyzes the queue (never waiting for a lock), so that the planner's row count and the plans
-- cached by every session catch up with a backlog; the leader calls it when the live rows
-- outgrow that count. ANALYZE is for the table's owner only (another role gets a warning and
-- nothing is done), so it runs as the owner; it takes no argument and does nothing else.
create or replace function herald.analyze_queue() returns void
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    analyze (skip_locked) herald.queue;
end;
$$;
