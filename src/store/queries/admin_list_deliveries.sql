-- One page of a webhook's deliveries, newest first, each with its attempts. $3 status filter
-- (null: all); ($4, $5) the keyset cursor (null: first page); $6 the page size.
select d.id, d.event_id, d.event_type, d.payload, d.resource_id, d.status, d.attempt_count,
       d.next_attempt_at, d.last_status_code, d.last_error, d.delivered_at, d.created_at,
       d.updated_at,
       coalesce((select jsonb_agg(jsonb_build_object(
                            'attempt', a.attempt,
                            'started_at', a.started_at,
                            'duration_ms', a.duration_ms,
                            'status_code', a.status_code,
                            'error', a.error,
                            'response_excerpt', a.response_excerpt)
                        order by a.attempt, a.id)
                   from herald.delivery_attempts a
                  where a.delivery_id = d.id), '[]'::jsonb) as attempts
  from herald.webhook_deliveries d
  join herald.user_webhooks w on w.id = d.webhook_id and w.user_id = $1
 where d.webhook_id = $2
   and ($3::text is null or d.status = $3::text)
   and ($4::timestamptz is null or (d.created_at, d.id) < ($4::timestamptz, $5::uuid))
 order by d.created_at desc, d.id desc
 limit $6
