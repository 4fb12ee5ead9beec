-- herald.emit: the one-call way for applications to record an event in their own transaction.
-- Validation (known type, user for `own` types, object payload, size) happens in the fan-out
-- trigger so that plain INSERTs into herald.events get exactly the same checks.
create or replace function herald.emit(
    p_event_type  text,
    p_user_id     uuid,
    p_resource_id uuid,
    p_data        jsonb
) returns uuid
language plpgsql
as $$
declare
    v_id uuid;
begin
    insert into herald.events (event_type, user_id, resource_id, data)
    values (p_event_type, p_user_id, p_resource_id, coalesce(p_data, '{}'::jsonb))
    returning id into v_id;
    return v_id;
end;
$$;

comment on function herald.emit(text, uuid, uuid, jsonb) is
    'Records an event; the fan-out trigger turns it into one delivery per subscribed webhook, in the same transaction.';
