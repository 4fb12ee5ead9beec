-- Platform-scoped webhooks may only be created by (or moved to) a PLATFORMMANAGER.
-- The check runs only when the scope or owner is set or changed, so breaker counters and
-- enable/disable updates of a webhook whose owner was demoted later are never blocked.
-- SQLSTATE HR010.
create or replace function herald.guard_webhook_scope() returns trigger
language plpgsql
as $$
begin
    if new.scope = 'platform'
       and (tg_op = 'INSERT' or new.scope is distinct from old.scope or new.user_id is distinct from old.user_id)
       and not exists (select 1 from herald.user_roles r
                        where r.user_id = new.user_id and r.role = 'PLATFORMMANAGER') then
        raise exception 'herald: user % is not a platform manager and cannot own a platform webhook', new.user_id
            using errcode = 'HR010',
                  hint = 'Grant the role first: insert into herald.user_roles (user_id, role) values (..., ''PLATFORMMANAGER'').';
    end if;
    return new;
end;
$$;

drop trigger if exists scope_guard on herald.user_webhooks;
create trigger scope_guard
    before insert or update of scope, user_id on herald.user_webhooks
    for each row
    execute function herald.guard_webhook_scope();
