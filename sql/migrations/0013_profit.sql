-- 0013_profit: profit from executions and a billing scheduler (issue 20 item 4, the SQL
-- side; the fan-out does not yet store the reports' P&L, docs/database.md "Profit").
--
-- Profit. An ExecutionReport (proto: volume, fill price, realized_profit on close, in
-- 1e-4 account currency) is recorded once per (subscription, master sequence, broker
-- ticket, status) in execution_pnl by subscription_report_execution(); a new row adds
-- its realized profit to the subscription's exact running profit (profit_exact,
-- 4 decimals), whose cent rounding is cumulative_profit (0011). The same report again
-- changes nothing. An operator's explicit cumulative profit (charge_performance_fee,
-- subscription_record_profit, subscription_cancel with a profit) still sets both.
--
-- Trading-account deposits and withdrawals: the profit is the cumulative realized P&L
-- of the copied trades, not the account's equity, so money moved in or out of the
-- trading account is neither profit nor loss and the HWM is not adjusted for it.
-- (cTrader Copy's HWM is on equity, so it must lower the HWM by a withdrawal; ours
-- cannot mistake a deposit for profit or a withdrawal for a loss in the first place.)
--
-- Billing scheduler. Each subscription has a billing_period (WEEKLY: ISO weeks, or
-- MONTHLY, UTC) and billed_until. billing_run(now) charges every live subscription
-- whose period has ended, at its current profit, through charge_performance_fee (so
-- CHARGED / RECEIVABLE / NO_FEE as always), and sets billed_until to the start of the
-- current period: one charge covers periods missed while nothing ran. Concurrent runs
-- (several archivers) are safe: each subscription is re-checked under its locks, and
-- wallets are taken in subscriber order.

ALTER TABLE subscriptions
    ADD COLUMN profit_exact numeric(24,4) NOT NULL DEFAULT 0,
    ADD COLUMN billing_period text NOT NULL DEFAULT 'MONTHLY'
        CHECK (billing_period IN ('WEEKLY', 'MONTHLY')),
    ADD COLUMN billed_until timestamptz;
UPDATE subscriptions SET profit_exact = cumulative_profit;

-- cumulative_profit and profit_exact agree: an explicit cumulative_profit (the
-- operator's number) sets profit_exact; a new profit_exact (executions) rounds into
-- cumulative_profit.
CREATE FUNCTION subscriptions_profit_sync() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.profit_exact := NEW.cumulative_profit;
    ELSIF NEW.profit_exact IS DISTINCT FROM OLD.profit_exact THEN
        NEW.cumulative_profit := round(NEW.profit_exact, 2);
    ELSIF NEW.cumulative_profit IS DISTINCT FROM OLD.cumulative_profit THEN
        NEW.profit_exact := NEW.cumulative_profit;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER subscriptions_profit_sync BEFORE INSERT OR UPDATE ON subscriptions
    FOR EACH ROW EXECUTE FUNCTION subscriptions_profit_sync();

-- The owner's part: columns and the sync trigger on subscriptions, and grants on it.
REVOKE EXECUTE ON FUNCTION subscriptions_profit_sync() FROM PUBLIC;
GRANT UPDATE (profit_exact, billed_until) ON subscriptions TO decp_money;
GRANT INSERT (billing_period), UPDATE (billing_period) ON subscriptions TO decp_app;
-- New money objects are made by decp_maintenance (0012's event trigger lets nobody else
-- touch objects of decp_money) and handed to decp_money.
GRANT CREATE ON SCHEMA public TO decp_maintenance;
GRANT REFERENCES (id) ON subscriptions TO decp_maintenance;
-- A new owner needs CREATE on the schema (checked unless a superuser does it); taken
-- back at the end, so decp_money still cannot create anything.
GRANT CREATE ON SCHEMA public TO decp_money;

SET LOCAL ROLE decp_maintenance;
CREATE TABLE execution_pnl (
    subscription_id bigint NOT NULL REFERENCES subscriptions (id),
    sequence        bigint NOT NULL CHECK (sequence >= 1),   -- the master's signal
    broker_ticket   bigint NOT NULL CHECK (broker_ticket >= 0),
    status          text NOT NULL CHECK (status IN ('FILLED', 'PARTIAL', 'CLOSED')),
    volume          bigint NOT NULL CHECK (volume >= 0),     -- 0.01 lot, as on the wire
    price           bigint NOT NULL CHECK (price >= 0),      -- 1e-5, as on the wire
    realized_profit numeric(24,4) NOT NULL,                  -- account currency
    reported_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (subscription_id, sequence, broker_ticket, status)
);

-- Record one execution report; returns whether it was new and the profit after.
-- DP020 bad status, negative volume/price, more than 4 decimals or a running profit
-- outside performance_fee()'s domain; DP021 no such subscription; DP022 cancelled.
CREATE FUNCTION subscription_report_execution(p_subscription_id bigint, p_sequence bigint,
                                              p_broker_ticket bigint, p_status text,
                                              p_volume bigint, p_price bigint,
                                              p_realized_profit numeric)
RETURNS TABLE (recorded boolean, cumulative_profit numeric, profit_exact numeric)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    s subscriptions;
    v_new numeric;
    v_error text;
BEGIN
    IF p_status IS NULL OR p_status NOT IN ('FILLED', 'PARTIAL', 'CLOSED')
       OR p_sequence IS NULL OR p_sequence < 1 OR p_broker_ticket IS NULL
       OR p_broker_ticket < 0 OR p_volume IS NULL OR p_volume < 0 OR p_price IS NULL
       OR p_price < 0 OR p_realized_profit IS NULL
       OR p_realized_profit <> round(p_realized_profit, 4) THEN
        RAISE EXCEPTION 'execution report: bad field (status %, volume %, price %, profit %)',
            p_status, p_volume, p_price, p_realized_profit USING ERRCODE = 'DP020';
    END IF;
    SELECT * INTO s FROM subscriptions x WHERE x.id = p_subscription_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no subscription %', p_subscription_id USING ERRCODE = 'DP021';
    END IF;
    IF s.state = 'CANCELLED' THEN
        RAISE EXCEPTION 'subscription % is cancelled (settled)', p_subscription_id
            USING ERRCODE = 'DP022';
    END IF;
    INSERT INTO execution_pnl (subscription_id, sequence, broker_ticket, status, volume, price,
                               realized_profit)
    VALUES (p_subscription_id, p_sequence, p_broker_ticket, p_status, p_volume, p_price,
            p_realized_profit)
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RETURN QUERY SELECT false, s.cumulative_profit, s.profit_exact;
        RETURN;
    END IF;
    v_new := s.profit_exact + p_realized_profit;
    v_error := performance_fee_domain_error(0, v_new, 0);
    IF v_error IS NOT NULL THEN
        RAISE EXCEPTION 'execution report: %', v_error USING ERRCODE = 'DP020';
    END IF;
    UPDATE subscriptions x SET profit_exact = v_new WHERE x.id = p_subscription_id;
    RETURN QUERY SELECT true, round(v_new, 2), v_new;
END
$$;

-- The end of the billing period that contains p_from, UTC.
CREATE FUNCTION billing_period_end(p_period text, p_from timestamptz) RETURNS timestamptz
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog AS $$
    SELECT (date_trunc(CASE p_period WHEN 'WEEKLY' THEN 'week' ELSE 'month' END,
                       p_from AT TIME ZONE 'UTC')
            + CASE p_period WHEN 'WEEKLY' THEN interval '1 week' ELSE interval '1 month' END)
           AT TIME ZONE 'UTC'
$$;

-- Charge up to p_limit live subscriptions whose billing period has ended by p_now; the
-- caller repeats until it returns no row (each call is one transaction holding the
-- locks of the wallets it charged, so a call is kept short). Returns one row per charge
-- attempted (outcome as charge_performance_fee's). Wallets are locked in subscriber
-- order: two runs never wait for each other in a cycle (found by the stress test, when
-- they went by subscription id).
CREATE FUNCTION billing_run(p_now timestamptz DEFAULT now(), p_limit integer DEFAULT 100)
RETURNS TABLE (subscription_id bigint, outcome text, fee_amount numeric,
               period_end timestamptz)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    v_id bigint;
    s subscriptions;
    c record;
BEGIN
    FOR v_id IN SELECT x.id FROM subscriptions x
                 WHERE x.state <> 'CANCELLED'
                   AND billing_period_end(x.billing_period,
                                          coalesce(x.billed_until, x.created_at)) <= p_now
                 ORDER BY x.subscriber_id, x.id LIMIT greatest(p_limit, 1) LOOP
        BEGIN
            s := charge_lock(v_id);    -- wallet, then subscription; DP022 if cancelled meanwhile
        EXCEPTION WHEN SQLSTATE 'DP022' THEN
            CONTINUE;
        END;
        -- re-checked under the locks: another run may have billed it meanwhile
        CONTINUE WHEN billing_period_end(s.billing_period,
                                         coalesce(s.billed_until, s.created_at)) > p_now;
        SELECT * INTO c FROM charge_performance_fee(v_id, s.profit_exact,
            'period to ' || to_char(p_now AT TIME ZONE 'UTC', 'YYYY-MM-DD'));
        UPDATE subscriptions x
           SET billed_until = date_trunc(CASE s.billing_period WHEN 'WEEKLY' THEN 'week'
                                                               ELSE 'month' END,
                                         p_now AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
         WHERE x.id = v_id;
        subscription_id := v_id;
        outcome := c.outcome;
        fee_amount := c.fee_amount;
        period_end := billing_period_end(s.billing_period, coalesce(s.billed_until, s.created_at));
        RETURN NEXT;
    END LOOP;
END
$$;

ALTER TABLE execution_pnl OWNER TO decp_money;
ALTER FUNCTION subscription_report_execution(bigint, bigint, bigint, text, bigint, bigint,
                                             numeric) OWNER TO decp_money;
ALTER FUNCTION billing_run(timestamptz, integer) OWNER TO decp_money;
ALTER FUNCTION billing_period_end(text, timestamptz) OWNER TO decp_money;
-- Functions made by decp_maintenance are not covered by 0004's default revoke.
REVOKE EXECUTE ON FUNCTION subscription_report_execution(bigint, bigint, bigint, text, bigint,
                                                         bigint, numeric),
                           billing_run(timestamptz, integer), billing_period_end(text, timestamptz)
    FROM PUBLIC;
REVOKE ALL ON execution_pnl FROM PUBLIC;
GRANT SELECT ON execution_pnl TO decp_app;
GRANT EXECUTE ON FUNCTION subscription_report_execution(bigint, bigint, bigint, text, bigint,
                                                        bigint, numeric),
                          billing_run(timestamptz, integer), billing_period_end(text, timestamptz)
    TO decp_app;
INSERT INTO money_guarded_functions
    VALUES ('subscription_report_execution'), ('billing_run'), ('billing_period_end');
INSERT INTO money_guarded_triggers VALUES ('subscriptions', 'subscriptions_profit_sync');
RESET ROLE;
REVOKE CREATE ON SCHEMA public FROM decp_money;
