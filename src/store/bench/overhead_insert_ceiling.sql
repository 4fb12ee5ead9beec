-- What the fan-out writes for one event to one subscribed webhook, written by the client in one
-- statement into trigger-less copies of the tables (overhead_ceiling_tables.sql): the event,
-- the webhook read as the fan-out reads it, the delivery (idempotent) and its queue row.
with e as (
    insert into public.herald_bench_ceiling_events (event_type, user_id, resource_id, data)
    values ($1, $2, gen_random_uuid(), $3)
    returning id, event_type, user_id, resource_id, created_at
),
d as (
    insert into public.herald_bench_ceiling_deliveries
           (id, webhook_id, event_id, event_type, resource_id, created_at)
    select herald.new_delivery_id(), w.id, e.id, e.event_type, e.resource_id, e.created_at
      from e
      join herald.user_webhooks w
        on w.user_id = e.user_id
       and w.scope = 'own'
       and w.enabled and w.disabled_at is null
       and (w.event_types is null or w.event_types ? e.event_type)
    on conflict (webhook_id, event_type, resource_id) where resource_id is not null do nothing
    returning id, webhook_id
)
insert into public.herald_bench_ceiling_queue (delivery_id, webhook_id, due_at)
select id, webhook_id, now() from d
