-- Whether this server takes writes: false on a standby, on a primary demoted by a
-- switchover, and under default_transaction_read_only = on.
select not pg_is_in_recovery() and current_setting('transaction_read_only') = 'off'
