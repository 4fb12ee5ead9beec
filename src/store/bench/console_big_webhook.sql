-- The webhook with the long history (the fixture's first) and its owner.
select user_id, id from herald.user_webhooks order by id limit 1
