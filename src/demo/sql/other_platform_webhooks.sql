-- Platform webhooks that would receive a platform event: on a DATABASE_URL that is not the
-- demo's own, a demo platform event must not reach them.
select count(*)
  from herald.user_webhooks w
 where w.scope = 'platform' and w.enabled and w.disabled_at is null
   and exists (select 1 from herald.user_roles r
                where r.user_id = w.user_id and r.role = 'PLATFORMMANAGER')
