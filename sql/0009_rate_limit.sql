-- Delivery policies: a rate limit per webhook, enforced across every replica together.
-- Forward-only: never edit this file once released.
--
-- A limited webhook keeps a row in herald.webhook_gates (triggers/6_policies.sql), so the main
-- claim skips it exactly as it skips a webhook whose breaker is open: unlimited webhooks pay
-- nothing. The rate-limited claim (src/store/queries/deliveries_claim_limited.sql) locks the
-- webhook's row, refills its token bucket and takes at most as many due deliveries as it holds
-- whole tokens, in one statement. The bucket lives on the row it locks: the claim's lock then
-- always reads the newest bucket, whichever replica wrote it.

alter table herald.user_webhooks
    -- Deliveries start at most at this rate (per second); null: no limit.
    add column rate_limit_per_s numeric
        constraint webhook_rate_limit_range
        check (rate_limit_per_s between 0.000001 and 1000000),
    -- How many may start at once after a quiet spell; null: one second's worth, at least 1.
    add column rate_limit_burst int
        constraint webhook_rate_limit_burst_range check (rate_limit_burst between 1 and 1000000),
    -- The token bucket: rate_tokens whole or partial tokens were left at rate_tokens_at; it
    -- refills at rate_limit_per_s up to the burst. Null: full.
    add column rate_tokens double precision,
    add column rate_tokens_at timestamptz,
    add constraint webhook_rate_limit_burst_needs_rate
        check (rate_limit_burst is null or rate_limit_per_s is not null);
