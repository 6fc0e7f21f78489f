-- 0002_money: wallets, the append-only billing ledger, HWM fees, deposits,
-- withdrawals, reservations (seed "High-Water Mark (HWM) Billing",
-- "billing_ledger", "user_wallets"; SPEC §4).
--
-- Money rules (docs/database.md):
--   * USD amounts are numeric(20,2) (cents); C code carries int64 cents. Never float.
--   * Deposits, withdrawals, reservations and releases must be exact cents
--     (an amount with more than 2 decimals is refused, not rounded).
--   * A fee is round(profit_above_hwm * fee_pct / 100, 2), half away from zero.
--   * Every change of a wallet goes through one of the functions below, which
--     lock the wallet row first (then subscription rows), append exactly one
--     ledger row and update the wallet in the same transaction; so the sum of
--     a wallet's ledger amounts is its balance, and entry_no has no gaps.
--
-- Error codes (SQLSTATE) raised here:
--   DP010 billing_ledger is append-only       DP020 invalid amount
--   DP021 no such wallet / subscription        DP022 subscription cancelled
--   DP030 insufficient available balance       DP031 insufficient reserved funds

CREATE TABLE user_wallets (
    subscriber_id   bigint PRIMARY KEY REFERENCES subscribers (id),
    balance_usd     numeric(20,2) NOT NULL DEFAULT 0 CHECK (balance_usd >= 0),   -- available
    reserved_usd    numeric(20,2) NOT NULL DEFAULT 0 CHECK (reserved_usd >= 0),  -- held for pending trades
    lifetime_fees   numeric(20,2) NOT NULL DEFAULT 0 CHECK (lifetime_fees >= 0),
    ledger_seq      bigint NOT NULL DEFAULT 0,   -- entry_no of the last ledger row
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE billing_ledger (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subscriber_id   bigint NOT NULL REFERENCES user_wallets (subscriber_id),
    entry_no        bigint NOT NULL CHECK (entry_no >= 1),   -- 1, 2, 3 ... per wallet
    subscription_id bigint REFERENCES subscriptions (id),
    entry_type      text NOT NULL CHECK (entry_type IN (
                        'DEPOSIT', 'WITHDRAWAL', 'FEE_PERFORMANCE', 'FEE_SUBSCRIPTION',
                        'RESERVE', 'RELEASE')),
    amount          numeric(20,2) NOT NULL,     -- signed change of balance_usd
    balance_before  numeric(20,2) NOT NULL,
    balance_after   numeric(20,2) NOT NULL CHECK (balance_after >= 0),
    reserved_before numeric(20,2) NOT NULL,
    reserved_after  numeric(20,2) NOT NULL CHECK (reserved_after >= 0),
    hwm_before      numeric(20,2),
    hwm_after       numeric(20,2),
    profit          numeric(20,2),              -- cumulative profit reported (FEE_PERFORMANCE)
    fee_pct         numeric(5,2),
    reference       text,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (subscriber_id, entry_no),
    CHECK (balance_after = balance_before + amount),
    CHECK (CASE entry_type
        WHEN 'DEPOSIT'    THEN amount > 0 AND reserved_after = reserved_before
        WHEN 'WITHDRAWAL' THEN amount < 0 AND reserved_after = reserved_before
        WHEN 'RESERVE'    THEN amount < 0 AND reserved_after = reserved_before - amount
        WHEN 'RELEASE'    THEN amount > 0 AND reserved_after = reserved_before - amount
        ELSE amount <= 0 AND reserved_after = reserved_before AND subscription_id IS NOT NULL
    END),
    CHECK ((entry_type = 'FEE_PERFORMANCE') =
           (hwm_before IS NOT NULL AND hwm_after IS NOT NULL AND hwm_after >= hwm_before))
);
CREATE INDEX billing_ledger_subscription ON billing_ledger (subscription_id);

-- Append-only in the database itself: these triggers fire for every role,
-- the table owner and superusers included (a superuser could still disable
-- them; that is outside what a database can prevent). The application role
-- additionally has only SELECT on the table (0004_privileges.sql).
CREATE FUNCTION billing_ledger_refuse() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'billing_ledger is append-only: % refused', TG_OP
        USING ERRCODE = 'DP010';
END
$$;
CREATE TRIGGER billing_ledger_no_update BEFORE UPDATE OR DELETE ON billing_ledger
    FOR EACH ROW EXECUTE FUNCTION billing_ledger_refuse();
-- Row triggers do not fire for statements that touch no row; refuse those too,
-- so "UPDATE ... WHERE false" cannot be used to probe or to bypass intent.
CREATE TRIGGER billing_ledger_no_update_stmt BEFORE UPDATE OR DELETE ON billing_ledger
    FOR EACH STATEMENT EXECUTE FUNCTION billing_ledger_refuse();
CREATE TRIGGER billing_ledger_no_truncate BEFORE TRUNCATE ON billing_ledger
    FOR EACH STATEMENT EXECUTE FUNCTION billing_ledger_refuse();

-- Pure HWM arithmetic (seed example: hwm 1000, profit 1500, 20% -> 100, 1500, 500).
-- new_profit is the cumulative profit of the subscription, rounded to cents.
CREATE FUNCTION performance_fee(p_hwm numeric, p_new_profit numeric, p_fee_pct numeric,
                                OUT fee_amount numeric, OUT new_hwm numeric,
                                OUT profit_above_hwm numeric)
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, public AS $$
DECLARE
    v_profit numeric := round(p_new_profit, 2);
BEGIN
    IF p_hwm IS NULL OR p_new_profit IS NULL OR p_fee_pct IS NULL
       OR p_fee_pct < 0 OR p_fee_pct > 100 THEN
        RAISE EXCEPTION 'performance_fee: bad input (hwm %, profit %, pct %)',
            p_hwm, p_new_profit, p_fee_pct USING ERRCODE = 'DP020';
    END IF;
    profit_above_hwm := round(greatest(v_profit - p_hwm, 0), 2);
    fee_amount := round(profit_above_hwm * p_fee_pct / 100, 2);
    new_hwm := round(greatest(p_hwm, v_profit), 2);
END
$$;

CREATE FUNCTION calculate_performance_fee(p_subscription_id bigint, p_new_profit numeric,
                                          p_fee_pct numeric)
RETURNS TABLE (fee_amount numeric, new_hwm numeric, profit_above_hwm numeric)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, public AS $$
DECLARE
    v_hwm numeric;
BEGIN
    SELECT s.high_water_mark INTO v_hwm FROM subscriptions s WHERE s.id = p_subscription_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no subscription %', p_subscription_id USING ERRCODE = 'DP021';
    END IF;
    RETURN QUERY SELECT f.fee_amount, f.new_hwm, f.profit_above_hwm
                 FROM performance_fee(v_hwm, p_new_profit, p_fee_pct) AS f;
END
$$;

CREATE FUNCTION money_check_amount(p_amount numeric) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p_amount IS NULL OR p_amount <= 0 OR p_amount <> round(p_amount, 2)
       OR p_amount >= 1e18 THEN
        RAISE EXCEPTION 'invalid amount % (positive, whole cents)', p_amount
            USING ERRCODE = 'DP020';
    END IF;
END
$$;

-- Append one ledger row and apply it to the wallet. The caller holds the
-- wallet row lock (FOR UPDATE). p_amount is the signed change of balance_usd,
-- p_reserved_delta that of reserved_usd. Not callable by the application.
CREATE FUNCTION wallet_post(p_subscriber_id bigint, p_type text, p_amount numeric,
                            p_reserved_delta numeric, p_subscription_id bigint,
                            p_hwm_before numeric, p_hwm_after numeric, p_profit numeric,
                            p_fee_pct numeric, p_reference text)
RETURNS billing_ledger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    w user_wallets;
    r billing_ledger;
BEGIN
    SELECT * INTO STRICT w FROM user_wallets WHERE subscriber_id = p_subscriber_id;
    INSERT INTO billing_ledger (subscriber_id, entry_no, subscription_id, entry_type, amount,
                                balance_before, balance_after, reserved_before, reserved_after,
                                hwm_before, hwm_after, profit, fee_pct, reference)
    VALUES (p_subscriber_id, w.ledger_seq + 1, p_subscription_id, p_type, p_amount,
            w.balance_usd, w.balance_usd + p_amount,
            w.reserved_usd, w.reserved_usd + p_reserved_delta,
            p_hwm_before, p_hwm_after, p_profit, p_fee_pct, p_reference)
    RETURNING * INTO r;
    UPDATE user_wallets
       SET balance_usd = r.balance_after,
           reserved_usd = r.reserved_after,
           lifetime_fees = lifetime_fees
                           + CASE WHEN p_type IN ('FEE_PERFORMANCE', 'FEE_SUBSCRIPTION')
                                  THEN -p_amount ELSE 0 END,
           ledger_seq = r.entry_no,
           updated_at = now()
     WHERE subscriber_id = p_subscriber_id;
    RETURN r;
END
$$;

-- Seed: SYNCED -> LOCKED_NO_FUNDS when the balance is <= 0, and back when it
-- is restored. Only those two edges; other states are left alone. Caller holds
-- the wallet lock, so subscription rows are always locked after the wallet.
CREATE FUNCTION wallet_sync_states(p_subscriber_id bigint, p_balance numeric) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    IF p_balance <= 0 THEN
        UPDATE subscriptions SET state = 'LOCKED_NO_FUNDS', state_reason = 'balance <= 0'
         WHERE subscriber_id = p_subscriber_id AND state = 'SYNCED';
    ELSE
        UPDATE subscriptions SET state = 'SYNCED', state_reason = 'balance restored'
         WHERE subscriber_id = p_subscriber_id AND state = 'LOCKED_NO_FUNDS';
    END IF;
END
$$;

-- Lock (creating if asked) the wallet row; every money function starts here.
CREATE FUNCTION wallet_lock(p_subscriber_id bigint, p_create boolean) RETURNS user_wallets
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    w user_wallets;
BEGIN
    IF p_create THEN
        INSERT INTO user_wallets (subscriber_id) VALUES (p_subscriber_id)
        ON CONFLICT (subscriber_id) DO NOTHING;
    END IF;
    SELECT * INTO w FROM user_wallets WHERE subscriber_id = p_subscriber_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no wallet for subscriber %', p_subscriber_id USING ERRCODE = 'DP021';
    END IF;
    RETURN w;
END
$$;

-- One wallet movement that is not a fee: lock, check, post, sync states.
--   DEPOSIT     available += amount (creates the wallet)
--   WITHDRAWAL  available -= amount, never below zero          (DP030)
--   RESERVE     available -> reserved, for a pending trade      (DP030)
--   RELEASE     reserved -> available                           (DP031)
-- Returns the available balance after. Internal: the wrappers below are the API.
CREATE FUNCTION wallet_move(p_subscriber_id bigint, p_type text, p_amount numeric,
                            p_reference text)
RETURNS numeric
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    w user_wallets;
    r billing_ledger;
    v_delta numeric;
    v_reserved numeric := 0;
BEGIN
    PERFORM money_check_amount(p_amount);
    w := wallet_lock(p_subscriber_id, p_type = 'DEPOSIT');
    CASE p_type
    WHEN 'DEPOSIT' THEN
        v_delta := p_amount;
    WHEN 'WITHDRAWAL', 'RESERVE' THEN
        IF w.balance_usd < p_amount THEN
            RAISE EXCEPTION '% %: available balance is %', lower(p_type), p_amount,
                w.balance_usd USING ERRCODE = 'DP030';
        END IF;
        v_delta := -p_amount;
        IF p_type = 'RESERVE' THEN
            v_reserved := p_amount;
        END IF;
    WHEN 'RELEASE' THEN
        IF w.reserved_usd < p_amount THEN
            RAISE EXCEPTION 'release %: reserved is %', p_amount, w.reserved_usd
                USING ERRCODE = 'DP031';
        END IF;
        v_delta := p_amount;
        v_reserved := -p_amount;
    END CASE;
    r := wallet_post(p_subscriber_id, p_type, v_delta, v_reserved, NULL, NULL, NULL, NULL,
                     NULL, p_reference);
    PERFORM wallet_sync_states(p_subscriber_id, r.balance_after);
    RETURN r.balance_after;
END
$$;

CREATE FUNCTION wallet_deposit(p_subscriber_id bigint, p_amount numeric,
                               p_reference text DEFAULT NULL)
RETURNS numeric LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT wallet_move(p_subscriber_id, 'DEPOSIT', p_amount, p_reference)
$$;

CREATE FUNCTION wallet_withdraw(p_subscriber_id bigint, p_amount numeric,
                                p_reference text DEFAULT NULL)
RETURNS numeric LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT wallet_move(p_subscriber_id, 'WITHDRAWAL', p_amount, p_reference)
$$;

CREATE FUNCTION wallet_reserve(p_subscriber_id bigint, p_amount numeric,
                               p_reference text DEFAULT NULL)
RETURNS numeric LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT wallet_move(p_subscriber_id, 'RESERVE', p_amount, p_reference)
$$;

CREATE FUNCTION wallet_release(p_subscriber_id bigint, p_amount numeric,
                               p_reference text DEFAULT NULL)
RETURNS numeric LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT wallet_move(p_subscriber_id, 'RELEASE', p_amount, p_reference)
$$;

-- The start of every fee charge: lock the subscriber's wallet, then the
-- subscription (wallet first is the lock order of every money function, so
-- they cannot deadlock with each other), refusing a cancelled subscription.
-- subscriber_id is immutable (subscriptions_guard), so reading it before
-- taking any lock is safe. Returns the locked subscription row.
CREATE FUNCTION charge_lock(p_subscription_id bigint) RETURNS subscriptions
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    v_owner bigint;
    s subscriptions;
BEGIN
    SELECT x.subscriber_id INTO v_owner FROM subscriptions x WHERE x.id = p_subscription_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no subscription %', p_subscription_id USING ERRCODE = 'DP021';
    END IF;
    PERFORM wallet_lock(v_owner, true);
    SELECT * INTO STRICT s FROM subscriptions x WHERE x.id = p_subscription_id FOR UPDATE;
    IF s.state = 'CANCELLED' THEN
        RAISE EXCEPTION 'subscription % is cancelled', p_subscription_id USING ERRCODE = 'DP022';
    END IF;
    RETURN s;
END
$$;

-- A fee the available balance cannot cover: nothing is charged and a SYNCED
-- subscription becomes LOCKED_NO_FUNDS (other states have no such edge).
CREATE FUNCTION charge_not_covered(s subscriptions) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    IF s.state = 'SYNCED' THEN
        UPDATE subscriptions SET state = 'LOCKED_NO_FUNDS', state_reason = 'fee not covered'
         WHERE id = s.id;
    END IF;
END
$$;

-- Charge the HWM performance fee for a new cumulative profit, in one
-- transaction: lock wallet, lock subscription, compute the fee at the
-- subscription's fee_pct, append the ledger row (balance and HWM before/after),
-- update wallet and HWM.
--
-- outcome:
--   CHARGED             fee > 0 (or HWM moved at fee_pct 0): one ledger row
--   NO_FEE              profit not above the HWM: nothing written
--   INSUFFICIENT_FUNDS  fee > available balance: nothing charged, HWM NOT
--                       advanced (so the same profit is billed in full on the
--                       next report after a deposit), SYNCED -> LOCKED_NO_FUNDS
-- A charge that leaves the balance at 0 also locks (seed: balance <= 0).
CREATE FUNCTION charge_performance_fee(p_subscription_id bigint, p_new_profit numeric,
                                       p_reference text DEFAULT NULL)
RETURNS TABLE (outcome text, fee_amount numeric, new_hwm numeric,
               profit_above_hwm numeric, balance_after numeric, ledger_id bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    s subscriptions;
    w user_wallets;
    f record;
    r billing_ledger;
BEGIN
    s := charge_lock(p_subscription_id);
    SELECT * INTO STRICT w FROM user_wallets x WHERE x.subscriber_id = s.subscriber_id;
    SELECT * INTO f FROM performance_fee(s.high_water_mark, p_new_profit, s.fee_pct);

    IF f.fee_amount > w.balance_usd THEN
        PERFORM charge_not_covered(s);
        RETURN QUERY SELECT 'INSUFFICIENT_FUNDS'::text, f.fee_amount, s.high_water_mark,
                            f.profit_above_hwm, w.balance_usd, NULL::bigint;
        RETURN;
    END IF;
    IF f.fee_amount = 0 AND f.new_hwm = s.high_water_mark THEN
        RETURN QUERY SELECT 'NO_FEE'::text, f.fee_amount, s.high_water_mark,
                            f.profit_above_hwm, w.balance_usd, NULL::bigint;
        RETURN;
    END IF;
    r := wallet_post(s.subscriber_id, 'FEE_PERFORMANCE', -f.fee_amount, 0, s.id,
                     s.high_water_mark, f.new_hwm, round(p_new_profit, 2), s.fee_pct,
                     p_reference);
    UPDATE subscriptions SET high_water_mark = f.new_hwm WHERE id = s.id;
    PERFORM wallet_sync_states(s.subscriber_id, r.balance_after);
    RETURN QUERY SELECT 'CHARGED'::text, f.fee_amount, f.new_hwm, f.profit_above_hwm,
                        r.balance_after, r.id;
END
$$;

-- A flat subscription fee; same locking and outcomes as the performance fee
-- (INSUFFICIENT_FUNDS: nothing charged, SYNCED -> LOCKED_NO_FUNDS).
CREATE FUNCTION charge_subscription_fee(p_subscription_id bigint, p_amount numeric,
                                        p_reference text DEFAULT NULL)
RETURNS TABLE (outcome text, balance_after numeric, ledger_id bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    s subscriptions;
    w user_wallets;
    r billing_ledger;
BEGIN
    PERFORM money_check_amount(p_amount);
    s := charge_lock(p_subscription_id);
    SELECT * INTO STRICT w FROM user_wallets x WHERE x.subscriber_id = s.subscriber_id;
    IF p_amount > w.balance_usd THEN
        PERFORM charge_not_covered(s);
        RETURN QUERY SELECT 'INSUFFICIENT_FUNDS'::text, w.balance_usd, NULL::bigint;
        RETURN;
    END IF;
    r := wallet_post(s.subscriber_id, 'FEE_SUBSCRIPTION', -p_amount, 0, s.id,
                     NULL, NULL, NULL, NULL, p_reference);
    PERFORM wallet_sync_states(s.subscriber_id, r.balance_after);
    RETURN QUERY SELECT 'CHARGED'::text, r.balance_after, r.id;
END
$$;
