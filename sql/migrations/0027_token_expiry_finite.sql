-- 0027_token_expiry_finite: a token's expires_at is a finite time, or NULL (never expires).
--
-- timestamptz takes 'infinity' and '-infinity', and POST /v1/subscribers/{id}/tokens
-- {"expires_at":"infinity"} answered 201; from then on every request with that token
-- answered 500 (the api's token lookup turns expires_at into microseconds: "cannot convert
-- infinity to bigint"), and the fan-out's token list, read the same way, failed to load as
-- a whole: every subscriber's new tokens refused, a restarted fan-out never ready. Now the
-- api refuses anything but an RFC 3339 time in the future (422 invalid_value), both readers
-- clamp to int64 (a time beyond it reads as the far future), and these checks refuse a
-- non-finite expiry from every writer (decpctl --expires, SQL) on both token tables.
--
-- Rows already there: 'infinity' means "never", which is NULL; '-infinity' means "expired
-- from the start" and becomes its created_at (or now, when that is not a finite past
-- time): expired as before, valid never. Both tables NOTIFY their readers (0005, 0006).
UPDATE license_tokens
   SET expires_at = CASE WHEN expires_at > now() THEN NULL
                         WHEN isfinite(created_at) AND created_at <= now() THEN created_at
                         ELSE now() END
 WHERE NOT isfinite(expires_at);
UPDATE subscriber_tokens
   SET expires_at = CASE WHEN expires_at > now() THEN NULL
                         WHEN isfinite(created_at) AND created_at <= now() THEN created_at
                         ELSE now() END
 WHERE NOT isfinite(expires_at);
ALTER TABLE license_tokens ADD CONSTRAINT license_tokens_expires_at_finite
    CHECK (expires_at IS NULL OR isfinite(expires_at));
ALTER TABLE subscriber_tokens ADD CONSTRAINT subscriber_tokens_expires_at_finite
    CHECK (expires_at IS NULL OR isfinite(expires_at));
