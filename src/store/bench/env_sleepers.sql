select count(*) from herald.sleepers
