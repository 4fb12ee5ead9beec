-- Deliveries as SQL sees them, and what deleting a webhook does to them.
--
-- The payload of a delivery is built from its event (the same bytes every time); rows written
-- before the queue was reshaped keep their own copy in herald.deliveries.payload.
create or replace function herald.event_payload(p_event_type text, p_created_at timestamptz, p_data jsonb)
returns jsonb
language sql stable parallel safe
as $$
    select jsonb_build_object(
               'type', p_event_type,
               'timestamp', to_char(p_created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
               'data', p_data)
$$;

-- One row per (event, webhook), with the columns of the table it replaced. `next_attempt_at` is
-- when the delivery may next be claimed (its retry time, or the end of a claim's lease) while it
-- is pending or failed, and the time of its last change once delivered or exhausted. A FIFO
-- webhook's delivery waiting its turn (due_at 'infinity') shows its creation: due since then.
create or replace view herald.webhook_deliveries as
select d.id,
       d.webhook_id,
       d.event_id,
       d.event_type,
       coalesce(d.payload,
                (select herald.event_payload(e.event_type, e.created_at, e.data)
                   from herald.events e where e.id = d.event_id)) as payload,
       d.resource_id,
       d.status,
       d.attempt_count,
       case when q.due_at = 'infinity' then d.created_at
            else coalesce(q.due_at, d.updated_at) end as next_attempt_at,
       d.last_status_code,
       d.last_error,
       d.delivered_at,
       d.created_at,
       d.updated_at
  from herald.deliveries d
  left join herald.queue q on q.delivery_id = d.id;

comment on view herald.webhook_deliveries is
    'One row per (event, webhook): status pending, delivered, failed or exhausted.';

-- What the sender needs of a delivery, for the claims to join their claimed rows to: the parts
-- of its body (its own stored copy, or its event's), its webhook's URL, secrets and headers,
-- and whether it may be sent at all (webhook enabled, delivery and body still there).
create or replace view herald.outgoing as
select d.id as delivery_id, d.event_id, d.attempt_count, d.created_at,
       d.payload::text as stored_body,
       e.event_type, e.created_at as event_created_at, e.data::text as data,
       w.url, w.secret,
       case when w.previous_secret_expires_at > now() then w.previous_secret end as previous_secret,
       nullif(w.headers, '{}'::jsonb)::text as headers,
       coalesce(w.enabled and w.disabled_at is null
                and (d.payload is not null or e.id is not null), false) as active
  from herald.deliveries d
  left join herald.events e on e.id = d.event_id and d.payload is null
  left join herald.user_webhooks w on w.id = d.webhook_id;

-- Puts deliveries (back) in the queue, due now: what retrying one or recovering a webhook's
-- failed deliveries does. The queue row carries the event's seq whatever the webhook's ordering
-- (a FIFO webhook takes it in that order; for others it is unused), so a delivery re-queued
-- while its webhook switches to fifo is numbered.
create or replace function herald.requeue(p_ids uuid[])
returns table (delivery_id uuid, due_at timestamptz)
language sql volatile
as $$
    insert into herald.queue as q (delivery_id, webhook_id, due_at, seq)
    select d.id, d.webhook_id, now(), coalesce(e.seq, 0)
      from herald.deliveries d
      left join herald.events e on e.id = d.event_id
     where d.id = any (p_ids)
    on conflict (delivery_id) do update set due_at = excluded.due_at,
                                            seq = coalesce(q.seq, excluded.seq)
    returning q.delivery_id, q.due_at
$$;

-- Deleting a webhook deletes its deliveries, their queue rows and their attempts, in the same
-- transaction.
create or replace function herald.delete_webhook_deliveries() returns trigger
language plpgsql
as $$
begin
    with gone as (
        delete from herald.deliveries d
         using old_webhooks o
         where d.webhook_id = o.id
        returning d.id
    ),
    dequeued as (
        delete from herald.queue q using gone where q.delivery_id = gone.id
    )
    delete from herald.delivery_attempts a using gone where a.delivery_id = gone.id;
    return null;
end;
$$;

drop trigger if exists delete_deliveries on herald.user_webhooks;
create trigger delete_deliveries
    after delete on herald.user_webhooks
    referencing old table as old_webhooks
    for each statement
    execute function herald.delete_webhook_deliveries();
