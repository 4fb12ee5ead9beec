-- The console bench's database, sized by the temporary table bench_args: users x per_user
-- webhooks; deliveries, a fifth of them on the first webhook (a long history), the rest spread
-- over the others; attempts per delivery, spread over the last day. 97% delivered, 2%
-- exhausted, 1% failed.
truncate herald.attempt_rollup, herald.attempt_rollup_fleet, herald.webhook_last_failure,
         herald.queue_snapshot, herald.replicas;
update herald.attempt_rollup_state set last_attempt_id = 0, rolled_at = null;

insert into herald.user_webhooks (id, user_id, url, secret, description)
select (lpad(to_hex(u), 8, '0') || '-0000-4000-8000-' || lpad(to_hex(w), 12, '0'))::uuid,
       (lpad(to_hex(u), 8, '0') || '-0000-4000-8000-000000000000')::uuid,
       'https://example.com/' || u || '/' || w,
       'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw/VQ/YyRcaLQ=',
       'console bench'
  from bench_args, generate_series(1, users) u, generate_series(1, per_user) w;

with hooks as (
    select array_agg(id order by id) as ids, count(*) as total from herald.user_webhooks
), g as (
    select i, now() - interval '1 day' * (i::float8 / (select deliveries from bench_args)) as at
      from generate_series(0, (select deliveries from bench_args) - 1) i
)
insert into herald.deliveries
       (id, webhook_id, event_id, event_type, payload, status, attempt_count,
        last_status_code, last_error, delivered_at, created_at, updated_at)
select gen_random_uuid(), h.ids[case when g.i % 5 = 0 then 1 else 2 + (g.i % (h.total - 1)) end],
       gen_random_uuid(), case when g.i % 10 = 0 then 'bench.platform' else 'bench.event' end,
       jsonb_build_object('type', 'bench.event', 'timestamp', g.at, 'data', jsonb_build_object('n', g.i)),
       s.status, (select attempts from bench_args),
       case when s.status = 'delivered' then 200 else 500 end,
       case when s.status = 'delivered' then null else 'HTTP 500' end,
       case when s.status = 'delivered' then g.at end,
       g.at, g.at
  from hooks h, g
  cross join lateral (select case when g.i % 100 < 97 then 'delivered'
                                  when g.i % 100 < 99 then 'exhausted'
                                  else 'failed' end as status) s;

-- Failed deliveries wait in the queue for their next attempt (a day away: nothing sends them).
insert into herald.queue (delivery_id, webhook_id, due_at)
select id, webhook_id, now() + interval '1 day' from herald.deliveries where status = 'failed';

insert into herald.delivery_attempts
       (delivery_id, webhook_id, attempt, started_at, duration_ms, status_code, error, created_at)
select d.id, d.webhook_id, a, d.created_at + make_interval(secs => a),
       2 + (hashint4(a + d.attempt_count) & 63) * 0.5,
       case when a = (select attempts from bench_args) and d.status = 'delivered' then 200 else 500 end,
       case when a = (select attempts from bench_args) and d.status = 'delivered' then null else 'HTTP 500' end,
       d.created_at + make_interval(secs => a)
  from herald.deliveries d, generate_series(1, (select attempts from bench_args)) a;
