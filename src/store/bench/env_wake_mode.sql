update herald.settings set notify_enabled = $1
