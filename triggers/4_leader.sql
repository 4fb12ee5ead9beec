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
