-- $4 platform webhooks of the manager $1, at $2/platform/<webhook number>.
insert into herald.user_webhooks (user_id, url, secret, scope, description)
select $1, $2 || '/platform/' || w, $3, 'platform', 'herald bench'
  from generate_series(1, $4::int) as w
