select status from herald.deliveries where id = $1
