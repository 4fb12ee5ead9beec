-- Ordered delivery (`ordering = 'fifo'`): a FIFO webhook gets one delivery at a time,
-- cluster-wide, in the order of its events' numbers. Forward-only: never edit this file once
-- released.
--
-- herald.events.seq (the number every event gets at insert, from herald.events_seq) exists
-- since 0002. A FIFO webhook's queue rows carry their event's number, so the claim finds the
-- head (the lowest number) through a small partial index; the rows of other webhooks carry
-- null and stay out of it: their queue rows and indexes are as before. The fan-out copies the
-- number through herald.deliveries.seq (the insert's RETURNING cannot read the event), which
-- is null for other webhooks too. Switching a webhook to fifo numbers its waiting deliveries
-- (triggers/7_fifo.sql).

alter table herald.user_webhooks
    add column ordering text not null default 'none'
        constraint webhook_ordering check (ordering in ('none', 'fifo'));

alter table herald.deliveries add column seq bigint;
comment on column herald.deliveries.seq is
    'The event''s herald.events.seq for deliveries of FIFO webhooks; null for other webhooks.';

alter table herald.queue add column seq bigint;
comment on column herald.queue.seq is
    'FIFO webhooks only: the order of delivery (the event''s seq; 0 for an event without one).';
create index queue_fifo on herald.queue (webhook_id, seq, delivery_id) where seq is not null;
