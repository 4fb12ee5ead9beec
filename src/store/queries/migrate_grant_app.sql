select herald.grant_app($1)
