-- Ordered delivery (`ordering = 'fifo'`): the head of a FIFO webhook, and what switching a
-- webhook to fifo (or away from it) does. A FIFO webhook keeps a row in herald.webhook_gates
-- while it is enabled (herald.webhook_policy_changed, triggers/6_policies.sql), so the main
-- claim leaves it to the FIFO claim (deliveries_claim_fifo.sql) and, while its breaker is not
-- closed or a back-off runs, to the policy claim, which then probes with the head.
--
-- A FIFO webhook's queue rows that wait their turn have due_at 'infinity': they sort after
-- every due row in queue_due, so the main claim's scan never steps over a FIFO backlog. A head
-- that was claimed, or waits for a retry, has a real due_at (its lease's end, its retry time).

-- The head of a FIFO webhook: its queue row with the lowest number, whatever its due time, and
-- when it may go (now if it waited its turn). Nothing behind it goes meanwhile.
create or replace function herald.fifo_head(p_webhook_id uuid)
returns table (delivery_id uuid, webhook_id uuid, due_at timestamptz)
language sql stable parallel safe
as $$
    select q.delivery_id, q.webhook_id,
           case when q.due_at = 'infinity' then now() else q.due_at end
      from herald.queue q
     where q.webhook_id = p_webhook_id and q.seq is not null
     order by q.seq, q.delivery_id
     limit 1
$$;

-- Switching a webhook to fifo numbers the deliveries it has waiting with their events' seq
-- (0, first, for an event without one or a delivery whose event is gone), and those due wait
-- their turn. The fan-out numbers only the deliveries of webhooks it reads as FIFO; a producer
-- whose statement read the webhook before the switch committed would queue an unnumbered
-- delivery that nothing claims. So the switch first takes a lock that waits for the
-- transactions inserting events and holds new ones until it commits (a few milliseconds);
-- after 5 s of waiting it gives up with an error rather than stall every producer behind one
-- long transaction.
create or replace function herald.fifo_number_waiting() returns trigger
language plpgsql
as $$
declare
    v_lock_timeout text := current_setting('lock_timeout');
begin
    perform set_config('lock_timeout', '5s', true);
    begin
        lock table herald.events in share row exclusive mode;
    exception when lock_not_available then
        raise exception 'herald: webhook % cannot switch to fifo ordering now: a transaction inserting events has been open for 5 s; try again', new.id
            using errcode = 'HR030';
    end;
    perform set_config('lock_timeout', v_lock_timeout, true);
    update herald.queue q
       set seq = coalesce(e.seq, 0),
           due_at = case when q.due_at <= now() then 'infinity' else q.due_at end
      from herald.deliveries d
      left join herald.events e on e.id = d.event_id
     where d.webhook_id = new.id and q.delivery_id = d.id and q.seq is null;
    return null;
end;
$$;

drop trigger if exists fifo_number on herald.user_webhooks;
create trigger fifo_number
    after update of ordering on herald.user_webhooks
    for each row
    when (old.ordering <> 'fifo' and new.ordering = 'fifo')
    execute function herald.fifo_number_waiting();

-- A FIFO webhook that is disabled or switched to 'none' leaves the gates: its deliveries that
-- waited their turn become due, for the main claim (which records them 'webhook disabled' if
-- the webhook is disabled).
create or replace function herald.fifo_release_waiting() returns trigger
language plpgsql
as $$
begin
    update herald.queue q
       set due_at = now()
     where q.webhook_id = new.id and q.seq is not null and q.due_at = 'infinity';
    return null;
end;
$$;

drop trigger if exists fifo_release on herald.user_webhooks;
create trigger fifo_release
    after update of ordering, enabled, disabled_at on herald.user_webhooks
    for each row
    when (old.ordering = 'fifo'
          and not (new.ordering = 'fifo' and new.enabled and new.disabled_at is null))
    execute function herald.fifo_release_waiting();

-- (A webhook created FIFO is gated from the start: `gated_inserted`, triggers/6_policies.sql.)
