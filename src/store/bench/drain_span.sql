-- The drain's span: first attempt started -> last delivery recorded, and the attempts made.
select (select min(started_at) from herald.delivery_attempts),
       (select max(delivered_at) from herald.webhook_deliveries),
       (select count(*) from herald.delivery_attempts)
