-- Webhooks by breaker state: closed, open, half_open (enabled ones), and disabled.
select s.state, count(w.id) as webhooks
  from unnest(array['closed', 'open', 'half_open', 'disabled']) as s (state)
  left join herald.user_webhooks w
    on s.state = case when not w.enabled or w.disabled_at is not null then 'disabled'
                      else w.breaker_state end
 group by s.state
