-- $4 webhooks for each user of $1, at $2/<user number>/<webhook number>.
insert into herald.user_webhooks (user_id, url, secret, scope, description)
select u.id, $2 || '/' || u.n || '/' || w, $3, 'own', 'herald bench'
  from unnest($1::uuid[]) with ordinality as u (id, n),
       generate_series(1, $4::int) as w
