select herald.grant_worker($1)
