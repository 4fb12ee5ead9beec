select webhook_id, at, status_code, error
  from herald.webhook_last_failure
 where webhook_id = any($1::uuid[])
