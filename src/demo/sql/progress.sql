-- Where the demo's deliveries are: one row of counts.
select count(*)                                                         as total,
       count(*) filter (where status = 'delivered')                     as delivered,
       count(*) filter (where status = 'exhausted')                     as exhausted,
       count(*) filter (where status in ('pending', 'failed')
                          and attempt_count > 0)                        as retrying,
       count(*) filter (where status = 'pending' and attempt_count = 0) as queued
  from herald.webhook_deliveries
 where webhook_id = any($1::uuid[])
