-- 0024_alerts: the operator's alert feed (issue 27; docs/console.md "Alerts"). The roles
-- that find something an operator must act on (trust: auto-pause, the platform's lag, an
-- instrument the registry lacks; book: a master's positions that differ from its book, a
-- book that can no longer be kept) log an ALERT line, count it in a metric, and record
-- it here, so the console can show it, live, until an operator acknowledges it.
--
-- One open alert per (kind, master, subscription): a repeat folds into it (count,
-- last_at, the latest message) instead of adding rows, so a burst of the platform's lag
-- over a thousand signals is one line with its count. Acknowledging closes it; the next
-- occurrence opens a new one. A log, not a relation: no foreign keys, so an alert
-- outlives the subscription it names. Written by decp_app through decp_alert_raise()
-- only; acknowledged by the api (operator).
CREATE TABLE alerts (
    id               bigserial PRIMARY KEY,
    kind             text NOT NULL CHECK (kind IN ('auto_pause', 'platform_lag',
                     'unknown_instrument', 'positions_mismatch', 'book_stopped')),
    master_id        bigint CHECK (master_id > 0),
    subscription_id  bigint CHECK (subscription_id > 0),
    message          text NOT NULL CHECK (length(message) BETWEEN 1 AND 400),
    count            bigint NOT NULL DEFAULT 1 CHECK (count >= 1),
    first_at         timestamptz NOT NULL DEFAULT now(),
    last_at          timestamptz NOT NULL DEFAULT now(),
    acknowledged_at  timestamptz,
    acknowledged_by  text CHECK (length(acknowledged_by) <= 64),
    CHECK ((acknowledged_at IS NULL) = (acknowledged_by IS NULL)),
    CHECK (last_at >= first_at)
);
CREATE UNIQUE INDEX alerts_open ON alerts (kind, coalesce(master_id, 0), coalesce(subscription_id, 0))
    WHERE acknowledged_at IS NULL;
CREATE INDEX alerts_last ON alerts (last_at);

-- Record a batch of occurrences in one statement: kinds[i] happened counts[i] times for
-- master masters[i] (NULL: the subscription's master) and subscription subs[i] (or NULL),
-- the latest saying messages[i]. The caller folds repeats of one key before (a key twice
-- in one call would be an error: ON CONFLICT cannot touch a row twice).
CREATE FUNCTION decp_alert_raise(kinds text[], masters bigint[], subs bigint[],
                                 messages text[], counts bigint[]) RETURNS integer
LANGUAGE sql SET search_path = pg_catalog, public AS $$
    WITH ins AS (
        INSERT INTO alerts AS a (kind, master_id, subscription_id, message, count)
        SELECT u.k, coalesce(u.m, s.master_id), u.s, left(u.msg, 400), u.n
          FROM unnest(kinds, masters, subs, messages, counts) AS u(k, m, s, msg, n)
          LEFT JOIN subscriptions s ON s.id = u.s
        ON CONFLICT (kind, coalesce(master_id, 0), coalesce(subscription_id, 0))
            WHERE acknowledged_at IS NULL
        DO UPDATE SET count = a.count + EXCLUDED.count, last_at = now(),
                      message = EXCLUDED.message
        RETURNING 1)
    SELECT count(*)::integer FROM ins
$$;
REVOKE EXECUTE ON FUNCTION decp_alert_raise(text[], bigint[], bigint[], text[], bigint[])
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION decp_alert_raise(text[], bigint[], bigint[], text[], bigint[])
    TO decp_app;
GRANT SELECT, INSERT ON alerts TO decp_app;
GRANT UPDATE (count, last_at, message, acknowledged_at, acknowledged_by) ON alerts TO decp_app;
GRANT USAGE ON SEQUENCE alerts_id_seq TO decp_app;

-- Live in the console like the rest (0022's decp_console channel).
CREATE TRIGGER decp_console_notify AFTER INSERT OR UPDATE
    ON alerts FOR EACH STATEMENT EXECUTE FUNCTION decp_console_notify();
