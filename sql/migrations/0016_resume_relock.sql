-- 0016_resume_relock: a subscription that returns to SYNCED while its subscriber owes money
-- goes on to LOCKED_NO_FUNDS in the same transaction (issue 20).
--
-- A fee charged while a subscription is PAUSED_TOXIC (or DEGRADED_GAP, SUSPENDED_ADMIN)
-- becomes a receivable, but wallet_sync_states() locks only SYNCED subscriptions, so the
-- trust role's recovery or an operator's resume used to bring it back to SYNCED with the
-- debt unpaid: copying again for free. Every path to SYNCED goes through this trigger (trust
-- recovery, POST /v1/subscriptions/{id}/resume, decpctl subscription resume); the way back
-- out of LOCKED_NO_FUNDS stays the wallet's (a deposit that pays the receivable).
--
-- The wallet row is read FOR SHARE, so a payment committing in the same instant is either
-- seen (no lock) or waits for this transaction and then unlocks through
-- wallet_sync_states(). Lock order: the subscription row (the UPDATE), then the wallet; a
-- fee on the same subscription takes them the other way round, and PostgreSQL's deadlock
-- detection aborts one of the two (both callers retry: the trust role on its next tick,
-- billing on the next maintenance, an operator's resume answers 409 and can be repeated).
-- A money object: made by decp_maintenance and handed to decp_money, as 0013 does (0012's
-- event trigger refuses DDL on money objects by anyone else), and guarded like the others.
GRANT TRIGGER ON subscriptions TO decp_maintenance;
GRANT CREATE ON SCHEMA public TO decp_money;
SET LOCAL ROLE decp_maintenance;
CREATE FUNCTION subscriptions_resume_relock() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    v_owed numeric;
BEGIN
    SELECT receivable_usd INTO v_owed FROM user_wallets
     WHERE subscriber_id = NEW.subscriber_id FOR SHARE;
    IF coalesce(v_owed, 0) > 0 THEN
        UPDATE subscriptions SET state = 'LOCKED_NO_FUNDS',
               state_reason = format('owes %s (receivable)', v_owed)
         WHERE id = NEW.id AND state = 'SYNCED';
    END IF;
    RETURN NULL;
END
$$;
ALTER FUNCTION subscriptions_resume_relock() OWNER TO decp_money;
REVOKE EXECUTE ON FUNCTION subscriptions_resume_relock() FROM PUBLIC;

CREATE TRIGGER subscriptions_resume_relock AFTER UPDATE OF state ON subscriptions
    FOR EACH ROW WHEN (NEW.state = 'SYNCED' AND OLD.state <> 'SYNCED'
                       AND OLD.state <> 'LOCKED_NO_FUNDS')
    EXECUTE FUNCTION subscriptions_resume_relock();
INSERT INTO money_guarded_functions VALUES ('subscriptions_resume_relock');
INSERT INTO money_guarded_triggers VALUES ('subscriptions', 'subscriptions_resume_relock');
RESET ROLE;
REVOKE CREATE ON SCHEMA public FROM decp_money;
REVOKE TRIGGER ON subscriptions FROM decp_maintenance;
