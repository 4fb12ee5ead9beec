-- The least an in-transaction fan-out can write for one event to one webhook, with no trigger:
-- the event as the plain table holds it, the subscribed webhook read as the fan-out reads it,
-- and one delivery row with only a primary key and the idempotency key
-- (overhead_floor_table.sql): no queue row, no other index, no sequence.
with e as (
    insert into public.herald_bench_plain (event_type, user_id, resource_id, data)
    values ($1, $2, gen_random_uuid(), $3)
    returning id, event_type, user_id, resource_id, created_at
)
insert into public.herald_bench_floor_deliveries
       (id, webhook_id, event_id, event_type, resource_id, created_at)
select herald.new_delivery_id(), w.id, e.id, e.event_type, e.resource_id, e.created_at
  from e
  join herald.user_webhooks w
    on w.user_id = e.user_id
   and w.scope = 'own'
   and w.enabled and w.disabled_at is null
   and (w.event_types is null or w.event_types ? e.event_type)
on conflict (webhook_id, event_type, resource_id) where resource_id is not null do nothing
