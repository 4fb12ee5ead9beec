-- This worker ($1) sleeps on this LISTEN connection: producers notify while the row exists.
insert into herald.sleepers (worker_id, backend_pid) values ($1, pg_backend_pid())
on conflict (worker_id) do update set backend_pid = excluded.backend_pid, since = now()
