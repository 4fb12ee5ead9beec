delete from herald.replicas where last_seen_at < now() - make_interval(secs => $1::float8)
