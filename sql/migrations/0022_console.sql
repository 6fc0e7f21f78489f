-- 0022_console: what the web console needs (issue 27, docs/console.md): its sessions,
-- one-time sign-in links, live-update notifications and the trust score's history.
--
-- A person signs in to the console with an operator or subscriber token once; the api
-- answers with a random session cookie (HttpOnly, SameSite=Strict, Secure on HTTPS) so
-- that no script, of ours or injected, ever holds the token. Only the cookie's SHA-256 is
-- stored. A session is only as good as the token it was opened with: a subscriber
-- session ends with the token's revocation or expiry or the subscriber's disabling (the
-- lookup joins subscriber_tokens), an operator session with a change of the configured
-- operator token (compared by the api). Sessions expire (8 hours by default) and end at
-- sign-out.
CREATE TABLE console_sessions (
    id             bigserial PRIMARY KEY,
    digest         bytea NOT NULL UNIQUE CHECK (octet_length(digest) = 32),
    operator       boolean NOT NULL,
    subscriber_id  bigint REFERENCES subscribers (id),
    token_sha256   bytea NOT NULL CHECK (octet_length(token_sha256) = 32),
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL,
    ended_at       timestamptz,
    CHECK (operator = (subscriber_id IS NULL)),
    CHECK (expires_at > created_at)
);
CREATE INDEX console_sessions_expiry ON console_sessions (expires_at) WHERE ended_at IS NULL;

GRANT SELECT, INSERT, UPDATE ON console_sessions TO decp_app;
GRANT USAGE ON SEQUENCE console_sessions_id_seq TO decp_app;

-- The console's live updates (docs/console.md): a change to what its pages show is
-- NOTIFYed on channel decp_console; each api worker with open event streams LISTENs and
-- tells its streams "something changed" (at most every 250 ms), and the pages re-read
-- through the API. Statement-level: one NOTIFY per statement, folded per transaction.
CREATE FUNCTION decp_console_notify() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
BEGIN
    PERFORM pg_notify('decp_console', TG_TABLE_NAME);
    RETURN NULL;
END
$$;
REVOKE EXECUTE ON FUNCTION decp_console_notify() FROM PUBLIC;

CREATE TRIGGER decp_console_notify AFTER INSERT OR UPDATE OR DELETE
    ON subscriptions FOR EACH STATEMENT EXECUTE FUNCTION decp_console_notify();
CREATE TRIGGER decp_console_notify AFTER INSERT
    ON protection_logs FOR EACH STATEMENT EXECUTE FUNCTION decp_console_notify();
-- (Wallets are money objects, whose DDL only decp_maintenance may change (0012): a wallet
-- page is re-read with the rest on any event, and by the page's 15 s backstop.)

-- One-time sign-in links (docs/console.md): POST /v1/console/link makes a code for the
-- caller (the demo prints the operator's link); the page trades it once, within 10
-- minutes, for a session as if the caller had signed in with its token. The code travels
-- in the URL's fragment, which browsers never send to a server; only its SHA-256 is
-- stored, and using it marks it used in the same statement.
CREATE TABLE console_codes (
    id             bigserial PRIMARY KEY,
    digest         bytea NOT NULL UNIQUE CHECK (octet_length(digest) = 32),
    operator       boolean NOT NULL,
    subscriber_id  bigint REFERENCES subscribers (id),
    token_sha256   bytea NOT NULL CHECK (octet_length(token_sha256) = 32),
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL,
    used_at        timestamptz,
    CHECK (operator = (subscriber_id IS NULL))
);
GRANT SELECT, INSERT, UPDATE ON console_codes TO decp_app;
GRANT USAGE ON SEQUENCE console_codes_id_seq TO decp_app;

-- The trust score's history (the console's chart): one row per change of a subscription's
-- score, written by the trust role in the statement that changes it; kept 30 days (the
-- trust role's tick deletes older rows).
CREATE TABLE trust_history (
    subscription_id bigint NOT NULL REFERENCES subscriptions (id),
    at              timestamptz NOT NULL DEFAULT now(),
    score           smallint NOT NULL CHECK (score BETWEEN 0 AND 100)
);
CREATE INDEX trust_history_sub ON trust_history (subscription_id, at);
CREATE INDEX trust_history_at ON trust_history (at);
GRANT SELECT, INSERT, DELETE ON trust_history TO decp_app;
