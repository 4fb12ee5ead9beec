insert into herald.replicas as r (worker_id, host, version, started_at, last_seen_at)
values ($1, $2, $3, $4, now())
on conflict (worker_id) do update
   set last_seen_at = now(), host = excluded.host, version = excluded.version
