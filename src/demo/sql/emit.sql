-- One event through herald.emit, inside the caller's transaction.
select herald.emit($1::text, $2::uuid, $3::uuid, $4::jsonb)
