-- One small batch of retention: terminal deliveries (and, by cascade, their attempts) last
-- updated before the cutoff. Small batches keep locks short.
delete from herald.webhook_deliveries
 where id in (select id from herald.webhook_deliveries
               where status in ('delivered', 'exhausted')
                 and updated_at < now() - make_interval(secs => $1::float8)
               limit $2::int8)
