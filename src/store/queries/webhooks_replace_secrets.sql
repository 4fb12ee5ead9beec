-- Replaces the stored secrets of several webhooks at once, each only if both columns still
-- hold what was read (a rotation in between wins; the caller reads that row again). Leaves
-- updated_at alone: the secrets did not change, only how they are stored.
update herald.user_webhooks w
   set secret = n.secret, previous_secret = n.previous_secret
  from unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[])
       as n (id, old_secret, secret, old_previous_secret, previous_secret)
 where w.id = n.id
   and w.secret = n.old_secret
   and w.previous_secret is not distinct from n.old_previous_secret
returning w.id
