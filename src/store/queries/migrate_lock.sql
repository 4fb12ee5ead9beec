-- Serialises migrations until the transaction ends ($1: the lock's key).
select pg_advisory_xact_lock($1)
