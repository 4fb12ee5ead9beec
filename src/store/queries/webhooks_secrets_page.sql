-- The stored secrets of up to $2 webhooks after id $1 (null: from the start), by id.
select id, secret, previous_secret
  from herald.user_webhooks
 where $1::uuid is null or id > $1::uuid
 order by id
 limit $2::int8
