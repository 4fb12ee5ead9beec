-- On a database that outlives the demo: its webhooks point at a receiver that is gone.
update herald.user_webhooks
   set enabled = false, updated_at = now()
 where id = any($1::uuid[])
