-- The application's own update; the watch trigger emits batch.completed for each row.
update herald_demo.batches
   set status = 'completed', completed_at = now()
 where id = any($1::uuid[])
