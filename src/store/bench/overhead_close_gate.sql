delete from herald.sleepers where worker_id = '00000000-0000-0000-0000-00000000b0b0'
