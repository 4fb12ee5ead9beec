-- The hot path, reshaped for speed. Forward-only: never edit this file once released.
--
-- Before: one wide row per delivery (its own copy of the payload, five indexes, a foreign key)
-- updated twice per attempt, neither update HOT. After:
--   * herald.deliveries: the record of each delivery, without a payload copy (it is built from
--     herald.events); written once by the fan-out and updated in place (HOT: no indexed column
--     changes) when a result is recorded. Indexes: primary key, idempotency key, the admin
--     listing, and by event (retention walks old events, then their deliveries).
--   * herald.queue: one narrow row per delivery still to be sent (pending or failed). The claim
--     moves its due_at forward by the lease (that value is the fencing token); a final result
--     deletes it, so finished deliveries leave the claim's index at once.
--   * herald.delivery_attempts: append-only, no foreign key, one index.
--   * herald.webhook_deliveries: a view with the columns the table had.
-- Upgrades a live database in place: pending and failed rows move to the queue and are sent
-- afterwards; rows written before the upgrade keep their own payload.

-- Take the locks first, in the order producers and workers take them (events, then deliveries,
-- then attempts), so that nobody holds one of these while waiting for another. Producers wait
-- here for the upgrade, then run the new fan-out: their statements are planned again once the
-- lock is theirs. Workers of the previous version fail to claim (they log it and retry) until
-- they are replaced; what they had in flight is claimed again when its lease ends.
lock table herald.events, herald.webhook_deliveries, herald.delivery_attempts
    in access exclusive mode;

-- Commit order of events, for delivery policies that need it. Events recorded from now on get
-- one at insert; older ones with deliveries still to send get one below, in creation order.
create sequence herald.events_seq as bigint;
alter table herald.events add column seq bigint;
alter table herald.events alter column seq set default nextval('herald.events_seq');

-- The delivery record: the old table, renamed and slimmed in place (no rewrite).
alter table herald.webhook_deliveries rename to deliveries;
alter table herald.deliveries drop constraint webhook_deliveries_webhook_id_fkey;
alter table herald.deliveries alter column payload drop not null;
alter table herald.deliveries alter column id drop default;
alter index herald.webhook_deliveries_pkey rename to deliveries_pkey;
alter index herald.webhook_deliveries_idempotency rename to deliveries_idempotency;
alter index herald.webhook_deliveries_by_webhook rename to deliveries_by_webhook;
drop index herald.webhook_deliveries_due;
drop index herald.webhook_deliveries_terminal;
create index deliveries_by_event on herald.deliveries (event_id);
-- Rows from before the reshape carry their own payload and may have outlived their event; this
-- index lets retention find them (it never grows: new rows have no payload).
create index deliveries_legacy on herald.deliveries (created_at) where payload is not null;
-- Room on each page for the one update most rows get, so that it stays on the page (HOT).
alter table herald.deliveries set (fillfactor = 75);
comment on column herald.deliveries.payload is
    'Only for deliveries written before the queue was reshaped; null means: built from the event.';

create table herald.queue (
    delivery_id uuid primary key,
    webhook_id  uuid not null,
    -- When it may next be claimed: the retry time, or the end of the current claim's lease.
    due_at      timestamptz not null default now()
) with (fillfactor = 50,
        autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 2000,
        autovacuum_vacuum_insert_scale_factor = 0, autovacuum_vacuum_insert_threshold = 20000,
        autovacuum_vacuum_cost_delay = 0, autovacuum_analyze_scale_factor = 0.05);
create index queue_due on herald.queue (due_at);
comment on table herald.queue is
    'Deliveries still to be sent (pending or failed), one narrow row each; read herald.webhook_deliveries.';

insert into herald.queue (delivery_id, webhook_id, due_at)
select id, webhook_id, next_attempt_at
  from herald.deliveries
 where status in ('pending', 'failed');
alter table herald.deliveries drop column next_attempt_at;

update herald.events e
   set seq = s.seq
  from (select id, nextval('herald.events_seq') as seq
          from (select distinct e2.id, e2.created_at
                  from herald.events e2
                  join herald.deliveries d on d.event_id = e2.id
                  join herald.queue q on q.delivery_id = d.id
                 order by e2.created_at, e2.id) ordered) s
 where e.id = s.id;

-- The attempt log: append-only, deleted together with its delivery.
alter table herald.delivery_attempts drop constraint delivery_attempts_delivery_id_fkey;
alter table herald.delivery_attempts drop constraint delivery_attempts_pkey;
drop index herald.delivery_attempts_created_at;
