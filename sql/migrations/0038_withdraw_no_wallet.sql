-- 0038_withdraw_no_wallet: a subscriber without a wallet has a wallet of zeros, for the
-- functions that take money out as for those that read it.
--
-- A wallet row is made by the first deposit (0002). Before it, GET .../wallet and the
-- ledger read 0.00, but wallet_withdraw() raised DP021 "no wallet" (the API's 404
-- not_found): the REST route papered over it with a pre-check of its own (409
-- insufficient_funds) that no other caller had. Now the functions say it themselves, with
-- the error a wallet of 0.00 gives:
--   wallet_withdraw, wallet_reserve  DP030 (available balance 0.00)
--   wallet_release                   DP031 (reserved 0.00)
-- An unknown subscriber is still DP021 (wallet_lock's), and an invalid amount still DP020
-- first. Nothing is written either way (no wallet is created for a refusal).
--
-- wallet_absent_refuse() runs in the wrappers, which are SECURITY DEFINER as decp_money;
-- it is a money object (owned by decp_money, guarded), granted to no one.
GRANT CREATE ON SCHEMA public TO decp_money;
SET LOCAL ROLE decp_maintenance;

CREATE FUNCTION wallet_absent_refuse(p_subscriber_id bigint, p_type text, p_amount numeric)
RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, public AS $$
BEGIN
    PERFORM money_check_amount(p_amount);
    IF EXISTS (SELECT 1 FROM user_wallets w WHERE w.subscriber_id = p_subscriber_id)
       OR NOT EXISTS (SELECT 1 FROM subscribers s WHERE s.id = p_subscriber_id) THEN
        RETURN;
    END IF;
    IF p_type = 'RELEASE' THEN
        RAISE EXCEPTION 'release %: reserved is 0.00 (no deposit yet)', p_amount
            USING ERRCODE = 'DP031';
    END IF;
    RAISE EXCEPTION '% %: available balance is 0.00 (no deposit yet)', lower(p_type), p_amount
        USING ERRCODE = 'DP030';
END
$$;
ALTER FUNCTION wallet_absent_refuse(bigint, text, numeric) OWNER TO decp_money;
INSERT INTO money_guarded_functions VALUES ('wallet_absent_refuse');

CREATE OR REPLACE FUNCTION wallet_withdraw(p_subscriber_id bigint, p_amount numeric,
                                           p_reference text DEFAULT NULL)
RETURNS numeric LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT wallet_absent_refuse(p_subscriber_id, 'WITHDRAWAL', p_amount);
    SELECT wallet_move(p_subscriber_id, 'WITHDRAWAL', p_amount, p_reference);
$$;
CREATE OR REPLACE FUNCTION wallet_reserve(p_subscriber_id bigint, p_amount numeric,
                                          p_reference text DEFAULT NULL)
RETURNS numeric LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT wallet_absent_refuse(p_subscriber_id, 'RESERVE', p_amount);
    SELECT wallet_move(p_subscriber_id, 'RESERVE', p_amount, p_reference);
$$;
CREATE OR REPLACE FUNCTION wallet_release(p_subscriber_id bigint, p_amount numeric,
                                          p_reference text DEFAULT NULL)
RETURNS numeric LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT wallet_absent_refuse(p_subscriber_id, 'RELEASE', p_amount);
    SELECT wallet_move(p_subscriber_id, 'RELEASE', p_amount, p_reference);
$$;

RESET ROLE;
REVOKE CREATE ON SCHEMA public FROM decp_money;
