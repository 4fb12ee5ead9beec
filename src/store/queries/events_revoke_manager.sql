delete from herald.user_roles where user_id = $1 and role = 'PLATFORMMANAGER'
