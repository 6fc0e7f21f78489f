-- 0032_profit_events: every change of a subscription's profit is recorded, so `decpctl ledger
-- verify` can replay it (docs/database.md "Profit events").
--
-- Found by a review: profit_exact / cumulative_profit decide what is charged (0031), but
-- only executions left a row (execution_pnl, without an order), while the three explicit
-- writers (charge_performance_fee, subscription_record_profit, subscription_cancel with a
-- profit) and the carry-over of a pair's profit at a new subscription (0011/0028) left none,
-- a NO_FEE charge not even a ledger row. A superuser who became decp_money (past 0031) and
-- lowered a profit below the HWM left its fee uncharged, and verify could not tell.
--
-- profit_events: append-only, one row per change, numbered per subscription (seq 1, 2, ...,
-- taken under the subscription's row lock that every writer holds already):
--   carry      the value a new subscription starts with (AFTER INSERT trigger
--              subscriptions_profit_carry): its pair's last settled cumulative_profit
--              (carried_from names that subscription), or 0 without one;
--   set        an explicit profit (the three functions above, NO_FEE included; also the
--              backfill below, after the executions it had): profit_exact becomes amount;
--   execution  one per execution_pnl row, amount = its realized_profit, keyed by it
--              (exec_*): profit_exact += amount.
-- So profit_exact = the last set/carry's amount + the executions after it, and
-- cumulative_profit = round(profit_exact, 2) (subscriptions_profit_sync, 0013).
--
-- The sub-cent rule, simplified. 0013's sync trigger, on an explicit profit, compared the
-- new cumulative_profit (cents) with the old one: equal cents kept profit_exact's fraction,
-- different ones dropped it, so the result depended on the value before. An explicit
-- profit now sets profit_exact itself, to the value given (the fee domain already refuses
-- more than 4 decimals, 0010), and the trigger rounds it into cumulative_profit: the value
-- is what the caller said, never what was there before. billing_run passes profit_exact,
-- so a periodic charge keeps the fraction as it did; an operator's 1500.00 over a profit of
-- 1500.0049 now gives 1500.0000 (it kept 1500.0049), a 4-decimal 1500.1234 gives 1500.1234
-- (it gave 1500.12). Fees are computed on the value given either way (performance_fee).
--
-- The table is a money object (owned by decp_money, guarded); decp_app may only read it.
-- The events are not in the ledger's hash chain: a superuser who forges matching events
-- with a change of profit is not caught; one who changes subscriptions alone is.
GRANT TRIGGER ON subscriptions TO decp_maintenance;
GRANT CREATE ON SCHEMA public TO decp_money;
SET LOCAL ROLE decp_maintenance;

CREATE TABLE profit_events (
    subscription_id    bigint NOT NULL REFERENCES subscriptions (id),
    seq                bigint NOT NULL CHECK (seq >= 1),
    kind               text NOT NULL CHECK (kind IN ('carry', 'set', 'execution')),
    amount             numeric(24,4) NOT NULL,   -- as profit_exact
    exec_sequence      bigint,
    exec_broker_ticket bigint,
    exec_status        text,
    carried_from       bigint REFERENCES subscriptions (id),
    created_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (subscription_id, seq),
    -- an execution names its execution_pnl row (at most once); nothing else does
    UNIQUE (subscription_id, exec_sequence, exec_broker_ticket, exec_status),
    FOREIGN KEY (subscription_id, exec_sequence, exec_broker_ticket, exec_status)
        REFERENCES execution_pnl (subscription_id, sequence, broker_ticket, status),
    CHECK (CASE kind
        WHEN 'execution' THEN exec_sequence IS NOT NULL AND exec_broker_ticket IS NOT NULL
                              AND exec_status IS NOT NULL AND carried_from IS NULL
        WHEN 'carry' THEN exec_sequence IS NULL AND exec_broker_ticket IS NULL
                          AND exec_status IS NULL
        ELSE exec_sequence IS NULL AND exec_broker_ticket IS NULL AND exec_status IS NULL
             AND carried_from IS NULL
    END)
);

-- Append-only as billing_ledger (0002) and ledger_checkpoints (0012), by the same function,
-- which now names the table it refuses (it said billing_ledger for the checkpoints too).
CREATE OR REPLACE FUNCTION billing_ledger_refuse() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'DP010';
END
$$;
CREATE TRIGGER profit_events_no_update BEFORE UPDATE OR DELETE ON profit_events
    FOR EACH ROW EXECUTE FUNCTION billing_ledger_refuse();
CREATE TRIGGER profit_events_no_update_stmt BEFORE UPDATE OR DELETE ON profit_events
    FOR EACH STATEMENT EXECUTE FUNCTION billing_ledger_refuse();
CREATE TRIGGER profit_events_no_truncate BEFORE TRUNCATE ON profit_events
    FOR EACH STATEMENT EXECUTE FUNCTION billing_ledger_refuse();

-- Backfill. The history before cannot be rebuilt (sets left no trace), so each
-- subscription's replay starts from one set of its profit now; its execution_pnl rows so
-- far come first as executions (every row has its event; a replay ignores executions
-- before the first set or carry).
INSERT INTO profit_events (subscription_id, seq, kind, amount, exec_sequence,
                           exec_broker_ticket, exec_status)
    SELECT subscription_id,
           row_number() OVER (PARTITION BY subscription_id
                              ORDER BY reported_at, sequence, broker_ticket, status),
           'execution', realized_profit, sequence, broker_ticket, status
      FROM execution_pnl;
INSERT INTO profit_events (subscription_id, seq, kind, amount)
    SELECT s.id, 1 + (SELECT count(*) FROM execution_pnl p WHERE p.subscription_id = s.id),
           'set', s.profit_exact
      FROM subscriptions s;

-- Append one event to the subscription's profit history. The caller holds the
-- subscription's row lock (so the next seq is its own) and changes profit_exact in the
-- same transaction. p_exec_*: the execution_pnl row of an execution; p_carried_from: the
-- subscription a carry comes from.
CREATE FUNCTION profit_event_append(p_subscription_id bigint, p_kind text, p_amount numeric,
                                    p_exec_sequence bigint DEFAULT NULL,
                                    p_exec_broker_ticket bigint DEFAULT NULL,
                                    p_exec_status text DEFAULT NULL,
                                    p_carried_from bigint DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    INSERT INTO profit_events (subscription_id, seq, kind, amount, exec_sequence,
                               exec_broker_ticket, exec_status, carried_from)
    SELECT p_subscription_id, coalesce(max(e.seq), 0) + 1, p_kind, p_amount, p_exec_sequence,
           p_exec_broker_ticket, p_exec_status, p_carried_from
      FROM profit_events e WHERE e.subscription_id = p_subscription_id;
END
$$;

-- An explicit profit: profit_exact becomes p_profit (cumulative_profit its cents, by the
-- sync trigger), and its set event. p_profit is in the fee domain (the callers check it).
-- The caller holds the subscription's row lock.
CREATE FUNCTION subscription_profit_set(p_subscription_id bigint, p_profit numeric)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    UPDATE subscriptions x SET profit_exact = p_profit WHERE x.id = p_subscription_id;
    PERFORM profit_event_append(p_subscription_id, 'set', p_profit);
END
$$;

-- AFTER INSERT: the profit a new subscription starts with (subscriptions_continue carried
-- its pair's, 0011/0028; subscriptions_profit_sync made it profit_exact).
CREATE FUNCTION subscriptions_profit_carry() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    PERFORM profit_event_append(NEW.id, 'carry', NEW.profit_exact,
                                p_carried_from => (subscription_pair_last(NEW.master_id,
                                                                          NEW.subscriber_id)).id);
    RETURN NULL;
END
$$;
CREATE TRIGGER subscriptions_profit_carry AFTER INSERT ON subscriptions
    FOR EACH ROW EXECUTE FUNCTION subscriptions_profit_carry();

-- 0011's, with the profit set through subscription_profit_set (an event, NO_FEE too).
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
    PERFORM subscription_profit_set(s.id, p_new_profit);
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

-- 0011's, with the profit set through subscription_profit_set.
CREATE OR REPLACE FUNCTION subscription_cancel(p_subscription_id bigint,
                                               p_reason text DEFAULT NULL,
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
        PERFORM subscription_profit_set(p_subscription_id, p_profit);
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

-- 0011's, with the profit set through subscription_profit_set. Returns the cents, as
-- before.
CREATE OR REPLACE FUNCTION subscription_record_profit(p_subscription_id bigint,
                                                      p_profit numeric)
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
    PERFORM subscription_profit_set(p_subscription_id, p_profit);
    RETURN round(p_profit, 2);
END
$$;

-- 0013's, with the execution's event.
CREATE OR REPLACE FUNCTION subscription_report_execution(p_subscription_id bigint,
                                                         p_sequence bigint,
                                                         p_broker_ticket bigint,
                                                         p_status text, p_volume bigint,
                                                         p_price bigint,
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
    PERFORM profit_event_append(p_subscription_id, 'execution', p_realized_profit, p_sequence,
                                p_broker_ticket, p_status);
    UPDATE subscriptions x SET profit_exact = v_new WHERE x.id = p_subscription_id;
    RETURN QUERY SELECT true, round(v_new, 2), v_new;
END
$$;

-- 0019's, with one event per execution_pnl row recorded, numbered after the
-- subscription's last event in (sequence, ticket, status) order (a batch adds, so its
-- order within does not change the sum).
CREATE OR REPLACE FUNCTION subscription_report_executions(p_subscription_id bigint[],
                                                          p_sequence bigint[],
                                                          p_broker_ticket bigint[],
                                                          p_status text[],
                                                          p_volume bigint[],
                                                          p_price bigint[],
                                                          p_realized_profit numeric[])
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    v_n integer := cardinality(p_subscription_id);
    v_recorded integer := 0;
    v_new numeric;
    v_error text;
    r record;
BEGIN
    IF v_n IS NULL OR v_n = 0 THEN
        RETURN 0;
    END IF;
    IF cardinality(p_sequence) IS DISTINCT FROM v_n
       OR cardinality(p_broker_ticket) IS DISTINCT FROM v_n
       OR cardinality(p_status) IS DISTINCT FROM v_n
       OR cardinality(p_volume) IS DISTINCT FROM v_n
       OR cardinality(p_price) IS DISTINCT FROM v_n
       OR cardinality(p_realized_profit) IS DISTINCT FROM v_n
       OR EXISTS (SELECT 1 FROM unnest(p_subscription_id, p_sequence, p_broker_ticket, p_status,
                                       p_volume, p_price, p_realized_profit)
                                AS u(s, q, t, st, v, pr, pl)
                  WHERE s IS NULL OR st IS NULL OR st NOT IN ('FILLED', 'PARTIAL', 'CLOSED')
                     OR q IS NULL OR q < 1 OR t IS NULL OR t < 0 OR v IS NULL OR v < 0
                     OR pr IS NULL OR pr < 0 OR pl IS NULL OR pl <> round(pl, 4)) THEN
        RAISE EXCEPTION 'execution reports: bad field in the batch' USING ERRCODE = 'DP020';
    END IF;
    PERFORM 1 FROM subscriptions x WHERE x.id = ANY (p_subscription_id)
        ORDER BY x.id FOR UPDATE;
    FOR r IN
        WITH ins AS (
            INSERT INTO execution_pnl (subscription_id, sequence, broker_ticket, status, volume,
                                       price, realized_profit)
            SELECT u.s, u.q, u.t, u.st, u.v, u.pr, u.pl
            FROM unnest(p_subscription_id, p_sequence, p_broker_ticket, p_status, p_volume,
                        p_price, p_realized_profit) AS u(s, q, t, st, v, pr, pl)
            JOIN subscriptions x ON x.id = u.s AND x.state <> 'CANCELLED'
            ON CONFLICT DO NOTHING
            RETURNING subscription_id, sequence, broker_ticket, status, realized_profit),
        ev AS (
            INSERT INTO profit_events (subscription_id, seq, kind, amount, exec_sequence,
                                       exec_broker_ticket, exec_status)
            SELECT i.subscription_id,
                   b.last + row_number() OVER (PARTITION BY i.subscription_id
                                               ORDER BY i.sequence, i.broker_ticket, i.status),
                   'execution', i.realized_profit, i.sequence, i.broker_ticket, i.status
            FROM ins i
            CROSS JOIN LATERAL (SELECT coalesce(max(e.seq), 0) AS last FROM profit_events e
                                 WHERE e.subscription_id = i.subscription_id) b)
        SELECT subscription_id, sum(realized_profit) AS profit, count(*) AS n
        FROM ins GROUP BY subscription_id ORDER BY subscription_id
    LOOP
        v_recorded := v_recorded + r.n;
        CONTINUE WHEN r.profit = 0;
        UPDATE subscriptions x SET profit_exact = x.profit_exact + r.profit
            WHERE x.id = r.subscription_id RETURNING x.profit_exact INTO v_new;
        v_error := performance_fee_domain_error(0, v_new, 0);
        IF v_error IS NOT NULL THEN
            RAISE EXCEPTION 'execution reports: %', v_error USING ERRCODE = 'DP020';
        END IF;
    END LOOP;
    RETURN v_recorded;
END
$$;

ALTER TABLE profit_events OWNER TO decp_money;
ALTER FUNCTION profit_event_append(bigint, text, numeric, bigint, bigint, text, bigint)
    OWNER TO decp_money;
ALTER FUNCTION subscription_profit_set(bigint, numeric) OWNER TO decp_money;
ALTER FUNCTION subscriptions_profit_carry() OWNER TO decp_money;
REVOKE ALL ON profit_events FROM PUBLIC;
GRANT SELECT ON profit_events TO decp_app;
REVOKE EXECUTE ON FUNCTION profit_event_append(bigint, text, numeric, bigint, bigint, text,
                                               bigint),
                           subscription_profit_set(bigint, numeric),
                           subscriptions_profit_carry() FROM PUBLIC;
INSERT INTO money_guarded_functions VALUES ('profit_event_append'),
                                           ('subscription_profit_set'),
                                           ('subscriptions_profit_carry');
INSERT INTO money_guarded_triggers VALUES
    ('profit_events', 'profit_events_no_update'),
    ('profit_events', 'profit_events_no_update_stmt'),
    ('profit_events', 'profit_events_no_truncate'),
    ('subscriptions', 'subscriptions_profit_carry');
RESET ROLE;
REVOKE CREATE ON SCHEMA public FROM decp_money;
REVOKE TRIGGER ON subscriptions FROM decp_maintenance;
