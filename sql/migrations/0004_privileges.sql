-- 0004_privileges: least privilege for decp_app, the role decp-control and the
-- other services connect as. The migration owner (whoever runs decp-migrate)
-- owns every object; decp_app owns nothing, so it can never ALTER, DROP or
-- TRUNCATE a table, nor disable a trigger.
--
-- Money tables are read-only for decp_app: wallets and the ledger change only
-- through the SECURITY DEFINER functions of 0002, which keep them consistent.

REVOKE ALL ON ALL TABLES IN SCHEMA public FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM PUBLIC;
-- Functions are executable by PUBLIC by default; none of ours should be.
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA public FROM PUBLIC;
ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;

GRANT USAGE ON SCHEMA public TO decp_app;

GRANT SELECT, INSERT ON masters TO decp_app;
GRANT UPDATE (name, hmac_secret, ed25519_public_key, disabled_at) ON masters TO decp_app;
GRANT SELECT, INSERT ON license_tokens TO decp_app;
GRANT UPDATE (label, expires_at, revoked_at) ON license_tokens TO decp_app;
GRANT SELECT, INSERT ON subscribers TO decp_app;
GRANT UPDATE (name, disabled_at) ON subscribers TO decp_app;
GRANT SELECT, INSERT ON subscriber_tokens TO decp_app;
GRANT UPDATE (label, expires_at, revoked_at) ON subscriber_tokens TO decp_app;

-- high_water_mark is neither insertable nor updatable by the application:
-- only charge_performance_fee() moves it.
GRANT SELECT ON subscriptions TO decp_app;
GRANT INSERT (master_id, subscriber_id, trust_score, fee_pct, copy_policy)
    ON subscriptions TO decp_app;
GRANT UPDATE (state, state_reason, last_sequence_id, trust_score, fee_pct, copy_policy)
    ON subscriptions TO decp_app;

GRANT SELECT ON user_wallets TO decp_app;
GRANT SELECT ON billing_ledger TO decp_app;

GRANT SELECT, INSERT ON protection_logs TO decp_app;
GRANT USAGE ON SEQUENCE protection_logs_id_seq TO decp_app;
GRANT SELECT, INSERT ON signal_archive TO decp_app;

GRANT EXECUTE ON FUNCTION
    copy_policy_is_valid(jsonb),
    subscription_transition_allowed(text, text),
    performance_fee(numeric, numeric, numeric),
    calculate_performance_fee(bigint, numeric, numeric),
    charge_performance_fee(bigint, numeric, text),
    charge_subscription_fee(bigint, numeric, text),
    wallet_deposit(bigint, numeric, text),
    wallet_withdraw(bigint, numeric, text),
    wallet_reserve(bigint, numeric, text),
    wallet_release(bigint, numeric, text),
    maintain_partitions()
TO decp_app;
-- Not granted (internal, or policy-changing): wallet_post, wallet_lock, wallet_move,
-- charge_lock, charge_not_covered,
-- wallet_sync_states, money_check_amount, maintain_partitions_at and the
-- trigger functions.
