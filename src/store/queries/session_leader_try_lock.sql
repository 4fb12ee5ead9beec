-- Try to become the leader: the session-level advisory lock $1 (herald's leader lock).
select pg_try_advisory_lock($1::int8)
