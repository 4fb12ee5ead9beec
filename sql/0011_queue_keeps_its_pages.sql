-- The queue keeps its empty pages. Forward-only: never edit this file once released.
--
-- A vacuum that finds empty pages at the end of a table truncates them, and for that it needs an
-- ACCESS EXCLUSIVE lock. On the queue, which claims, results and every producer's fan-out
-- write all the time, it could rarely get one at once: the leader's VACUUM then retried for up
-- to 5 s (1-3 s seen under 5,000 events/s, holding up the leader's other chores), and when it
-- did get the lock, producers and claims queued behind it for tens to hundreds of ms. The queue
-- fills its pages again within seconds anyway. Setting this takes no lock that blocks writes.
alter table herald.queue set (vacuum_truncate = false);
