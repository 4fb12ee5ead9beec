-- The fixture's statements may take minutes.
set statement_timeout = 0
