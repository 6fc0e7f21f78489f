-- 0028_pair_continuation: a new subscription of a (master, subscriber) pair continues the
-- pair's fee and trust, not only its HWM and profit (0011).
--
-- 0011's subscriptions_continue carried the HWM and the cumulative profit of the pair's
-- last cancelled subscription, and nothing else, so cancel + subscribe again reset what
-- the subscriber must not be able to reset: the operator's fee_pct (50.00 became the
-- default 20.00) and the trust record (a score of 55 after 9 TTL_EXPIRED became 100 with
-- the incidents gone: above the auto-pause line for ever, however toxic the flow). Now:
--
--   * fee_pct: the operator's value on the create when given; else the last one's; else
--     20.00. "Not given" needs a value no operator can send, so the column has no default
--     any more: an INSERT without fee_pct brings NULL to this BEFORE trigger, which fills
--     it in (NOT NULL is checked after BEFORE triggers). The api lets only the operator
--     set fee_pct; decpctl sends it only with --fee-pct.
--   * trust_score: the lower of the insert's (100 unless given) and the last one's, so it
--     is carried and never raised by a new subscription.
--   * subscription_trust (quiet_since, incidents, executions, auto_pauses,
--     credited_sequence): copied to the new subscription (AFTER INSERT, the row's foreign
--     key needs the new subscription), so the quiet-period credit counts from the last
--     incident, as if the subscription had never been cancelled.
--   * State: a new subscription whose score is below the auto-pause line starts
--     PAUSED_TOXIC, through the seed's own edges ([*] -> SYNCED -> PAUSED_TOXIC, "trust
--     score < 50", an UPDATE checked by subscriptions_guard), with the trust role's
--     state_reason; it comes back only as any paused one does, by the quiet-period credit
--     or an operator. A cancelled subscription was SYNCED when cancelled (the only edge to
--     CANCELLED), so "paused when cancelled" cannot happen; what can is a low score not
--     yet acted on (an operator's resume, or a deposit that unlocked it, and the cancel
--     before the trust role's next tick pauses it again): that score is carried, and it
--     pauses at once. Refusing the create (409) instead would leave the subscriber no
--     subscription whose quiet period could ever recover the score; PAUSED_TOXIC is the
--     state the seed gives that score, and the trust role resumes it by the usual rule.
--     The AFTER INSERT triggers fire in name order: subscriptions_continue_trust before
--     subscriptions_start_relock (0026), so a subscription both toxic and owing starts
--     PAUSED_TOXIC, and 0016 locks it if it still owes when it recovers.
--
-- The auto-pause line is the seed's 50, guard/guard_trust.h GUARD_TRUST_PAUSE_BELOW, which
-- the trust role applies; trust_pause_below() is its SQL copy, compared with the C one by
-- tests/sql/test_seed_tables.c.
--
-- subscriptions_continue is a money function (0012): it is replaced as decp_maintenance,
-- and the new functions are money objects too (owned by decp_money, guarded).
ALTER TABLE subscriptions ALTER COLUMN fee_pct DROP DEFAULT;
GRANT TRIGGER ON subscriptions TO decp_maintenance;
GRANT SELECT, INSERT ON subscription_trust TO decp_money;
GRANT CREATE ON SCHEMA public TO decp_money;
SET LOCAL ROLE decp_maintenance;

CREATE FUNCTION trust_pause_below() RETURNS smallint
LANGUAGE sql IMMUTABLE AS $$ SELECT 50::smallint $$;

-- The pair's last cancelled (settled) subscription, or a row of NULLs when it has none.
CREATE FUNCTION subscription_pair_last(p_master_id bigint, p_subscriber_id bigint)
RETURNS subscriptions
LANGUAGE sql STABLE SET search_path = pg_catalog, public AS $$
    SELECT * FROM subscriptions x
     WHERE x.master_id = p_master_id AND x.subscriber_id = p_subscriber_id
       AND x.state = 'CANCELLED'
     ORDER BY x.settled_at DESC NULLS LAST, x.id DESC LIMIT 1
$$;

-- BEFORE INSERT: 0011's continuation (HWM, cumulative profit) and the fee and score.
CREATE OR REPLACE FUNCTION subscriptions_continue() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    prev subscriptions;
BEGIN
    -- Wait for a cancellation of the pair's live subscription in flight (it holds that
    -- row's lock until it commits); the next statement's snapshot then sees it settled
    -- (0011; tests/money/test_money_stress.c).
    PERFORM 1 FROM subscriptions x
     WHERE x.master_id = NEW.master_id AND x.subscriber_id = NEW.subscriber_id
       AND x.state <> 'CANCELLED' FOR UPDATE;
    prev := subscription_pair_last(NEW.master_id, NEW.subscriber_id);
    IF prev.id IS NOT NULL THEN
        NEW.high_water_mark := greatest(NEW.high_water_mark, prev.high_water_mark);
        NEW.cumulative_profit := prev.cumulative_profit;
        NEW.fee_pct := coalesce(NEW.fee_pct, prev.fee_pct);
        NEW.trust_score := least(NEW.trust_score, prev.trust_score);
    END IF;
    NEW.fee_pct := coalesce(NEW.fee_pct, 20.00);
    RETURN NEW;
END
$$;

-- AFTER INSERT: the trust record, and the start state its score gives.
CREATE FUNCTION subscriptions_continue_trust() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    prev subscriptions;
BEGIN
    prev := subscription_pair_last(NEW.master_id, NEW.subscriber_id);
    IF prev.id IS NOT NULL THEN
        INSERT INTO subscription_trust (subscription_id, quiet_since, incidents, executions,
                                        auto_pauses, credited_sequence)
        SELECT NEW.id, t.quiet_since, t.incidents, t.executions, t.auto_pauses,
               t.credited_sequence
          FROM subscription_trust t WHERE t.subscription_id = prev.id;
    END IF;
    IF NEW.trust_score < trust_pause_below() THEN
        UPDATE subscriptions
           SET state = 'PAUSED_TOXIC',
               state_reason = format('trust score %s < %s', NEW.trust_score,
                                     trust_pause_below())
                              || CASE WHEN prev.id IS NOT NULL
                                      THEN format(' (carried over from subscription %s)',
                                                  prev.id) ELSE '' END
         WHERE id = NEW.id AND state = 'SYNCED';
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER subscriptions_continue_trust AFTER INSERT ON subscriptions
    FOR EACH ROW EXECUTE FUNCTION subscriptions_continue_trust();

ALTER FUNCTION trust_pause_below() OWNER TO decp_money;
ALTER FUNCTION subscription_pair_last(bigint, bigint) OWNER TO decp_money;
ALTER FUNCTION subscriptions_continue_trust() OWNER TO decp_money;
REVOKE EXECUTE ON FUNCTION subscription_pair_last(bigint, bigint),
                           subscriptions_continue_trust() FROM PUBLIC;
INSERT INTO money_guarded_functions VALUES ('trust_pause_below'), ('subscription_pair_last'),
                                           ('subscriptions_continue_trust');
INSERT INTO money_guarded_triggers VALUES ('subscriptions', 'subscriptions_continue_trust');
RESET ROLE;
REVOKE CREATE ON SCHEMA public FROM decp_money;
REVOKE TRIGGER ON subscriptions FROM decp_maintenance;
