select herald.emit($1, $2, $3, $4)
