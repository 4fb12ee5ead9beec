select rolled_at, last_attempt_id from herald.attempt_rollup_state
