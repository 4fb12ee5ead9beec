-- One page of a webhook's deliveries, newest first, each with its attempts. The scan is
-- bounded: it walks at most $9 deliveries of the webhook down webhook_deliveries_by_webhook
-- (from the cursor ($4, $5), within [$7, $8) of created_at), and keeps the first $10 of them
-- that match the status ($3) and event type ($6) filters (null: any). The first row also
-- says how many were scanned and where the scan stopped, so a page that matched few rows
-- can still continue where it left off.
with scanned as (
    select d.id, d.created_at, d.status, d.event_type
      from herald.webhook_deliveries d
      join herald.user_webhooks w on w.id = d.webhook_id and w.user_id = $1
     where d.webhook_id = $2
       and ($4::timestamptz is null or (d.created_at, d.id) < ($4::timestamptz, $5::uuid))
       and ($7::timestamptz is null or d.created_at >= $7::timestamptz)
       and ($8::timestamptz is null or d.created_at < $8::timestamptz)
     order by d.created_at desc, d.id desc
     limit $9
), summary as (
    select count(*) as scanned,
           (array_agg(created_at order by created_at, id))[1] as last_at,
           (array_agg(id order by created_at, id))[1] as last_id
      from scanned
), page as (
    select s.id
      from scanned s
     where ($3::text is null or s.status = $3::text)
       and ($6::text is null or s.event_type = $6::text)
     order by s.created_at desc, s.id desc
     limit $10
)
select summary.scanned, summary.last_at, summary.last_id,
       d.id, d.event_id, d.event_type, d.payload, d.resource_id, d.status, d.attempt_count,
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
  from summary
  left join (page join herald.webhook_deliveries d on d.id = page.id) on true
 order by d.created_at desc, d.id desc
