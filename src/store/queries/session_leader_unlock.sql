-- Resign: release the leader lock $1 held by this session.
select pg_advisory_unlock($1::int8)
