select count(*) as due,
       coalesce(extract(epoch from now() - min(due_at)), 0)::float8 as oldest_due_seconds
  from herald.queue
 where due_at <= now()
