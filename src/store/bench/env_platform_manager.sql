insert into herald.user_roles (user_id, role) values ($1, 'PLATFORMMANAGER')
