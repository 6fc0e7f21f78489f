-- 0009_trust_credit: credit only what the server can check (issue 18 items 1
-- and 2, docs/guard.md "Trust score", docs/api.md "Trust").
--
-- The rule, written once (the trust role applies it, cp_trust.c):
--   an EXECUTE report scores +1 only when it names a (subscription, sequence)
--   that the fan-out delivered live to that subscription (a row of
--   trust_deliveries covers it), it was received within trust_credit_window_s
--   of that delivery, and no earlier report of the same envelope was credited
--   (subscription_trust.credited_sequence, exactly once per envelope: the
--   guard executes a subscription's sequences in increasing order).
--   Every EXECUTE report is stored in execution_reports, credited or not.
--
-- The staleness rule (item 2), also applied by the trust role: a TTL_EXPIRED
-- report whose guard attributes it to the platform is not scored when the
-- server's own records confirm it: PLATFORM_REPLAY when a replay run (live =
-- false) covers the sequence and no live run does; PLATFORM_LATE_SEND when a
-- live run covers it whose first send was more than half the guard's default
-- TTL after the signal's arrival (signal_archive_keys.arrival_time). Anything
-- else, an unconfirmed claim included, is the subscriber's and scored.
--
-- trust_deliveries is the interface between the fan-out (writer) and the trust
-- role (reader): one row per run of consecutive sequences sent on one
-- connection, live or by a replay, first_sent_at .. last_sent_at. A run, not a
-- row per envelope: a fan-out sending 10k subscribers 1000 signals/s writes a
-- row per connection per flush, not 10M rows a second. The fan-out does not
-- write it yet (docs/fanout.md "Known limits"): until it does, no EXECUTE is
-- credited and no platform claim is confirmed, which fails safe.

CREATE TABLE trust_deliveries (
    subscription_id bigint NOT NULL REFERENCES subscriptions (id),
    live            boolean NOT NULL,
    first_sequence  bigint NOT NULL CHECK (first_sequence >= 1),
    last_sequence   bigint NOT NULL,
    first_sent_at   timestamptz NOT NULL,
    last_sent_at    timestamptz NOT NULL,
    CHECK (last_sequence >= first_sequence),
    CHECK (last_sent_at >= first_sent_at),
    PRIMARY KEY (subscription_id, live, first_sequence)
);
CREATE INDEX trust_deliveries_sent ON trust_deliveries (last_sent_at);

-- The sequence a report names (EXECUTE and protection events alike); NULL when
-- the reporter named none (then an EXECUTE cannot be credited). attribution:
-- the guard's claim for a TTL_EXPIRED (proto StalenessAttribution names).
ALTER TABLE trust_inbox ADD COLUMN sequence bigint CHECK (sequence >= 0);
ALTER TABLE trust_inbox ADD COLUMN attribution text
    CHECK (attribution IN ('SUBSCRIBER', 'PLATFORM_LATE_SEND', 'PLATFORM_REPLAY'));
-- ... and stored with the event, so both kinds stay on record (whether the
-- server confirmed a claim is in the trust role's metrics and log).
ALTER TABLE protection_logs ADD COLUMN attribution text
    CHECK (attribution IN ('SUBSCRIBER', 'PLATFORM_LATE_SEND', 'PLATFORM_REPLAY'));

-- Highest sequence credited +1 (0 = none yet).
ALTER TABLE subscription_trust ADD COLUMN credited_sequence bigint NOT NULL DEFAULT 0
    CHECK (credited_sequence >= 0);

-- Every EXECUTE report, scored or not. credited says which; why_not, for the
-- others: 'no_sequence', 'not_delivered_live', 'too_late', 'duplicate'.
CREATE TABLE execution_reports (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subscription_id bigint NOT NULL REFERENCES subscriptions (id),
    sequence        bigint,
    received_at     timestamptz NOT NULL,
    credited        boolean NOT NULL,
    why_not         text CHECK ((why_not IS NULL) = credited)
);
CREATE INDEX execution_reports_subscription ON execution_reports (subscription_id, id);

GRANT SELECT, INSERT, DELETE ON trust_deliveries TO decp_app;
GRANT UPDATE (last_sequence, last_sent_at) ON trust_deliveries TO decp_app;
GRANT SELECT, INSERT ON execution_reports TO decp_app;
GRANT UPDATE (credited_sequence) ON subscription_trust TO decp_app;
