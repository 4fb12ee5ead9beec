-- A new LISTEN connection: subscribe to wake-ups and to changes of the gated webhooks, write
-- its flag without waiting for the disk, and forget sleepers whose connection is gone.
listen herald_wake;
listen herald_gates;
set synchronous_commit = off;
delete from herald.sleepers s
 where not exists (select 1 from pg_stat_activity a where a.pid = s.backend_pid);
