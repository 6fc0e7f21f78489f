-- 0022_console_sessions: sessions of the web console (issue 27, docs/console.md).
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
