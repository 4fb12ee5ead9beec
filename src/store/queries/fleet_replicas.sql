-- Replicas seen in the last $1 seconds, most recent first, at most $2 (replicas_last_seen).
select worker_id, host, version, started_at, last_seen_at
  from herald.replicas
 where last_seen_at > now() - make_interval(secs => $1::float8)
 order by last_seen_at desc
 limit $2
