-- This worker ($1) is awake again, or leaving: producers need not notify for it.
delete from herald.sleepers where worker_id = $1
