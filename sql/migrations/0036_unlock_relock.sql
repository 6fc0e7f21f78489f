-- 0036_unlock_relock: LOCKED_NO_FUNDS -> SYNCED while the subscriber owes money goes back
-- to LOCKED_NO_FUNDS in the same statement, by 0016's rule.
--
-- 0016's trigger subscriptions_resume_relock leaves out OLD.state = 'LOCKED_NO_FUNDS'
-- (its comment: "the way back out of LOCKED_NO_FUNDS stays the wallet's"), but nothing
-- kept that way the wallet's only: the edge LOCKED_NO_FUNDS -> SYNCED is in the seed's
-- table and decp_app may UPDATE state, so `decpctl subscription resume --id N` (an UPDATE
-- SET state = 'SYNCED' from any state) on a subscription locked for an unpaid fee left it
-- SYNCED with the receivable unpaid: copying again for free, what 0016 and 0026 closed
-- for the other ways into SYNCED. The same function, subscriptions_resume_relock(), now
-- also runs for that edge (trigger subscriptions_unlock_relock), so the predicate (the
-- wallet's receivable_usd > 0) and the state_reason ('owes N (receivable)') are 0016's.
--
-- The money functions' own unlock (wallet_sync_states(), after a credit) is unchanged: it
-- moves LOCKED_NO_FUNDS -> SYNCED only when money is available, which is after the credit
-- paid every receivable (wallet_settle_credit() pays first), so the trigger finds nothing
-- owed. The wallet row is already locked FOR UPDATE by that transaction; FOR SHARE on it
-- again is free. An UPDATE by the application takes the wallet FOR SHARE after the
-- subscription row, as 0016's trigger does for the other edges (same lock order, same
-- retry story).
--
-- A trigger calling a money function is a money object (0012): made by decp_maintenance
-- and guarded like the others.
GRANT TRIGGER ON subscriptions TO decp_maintenance;
SET LOCAL ROLE decp_maintenance;
CREATE TRIGGER subscriptions_unlock_relock AFTER UPDATE OF state ON subscriptions
    FOR EACH ROW WHEN (NEW.state = 'SYNCED' AND OLD.state = 'LOCKED_NO_FUNDS')
    EXECUTE FUNCTION subscriptions_resume_relock();
INSERT INTO money_guarded_triggers VALUES ('subscriptions', 'subscriptions_unlock_relock');
RESET ROLE;
REVOKE TRIGGER ON subscriptions FROM decp_maintenance;
