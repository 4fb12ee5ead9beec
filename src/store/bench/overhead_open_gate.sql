-- A sleeper row: every statement's fan-out then NOTIFYs (when NOTIFY is enabled).
insert into herald.sleepers (worker_id, backend_pid)
values ('00000000-0000-0000-0000-00000000b0b0', pg_backend_pid())
