-- 0011_receivables: a fee is never lost (issue 20 items 1 and 2).
--
-- Receivables. A fee the available balance cannot cover takes what is available and
-- records the rest as owed, in one ledger row of its own type, RECEIVABLE, with the
-- HWM moved as if charged (so the profit is billed once, not again after a deposit).
-- The wallet carries receivable_usd; while it is > 0 the available balance is 0
-- (checked at commit), so nothing can be withdrawn or reserved before the debt is paid, and every
-- SYNCED subscription of the wallet is LOCKED_NO_FUNDS (seed: balance <= 0). Every
-- credit (DEPOSIT, RELEASE) pays receivables first: one RECEIVABLE_PAID row right after
-- it, for min(available, owed). The subscriptions unlock when the available balance is
-- > 0 again, that is only once the debt is paid in full and money is left.
--
-- Settlement at cancellation. Cancelling (subscription_cancel(), or any UPDATE to
-- CANCELLED: the trigger subscriptions_settle) bills the period in the same
-- transaction: the fee on the last reported cumulative profit above the HWM, charged
-- or recorded as a receivable, and stamps settled_at. A cancelled subscription cannot
-- be charged again (DP022) nor cancelled again (DP002): settled exactly once.
--
-- Continuation. The cumulative profit and the HWM belong to the (master, subscriber)
-- pair: a new subscription of the same pair starts with the last cancelled one's
-- high_water_mark and cumulative_profit (trigger subscriptions_continue), so cancelling
-- and subscribing again neither resets the HWM nor bills the same profit twice.
--
-- New SQLSTATEs: none. New outcomes of charge_performance_fee / charge_subscription_fee:
-- RECEIVABLE replaces INSUFFICIENT_FUNDS (which charged nothing and lost the fee).

ALTER TABLE user_wallets
    ADD COLUMN receivable_usd numeric(20,2) NOT NULL DEFAULT 0
        CONSTRAINT user_wallets_receivable_usd_check CHECK (receivable_usd >= 0);

-- "While something is owed nothing is available", checked at commit: inside a credit
-- the DEPOSIT row comes first and its RECEIVABLE_PAID row a moment later, so a CHECK
-- (which cannot be deferred) would refuse the first.
CREATE FUNCTION user_wallets_receivable_first() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM user_wallets w WHERE w.subscriber_id = NEW.subscriber_id
                  AND w.receivable_usd > 0 AND w.balance_usd > 0) THEN
        RAISE EXCEPTION 'wallet %: % available while % is owed', NEW.subscriber_id,
            NEW.balance_usd, NEW.receivable_usd USING ERRCODE = '23514';
    END IF;
    RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER user_wallets_receivable_first AFTER INSERT OR UPDATE ON user_wallets
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    EXECUTE FUNCTION user_wallets_receivable_first();

ALTER TABLE billing_ledger
    ADD COLUMN receivable_before numeric(20,2) NOT NULL DEFAULT 0,
    ADD COLUMN receivable_after numeric(20,2) NOT NULL DEFAULT 0
        CONSTRAINT billing_ledger_receivable_after_check CHECK (receivable_after >= 0),
    DROP CONSTRAINT billing_ledger_entry_type_check,
    DROP CONSTRAINT billing_ledger_check1,
    DROP CONSTRAINT billing_ledger_check2,
    ADD CONSTRAINT billing_ledger_entry_type_check CHECK (entry_type IN (
        'DEPOSIT', 'WITHDRAWAL', 'FEE_PERFORMANCE', 'FEE_SUBSCRIPTION', 'RESERVE', 'RELEASE',
        'RECEIVABLE', 'RECEIVABLE_PAID')),
    -- amount is the signed change of balance_usd; each type fixes the sign of each change.
    ADD CONSTRAINT billing_ledger_entry_rules CHECK (CASE entry_type
        WHEN 'DEPOSIT'    THEN amount > 0 AND reserved_after = reserved_before
                               AND receivable_after = receivable_before
        WHEN 'WITHDRAWAL' THEN amount < 0 AND reserved_after = reserved_before
                               AND receivable_after = receivable_before
        WHEN 'RESERVE'    THEN amount < 0 AND reserved_after = reserved_before - amount
                               AND receivable_after = receivable_before
        WHEN 'RELEASE'    THEN amount > 0 AND reserved_after = reserved_before - amount
                               AND receivable_after = receivable_before
        -- takes all that is available, owes the rest
        WHEN 'RECEIVABLE' THEN amount <= 0 AND balance_after = 0
                               AND receivable_after > receivable_before
                               AND reserved_after = reserved_before
                               AND subscription_id IS NOT NULL
        WHEN 'RECEIVABLE_PAID' THEN amount < 0 AND receivable_after = receivable_before + amount
                               AND reserved_after = reserved_before
        ELSE amount <= 0 AND reserved_after = reserved_before
             AND receivable_after = receivable_before AND subscription_id IS NOT NULL
    END),
    -- HWM before/after on every performance fee (charged or owed), on nothing else.
    ADD CONSTRAINT billing_ledger_hwm CHECK (
        (hwm_before IS NULL) = (hwm_after IS NULL)
        AND (hwm_before IS NULL OR hwm_after >= hwm_before)
        AND CASE entry_type WHEN 'FEE_PERFORMANCE' THEN hwm_before IS NOT NULL
                            WHEN 'RECEIVABLE' THEN true
                            ELSE hwm_before IS NULL END);
-- No 0.00 fee row from now on (0010's sub-cent rule); rows written before are kept.
ALTER TABLE billing_ledger ADD CONSTRAINT billing_ledger_no_zero_fee
    CHECK (entry_type NOT IN ('FEE_PERFORMANCE', 'FEE_SUBSCRIPTION') OR amount < 0) NOT VALID;

-- The last reported cumulative profit of the (master, subscriber) pair, and when the
-- subscription was settled (at cancellation). Neither is writable by decp_app.
ALTER TABLE subscriptions
    ADD COLUMN cumulative_profit numeric(20,2) NOT NULL DEFAULT 0,
    ADD COLUMN settled_at timestamptz;

-- 0002's wallet_post without the receivable; replaced, not overloaded.
DROP FUNCTION wallet_post(bigint, text, numeric, numeric, bigint, numeric, numeric, numeric,
                          numeric, text);
DROP FUNCTION wallet_sync_states(bigint, numeric);

-- Append one ledger row and apply it to the wallet. The caller holds the wallet row
-- lock. p_amount, p_reserved_delta, p_receivable_delta: signed changes of
-- balance_usd, reserved_usd, receivable_usd. lifetime_fees counts fees collected (paid
-- from the wallet), so billed = lifetime_fees + receivable_usd.
CREATE FUNCTION wallet_post(p_subscriber_id bigint, p_type text, p_amount numeric,
                            p_reserved_delta numeric, p_receivable_delta numeric,
                            p_subscription_id bigint, p_hwm_before numeric,
                            p_hwm_after numeric, p_profit numeric, p_fee_pct numeric,
                            p_reference text)
RETURNS billing_ledger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    w user_wallets;
    r billing_ledger;
BEGIN
    SELECT * INTO STRICT w FROM user_wallets WHERE subscriber_id = p_subscriber_id;
    INSERT INTO billing_ledger (subscriber_id, entry_no, subscription_id, entry_type, amount,
                                balance_before, balance_after, reserved_before, reserved_after,
                                receivable_before, receivable_after,
                                hwm_before, hwm_after, profit, fee_pct, reference)
    VALUES (p_subscriber_id, w.ledger_seq + 1, p_subscription_id, p_type, p_amount,
            w.balance_usd, w.balance_usd + p_amount,
            w.reserved_usd, w.reserved_usd + p_reserved_delta,
            w.receivable_usd, w.receivable_usd + p_receivable_delta,
            p_hwm_before, p_hwm_after, p_profit, p_fee_pct, p_reference)
    RETURNING * INTO r;
    UPDATE user_wallets
       SET balance_usd = r.balance_after,
           reserved_usd = r.reserved_after,
           receivable_usd = r.receivable_after,
           lifetime_fees = lifetime_fees
                           + CASE WHEN p_type IN ('FEE_PERFORMANCE', 'FEE_SUBSCRIPTION',
                                                  'RECEIVABLE', 'RECEIVABLE_PAID')
                                  THEN -p_amount ELSE 0 END,
           ledger_seq = r.entry_no,
           updated_at = now()
     WHERE subscriber_id = p_subscriber_id;
    RETURN r;
END
$$;

-- Seed: SYNCED -> LOCKED_NO_FUNDS when the balance is <= 0, and back when it is
-- restored. p_except: the subscription a trigger is updating itself (the cancelled
-- one), which a nested UPDATE may not touch. Caller holds the wallet lock.
CREATE FUNCTION wallet_sync_states(p_subscriber_id bigint, p_balance numeric,
                                   p_except bigint DEFAULT NULL) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    IF p_balance <= 0 THEN
        UPDATE subscriptions SET state = 'LOCKED_NO_FUNDS', state_reason = 'balance <= 0'
         WHERE subscriber_id = p_subscriber_id AND state = 'SYNCED'
           AND id IS DISTINCT FROM p_except;
    ELSE
        UPDATE subscriptions SET state = 'SYNCED', state_reason = 'balance restored'
         WHERE subscriber_id = p_subscriber_id AND state = 'LOCKED_NO_FUNDS'
           AND id IS DISTINCT FROM p_except;
    END IF;
END
$$;

-- A fee of p_fee > 0 for subscription s: FEE_PERFORMANCE / FEE_SUBSCRIPTION when the
-- available balance covers it, else RECEIVABLE (all that is available is taken, the
-- rest is owed). p_hwm_before/after NULL for a flat fee. Caller holds the wallet lock.
CREATE FUNCTION fee_post(s subscriptions, p_type text, p_fee numeric, p_hwm_before numeric,
                         p_hwm_after numeric, p_profit numeric, p_reference text)
RETURNS billing_ledger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    w user_wallets;
    v_paid numeric;
BEGIN
    SELECT * INTO STRICT w FROM user_wallets x WHERE x.subscriber_id = s.subscriber_id;
    IF p_fee <= w.balance_usd THEN
        RETURN wallet_post(s.subscriber_id, p_type, -p_fee, 0, 0, s.id, p_hwm_before,
                           p_hwm_after, p_profit,
                           CASE WHEN p_type = 'FEE_PERFORMANCE' THEN s.fee_pct END,
                           p_reference);
    END IF;
    v_paid := w.balance_usd;
    RETURN wallet_post(s.subscriber_id, 'RECEIVABLE', -v_paid, 0, p_fee - v_paid, s.id,
                       p_hwm_before, p_hwm_after, p_profit,
                       CASE WHEN p_type = 'FEE_PERFORMANCE' THEN s.fee_pct END,
                       p_reference);
END
$$;

-- After a credit: pay what is owed first (RECEIVABLE_PAID), then sync the states.
-- Returns the available balance after. Caller holds the wallet lock.
CREATE FUNCTION wallet_settle_credit(p_subscriber_id bigint) RETURNS numeric
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    w user_wallets;
    v_pay numeric;
    r billing_ledger;
BEGIN
    SELECT * INTO STRICT w FROM user_wallets WHERE subscriber_id = p_subscriber_id;
    v_pay := least(w.balance_usd, w.receivable_usd);
    IF v_pay > 0 THEN
        r := wallet_post(p_subscriber_id, 'RECEIVABLE_PAID', -v_pay, 0, -v_pay, NULL, NULL,
                         NULL, NULL, NULL, 'receivable paid');
        w.balance_usd := r.balance_after;
    END IF;
    PERFORM wallet_sync_states(p_subscriber_id, w.balance_usd);
    RETURN w.balance_usd;
END
$$;

-- 0002's wallet_move with receivables: a credit pays them first.
CREATE OR REPLACE FUNCTION wallet_move(p_subscriber_id bigint, p_type text, p_amount numeric,
                                       p_reference text)
RETURNS numeric
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    w user_wallets;
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
    PERFORM wallet_post(p_subscriber_id, p_type, v_delta, v_reserved, 0, NULL, NULL, NULL,
                        NULL, NULL, p_reference);
    RETURN wallet_settle_credit(p_subscriber_id);
END
$$;

-- charge_performance_fee with receivables (same signature as 0002). It also records
-- p_new_profit as the pair's cumulative profit, which settlement at cancellation uses.
--   CHARGED     fee >= 0.01 covered: FEE_PERFORMANCE row, HWM moved
--   RECEIVABLE  fee >= 0.01 not covered: RECEIVABLE row (available taken, rest owed),
--               HWM moved, the wallet's SYNCED subscriptions LOCKED_NO_FUNDS
--   NO_FEE      fee 0.00 (not above the HWM, sub-cent, fee_pct 0): no row, HWM kept
CREATE OR REPLACE FUNCTION charge_performance_fee(p_subscription_id bigint,
                                                  p_new_profit numeric,
                                                  p_reference text DEFAULT NULL)
RETURNS TABLE (outcome text, fee_amount numeric, new_hwm numeric,
               profit_above_hwm numeric, balance_after numeric, ledger_id bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    s subscriptions;
    f record;
    r billing_ledger;
    v_balance numeric;
BEGIN
    s := charge_lock(p_subscription_id);
    SELECT * INTO f FROM performance_fee(s.high_water_mark, p_new_profit, s.fee_pct);
    UPDATE subscriptions SET cumulative_profit = round(p_new_profit, 2) WHERE id = s.id;
    IF f.fee_amount = 0 THEN
        SELECT x.balance_usd INTO v_balance FROM user_wallets x
         WHERE x.subscriber_id = s.subscriber_id;
        RETURN QUERY SELECT 'NO_FEE'::text, f.fee_amount, s.high_water_mark,
                            f.profit_above_hwm, v_balance, NULL::bigint;
        RETURN;
    END IF;
    r := fee_post(s, 'FEE_PERFORMANCE', f.fee_amount, s.high_water_mark, f.new_hwm,
                  round(p_new_profit, 2), p_reference);
    UPDATE subscriptions SET high_water_mark = f.new_hwm WHERE id = s.id;
    PERFORM wallet_sync_states(s.subscriber_id, r.balance_after);
    RETURN QUERY SELECT CASE r.entry_type WHEN 'RECEIVABLE' THEN 'RECEIVABLE'
                                          ELSE 'CHARGED' END,
                        f.fee_amount, f.new_hwm, f.profit_above_hwm, r.balance_after, r.id;
END
$$;

-- The flat fee with receivables (same signature as 0002): CHARGED or RECEIVABLE.
CREATE OR REPLACE FUNCTION charge_subscription_fee(p_subscription_id bigint,
                                                   p_amount numeric,
                                                   p_reference text DEFAULT NULL)
RETURNS TABLE (outcome text, balance_after numeric, ledger_id bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    s subscriptions;
    r billing_ledger;
BEGIN
    PERFORM money_check_amount(p_amount);
    s := charge_lock(p_subscription_id);
    r := fee_post(s, 'FEE_SUBSCRIPTION', p_amount, NULL, NULL, NULL, p_reference);
    PERFORM wallet_sync_states(s.subscriber_id, r.balance_after);
    RETURN QUERY SELECT CASE r.entry_type WHEN 'RECEIVABLE' THEN 'RECEIVABLE'
                                          ELSE 'CHARGED' END, r.balance_after, r.id;
END
$$;

-- BEFORE UPDATE trigger: the transition to CANCELLED settles the period (the fee on
-- the last reported cumulative profit above the HWM, charged or owed) in the same
-- transaction. Runs after subscriptions_guard (names fire in order), so only a
-- transition the state machine allows gets here. Locks the wallet: through
-- subscription_cancel() that lock is already held (wallet first, as every money
-- function); a bare UPDATE locks the subscription first and may meet a concurrent
-- charge in a deadlock, which PostgreSQL breaks by failing one of them (40P01).
CREATE FUNCTION subscriptions_settle() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    f record;
    r billing_ledger;
BEGIN
    PERFORM wallet_lock(NEW.subscriber_id, true);
    SELECT * INTO f FROM performance_fee(OLD.high_water_mark, NEW.cumulative_profit,
                                         OLD.fee_pct);
    IF f.fee_amount > 0 THEN
        r := fee_post(OLD, 'FEE_PERFORMANCE', f.fee_amount, OLD.high_water_mark, f.new_hwm,
                      NEW.cumulative_profit, 'settlement at cancellation');
        NEW.high_water_mark := f.new_hwm;
        PERFORM wallet_sync_states(NEW.subscriber_id, r.balance_after, NEW.id);
    END IF;
    NEW.settled_at := clock_timestamp();
    RETURN NEW;
END
$$;
CREATE TRIGGER subscriptions_settle BEFORE UPDATE OF state ON subscriptions
    FOR EACH ROW WHEN (NEW.state = 'CANCELLED' AND OLD.state IS DISTINCT FROM 'CANCELLED')
    EXECUTE FUNCTION subscriptions_settle();

-- BEFORE INSERT trigger: a new subscription of a (master, subscriber) pair continues
-- from the pair's last settled (cancelled) subscription: its HWM and cumulative profit.
CREATE FUNCTION subscriptions_continue() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    prev subscriptions;
BEGIN
    -- Wait for a cancellation of the pair's live subscription in flight (it holds that
    -- row's lock until it commits); the next statement's snapshot then sees it settled.
    -- Without this, a subscription inserted while the previous one was being cancelled
    -- started from the HWM before (found by tests/money/test_money_stress.c).
    PERFORM 1 FROM subscriptions x
     WHERE x.master_id = NEW.master_id AND x.subscriber_id = NEW.subscriber_id
       AND x.state <> 'CANCELLED' FOR UPDATE;
    SELECT * INTO prev FROM subscriptions x
     WHERE x.master_id = NEW.master_id AND x.subscriber_id = NEW.subscriber_id
       AND x.state = 'CANCELLED'
     ORDER BY x.settled_at DESC NULLS LAST, x.id DESC LIMIT 1;
    IF FOUND THEN
        NEW.high_water_mark := greatest(NEW.high_water_mark, prev.high_water_mark);
        NEW.cumulative_profit := prev.cumulative_profit;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER subscriptions_continue BEFORE INSERT ON subscriptions
    FOR EACH ROW EXECUTE FUNCTION subscriptions_continue();

-- Cancel a subscription the deadlock-free way: the wallet is locked first, then the
-- subscription (the order of every money function); the trigger above settles. With
-- p_profit the caller reports the cumulative profit at this moment (recorded first);
-- without it, the last reported one is used. Returns the subscription after, the fee
-- of the settlement (0.00 when none) and its ledger row. Cancelling a cancelled
-- subscription changes nothing (no second settlement, p_profit ignored).
-- DP021 no such subscription, DP002 not SYNCED (seed: only SYNCED -> CANCELLED),
-- DP020 a profit outside performance_fee()'s domain.
CREATE FUNCTION subscription_cancel(p_subscription_id bigint, p_reason text DEFAULT NULL,
                                    p_profit numeric DEFAULT NULL)
RETURNS TABLE (subscription_id bigint, state text, high_water_mark numeric,
               cumulative_profit numeric, settled_fee numeric, ledger_id bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    v_owner bigint;
    v_seq bigint;
    v_state text;
    v_error text;
    r billing_ledger;
BEGIN
    SELECT x.subscriber_id INTO v_owner FROM subscriptions x WHERE x.id = p_subscription_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no subscription %', p_subscription_id USING ERRCODE = 'DP021';
    END IF;
    v_seq := (wallet_lock(v_owner, true)).ledger_seq;
    SELECT x.state INTO v_state FROM subscriptions x WHERE x.id = p_subscription_id FOR UPDATE;
    IF v_state = 'CANCELLED' THEN
        -- settled already: a no-op, like writing the same state again; the profit of a
        -- settled period is not changed (the next subscription of the pair starts there)
        RETURN QUERY SELECT s.id, s.state, s.high_water_mark, s.cumulative_profit, 0.00,
                            NULL::bigint FROM subscriptions s WHERE s.id = p_subscription_id;
        RETURN;
    END IF;
    IF p_profit IS NOT NULL THEN
        v_error := performance_fee_domain_error(0, p_profit, 0);
        IF v_error IS NOT NULL THEN
            RAISE EXCEPTION 'subscription_cancel: %', v_error USING ERRCODE = 'DP020';
        END IF;
        UPDATE subscriptions x SET cumulative_profit = round(p_profit, 2)
         WHERE x.id = p_subscription_id;
    END IF;
    UPDATE subscriptions x SET state = 'CANCELLED',
                               state_reason = coalesce(p_reason, 'cancelled')
     WHERE x.id = p_subscription_id;
    SELECT * INTO r FROM billing_ledger l
     WHERE l.subscriber_id = v_owner AND l.entry_no > v_seq
       AND l.subscription_id = p_subscription_id
     ORDER BY l.entry_no LIMIT 1;
    RETURN QUERY SELECT s.id, s.state, s.high_water_mark, s.cumulative_profit,
                        coalesce(-r.amount + r.receivable_after - r.receivable_before, 0.00),
                        r.id
                   FROM subscriptions s WHERE s.id = p_subscription_id;
END
$$;

-- Record the cumulative profit of a subscription without charging (the fee is billed
-- by charge_performance_fee at the end of the period, or settled at cancellation).
-- Locks only the subscription row (no wallet), so it cannot join a lock cycle with
-- the money functions. DP021 no such subscription, DP022 cancelled (settled: the
-- profit of a settled period cannot change), DP020 outside performance_fee()'s domain.
CREATE FUNCTION subscription_record_profit(p_subscription_id bigint, p_profit numeric)
RETURNS numeric
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    s subscriptions;
    v_error text := performance_fee_domain_error(0, p_profit, 0);
BEGIN
    IF v_error IS NOT NULL THEN
        RAISE EXCEPTION 'subscription_record_profit: %', v_error USING ERRCODE = 'DP020';
    END IF;
    SELECT * INTO s FROM subscriptions x WHERE x.id = p_subscription_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no subscription %', p_subscription_id USING ERRCODE = 'DP021';
    END IF;
    IF s.state = 'CANCELLED' THEN
        RAISE EXCEPTION 'subscription % is cancelled', p_subscription_id USING ERRCODE = 'DP022';
    END IF;
    UPDATE subscriptions x SET cumulative_profit = round(p_profit, 2)
     WHERE x.id = p_subscription_id;
    RETURN round(p_profit, 2);
END
$$;

REVOKE EXECUTE ON FUNCTION wallet_post(bigint, text, numeric, numeric, numeric, bigint, numeric,
                                       numeric, numeric, numeric, text),
                           wallet_sync_states(bigint, numeric, bigint),
                           fee_post(subscriptions, text, numeric, numeric, numeric, numeric, text),
                           wallet_settle_credit(bigint), user_wallets_receivable_first(),
                           subscriptions_settle(), subscriptions_continue()
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION subscription_cancel(bigint, text, numeric),
                          subscription_record_profit(bigint, numeric) TO decp_app;
