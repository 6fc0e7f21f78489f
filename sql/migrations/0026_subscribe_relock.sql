-- 0026_subscribe_relock: a new subscription of a subscriber that owes money starts
-- LOCKED_NO_FUNDS, by 0016's rule.
--
-- 0016 sends every return to SYNCED on to LOCKED_NO_FUNDS while the wallet has a
-- receivable, but a new subscription enters SYNCED by an INSERT ([*] --> SYNCED), which
-- no UPDATE trigger sees. A subscriber whose subscriptions were locked for an unpaid fee
-- could POST /v1/subscriptions for another master and be served in SYNCED: copying for
-- free until a deposit. The same function, subscriptions_resume_relock(), now also runs
-- AFTER INSERT (trigger subscriptions_start_relock), so the predicate (the wallet's
-- receivable_usd > 0) and the state_reason ('owes N (receivable)') are 0016's, and the
-- move is an ordinary UPDATE SYNCED -> LOCKED_NO_FUNDS checked by subscriptions_guard;
-- the wallet's next credit that leaves money available unlocks it with the others
-- (wallet_sync_states()).
--
-- Lock order. The wallet is read FOR SHARE, so a fee or a payment in flight is waited for
-- and its outcome seen (a payment's wallet_sync_states() cannot see a row inserted by a
-- transaction that has not committed, so reading the wallet without the lock could leave
-- the new subscription locked after the debt is paid, or SYNCED next to a new debt). Every
-- money function takes the wallet before any subscription row; an INSERT takes
-- subscription rows first (subscriptions_continue locks the pair's live rows, then the new
-- row is inserted), and taking the wallet only after them deadlocked against fees and
-- cancellations of the same wallet (tests/money/test_money_stress.c: 40P01). So the first
-- BEFORE INSERT trigger (subscriptions_add_wallet_lock; triggers of one event fire in name
-- order, and it sorts before subscriptions_continue) takes the wallet FOR SHARE, and
-- the AFTER INSERT check finds it held.
--
-- An INSERT's RETURNING is computed before AFTER row triggers run, so it still says
-- SYNCED: a caller that shows the new row reads it again (the api does).
--
-- Triggers calling money functions are money objects (0012): made by decp_maintenance,
-- owned by decp_money and guarded like the others.
GRANT TRIGGER ON subscriptions TO decp_maintenance;
GRANT CREATE ON SCHEMA public TO decp_money;
SET LOCAL ROLE decp_maintenance;
CREATE FUNCTION subscriptions_add_wallet_lock() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    PERFORM 1 FROM user_wallets WHERE subscriber_id = NEW.subscriber_id FOR SHARE;
    RETURN NEW;
END
$$;
ALTER FUNCTION subscriptions_add_wallet_lock() OWNER TO decp_money;
REVOKE EXECUTE ON FUNCTION subscriptions_add_wallet_lock() FROM PUBLIC;
CREATE TRIGGER subscriptions_add_wallet_lock BEFORE INSERT ON subscriptions
    FOR EACH ROW EXECUTE FUNCTION subscriptions_add_wallet_lock();
CREATE TRIGGER subscriptions_start_relock AFTER INSERT ON subscriptions
    FOR EACH ROW EXECUTE FUNCTION subscriptions_resume_relock();
INSERT INTO money_guarded_functions VALUES ('subscriptions_add_wallet_lock');
INSERT INTO money_guarded_triggers VALUES ('subscriptions', 'subscriptions_add_wallet_lock'),
                                          ('subscriptions', 'subscriptions_start_relock');
RESET ROLE;
REVOKE CREATE ON SCHEMA public FROM decp_money;
REVOKE TRIGGER ON subscriptions FROM decp_maintenance;
