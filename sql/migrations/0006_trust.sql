-- 0006_trust: what the api and trust roles of decp-control add (issue 8,
-- docs/api.md): the trust role's per-subscription clock and its inbox.
--
-- Flow: the api role stores a batch of protection events in protection_logs
-- and, in the same statement, one row per event (and per reported successful
-- execution) in trust_inbox; a statement trigger NOTIFYs channel decp_trust.
-- The trust role LISTENs, takes inbox rows (FOR UPDATE SKIP LOCKED, so two
-- trust processes never score one event twice), applies guard/'s rule table
-- (guard_trust.c, the one table) and writes subscriptions.trust_score and
-- subscription_trust.quiet_since, and deletes the rows, all in one
-- transaction. State changes (PAUSED_TOXIC, back to SYNCED) are ordinary
-- UPDATEs of subscriptions.state, checked by subscriptions_guard (0001).

-- quiet_since: the last incident or the last recovery credit (guard_trust.h),
-- so "+10 per 24 h without incident" survives restarts.
CREATE TABLE subscription_trust (
    subscription_id bigint PRIMARY KEY REFERENCES subscriptions (id),
    quiet_since     timestamptz NOT NULL,
    incidents       bigint NOT NULL DEFAULT 0 CHECK (incidents >= 0),
    executions      bigint NOT NULL DEFAULT 0 CHECK (executions >= 0),
    auto_pauses     bigint NOT NULL DEFAULT 0 CHECK (auto_pauses >= 0),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- event: a guard reason name (guard_reason_name(): TTL_EXPIRED, REPLAY, ...)
-- or EXECUTE for a successful execution.
CREATE TABLE trust_inbox (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subscription_id bigint NOT NULL REFERENCES subscriptions (id),
    event           text NOT NULL CHECK (event ~ '^[A-Z][A-Z0-9_]{1,47}$'),
    received_at     timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE FUNCTION trust_inbox_notify() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
BEGIN
    PERFORM pg_notify('decp_trust', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER trust_inbox_notify AFTER INSERT ON trust_inbox
    FOR EACH STATEMENT EXECUTE FUNCTION trust_inbox_notify();

GRANT SELECT, INSERT, DELETE ON trust_inbox TO decp_app;
-- Row locks (SELECT ... FOR UPDATE SKIP LOCKED) need UPDATE on some column; the
-- roles never update inbox rows.
GRANT UPDATE (received_at) ON trust_inbox TO decp_app;
GRANT SELECT, INSERT, UPDATE ON subscription_trust TO decp_app;

-- The api role caches subscriber-token lookups in memory; any change of a
-- token or a subscriber NOTIFYs decp_subauth and the cache is dropped, so a
-- revocation takes effect at the next request.
CREATE FUNCTION subauth_notify() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
BEGIN
    PERFORM pg_notify('decp_subauth', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER subscriber_tokens_subauth AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON subscriber_tokens FOR EACH STATEMENT EXECUTE FUNCTION subauth_notify();
CREATE TRIGGER subscribers_subauth AFTER UPDATE OR DELETE OR TRUNCATE
    ON subscribers FOR EACH STATEMENT EXECUTE FUNCTION subauth_notify();
