-- 0033_exec_report_bounds: a subscriber's execution report cannot set its own fee base.
--
-- Found by an attacker review against a real pipeline: ExecutionReport{CLOSED, sequence 5,
-- a broker ticket never traded, realized_profit -10^14} was stored and profit_exact fell by
-- 10,000,000,000 (no performance fee ever due again); the same close sent again with
-- another broker ticket was a new execution_pnl row (its key is (subscription, sequence,
-- ticket, status)) and added the loss again. The server cannot see the broker, but it
-- knows which signals the master sent (docs/security.md "Execution reports"):
--
-- 1. A report's realized profit counts once per (subscription, master sequence): the first
--    report of that signal with a non-zero profit counts; any later one (another ticket,
--    another status, another report id) is recorded with not_counted = 'REPEAT'.
-- 2. Only a closing signal realizes profit: when the signal named is known to be another
--    type (the fan-out's history, passed as p_signal_type, or signal_archive.order_type),
--    a non-zero profit is recorded with not_counted = 'NOT_CLOSING'. A signal known
--    nowhere (neither in the fan-out's history nor archived yet) is taken as the report
--    says: the sequence bound (the caller, controlplane/common/cp_report.c) already
--    refuses a signal the master never sent.
-- The row is kept in both cases, for the record (execution_profit_audit below).
--
-- The 7-argument functions of 0013 / 0019 (replaced by 0032 to write profit events) stay
-- (older callers) and apply the same rules, with the type from the archive alone. A counted
-- row is a profit event as in 0032; a row not counted is none (it changes no profit; ledger
-- verify's "every execution_pnl row has its event" is about the counted ones). They are money functions (0012): replaced as
-- decp_maintenance; the new ones are money objects too.

GRANT SELECT ON signal_archive, signal_archive_keys TO decp_money;
GRANT CREATE ON SCHEMA public TO decp_money;
SET LOCAL ROLE decp_maintenance;

ALTER TABLE execution_pnl
    ADD COLUMN not_counted text CHECK (not_counted IN ('REPEAT', 'NOT_CLOSING'));

-- The type of master signal (p_master_id, p_sequence) when known: p_known (the fan-out's)
-- if it is an order type, else the archive's; NULL when neither knows it.
CREATE FUNCTION execution_signal_type(p_known text, p_master_id bigint, p_sequence bigint)
RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, public AS $$
    SELECT CASE WHEN p_known IN ('BUY', 'SELL', 'BUY_LIMIT', 'SELL_LIMIT', 'BUY_STOP',
                                 'SELL_STOP', 'CLOSE', 'MODIFY', 'CLOSE_PARTIAL')
                THEN p_known
                ELSE (SELECT a.order_type FROM signal_archive a
                       WHERE a.master_id = p_master_id AND a.sequence = p_sequence
                         AND a.order_type <> 'UNKNOWN' LIMIT 1) END
$$;

-- Why a report's realized profit is not counted, or NULL when it is: p_type is
-- execution_signal_type()'s, p_repeat whether the (subscription, sequence) has counted a
-- profit already.
CREATE FUNCTION execution_not_counted(p_profit numeric, p_type text, p_repeat boolean)
RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog AS $$
    SELECT CASE WHEN p_profit = 0 THEN NULL
                WHEN p_type IS NOT NULL AND p_type NOT IN ('CLOSE', 'CLOSE_PARTIAL')
                THEN 'NOT_CLOSING'
                WHEN p_repeat THEN 'REPEAT' END
$$;

-- 0013's rule for one report, with the signal's type as the fan-out knew it (NULL: ask the
-- archive). DP020 / DP021 / DP022 as in 0013.
CREATE FUNCTION subscription_report_execution(p_subscription_id bigint, p_sequence bigint,
                                              p_broker_ticket bigint, p_status text,
                                              p_volume bigint, p_price bigint,
                                              p_realized_profit numeric, p_signal_type text)
RETURNS TABLE (recorded boolean, cumulative_profit numeric, profit_exact numeric)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    s subscriptions;
    v_new numeric;
    v_error text;
    v_nc text;
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
    v_nc := execution_not_counted(p_realized_profit,
                execution_signal_type(p_signal_type, s.master_id, p_sequence),
                EXISTS (SELECT 1 FROM execution_pnl e
                         WHERE e.subscription_id = p_subscription_id
                           AND e.sequence = p_sequence AND e.realized_profit <> 0
                           AND e.not_counted IS NULL));
    INSERT INTO execution_pnl (subscription_id, sequence, broker_ticket, status, volume, price,
                               realized_profit, not_counted)
    VALUES (p_subscription_id, p_sequence, p_broker_ticket, p_status, p_volume, p_price,
            p_realized_profit, v_nc)
    ON CONFLICT DO NOTHING;
    IF NOT FOUND OR v_nc IS NOT NULL THEN
        RETURN QUERY SELECT FOUND, s.cumulative_profit, s.profit_exact;
        RETURN;
    END IF;
    v_new := s.profit_exact + p_realized_profit;
    v_error := performance_fee_domain_error(0, v_new, 0);
    IF v_error IS NOT NULL THEN
        RAISE EXCEPTION 'execution report: %', v_error USING ERRCODE = 'DP020';
    END IF;
    -- a counted row is a profit event (0032); a row not counted changes no profit
    PERFORM profit_event_append(p_subscription_id, 'execution', p_realized_profit, p_sequence,
                                p_broker_ticket, p_status);
    UPDATE subscriptions x SET profit_exact = v_new WHERE x.id = p_subscription_id;
    RETURN QUERY SELECT true, round(v_new, 2), v_new;
END
$$;

CREATE OR REPLACE FUNCTION subscription_report_execution(p_subscription_id bigint,
                                                         p_sequence bigint,
                                                         p_broker_ticket bigint, p_status text,
                                                         p_volume bigint, p_price bigint,
                                                         p_realized_profit numeric)
RETURNS TABLE (recorded boolean, cumulative_profit numeric, profit_exact numeric)
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT * FROM subscription_report_execution(p_subscription_id, p_sequence,
        p_broker_ticket, p_status, p_volume, p_price, p_realized_profit, NULL::text)
$$;

-- 0019's batch with the signals' types (p_signal_type: NULL elements ask the archive).
-- Within a batch the first report (in array order) of a (subscription, sequence) with a
-- counted profit wins; the others are REPEAT.
CREATE FUNCTION subscription_report_executions(p_subscription_id bigint[], p_sequence bigint[],
                                               p_broker_ticket bigint[], p_status text[],
                                               p_volume bigint[], p_price bigint[],
                                               p_realized_profit numeric[],
                                               p_signal_type text[])
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
       OR (p_signal_type IS NOT NULL AND cardinality(p_signal_type) IS DISTINCT FROM v_n)
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
        WITH u AS (
            SELECT u.s, u.q, u.t, u.st, u.v, u.pr, u.pl, u.o,
                   CASE WHEN u.pl = 0 THEN NULL
                        ELSE execution_signal_type(p_signal_type[u.o], x.master_id, u.q) END AS ty
            FROM unnest(p_subscription_id, p_sequence, p_broker_ticket, p_status, p_volume,
                        p_price, p_realized_profit) WITH ORDINALITY AS u(s, q, t, st, v, pr, pl, o)
            JOIN subscriptions x ON x.id = u.s AND x.state <> 'CANCELLED'),
        c AS (
            SELECT u.*, execution_not_counted(u.pl, u.ty,
                       EXISTS (SELECT 1 FROM execution_pnl e
                                WHERE e.subscription_id = u.s AND e.sequence = u.q
                                  AND e.realized_profit <> 0 AND e.not_counted IS NULL)
                       OR row_number() OVER (PARTITION BY u.s, u.q,
                                                 execution_not_counted(u.pl, u.ty, false) IS NULL
                                                 AND u.pl <> 0
                                             ORDER BY u.o) > 1) AS nc
            FROM u),
        ins AS (
            INSERT INTO execution_pnl (subscription_id, sequence, broker_ticket, status, volume,
                                       price, realized_profit, not_counted)
            SELECT c.s, c.q, c.t, c.st, c.v, c.pr, c.pl, c.nc FROM c ORDER BY c.o
            ON CONFLICT DO NOTHING
            RETURNING subscription_id, sequence, broker_ticket, status, realized_profit,
                      not_counted),
        -- each counted row is a profit event (0032), numbered after the subscription's
        -- last in (sequence, ticket, status) order; a row not counted changes no profit
        ev AS (
            INSERT INTO profit_events (subscription_id, seq, kind, amount, exec_sequence,
                                       exec_broker_ticket, exec_status)
            SELECT i.subscription_id,
                   b.last + row_number() OVER (PARTITION BY i.subscription_id
                                               ORDER BY i.sequence, i.broker_ticket, i.status),
                   'execution', i.realized_profit, i.sequence, i.broker_ticket, i.status
            FROM ins i
            CROSS JOIN LATERAL (SELECT coalesce(max(e.seq), 0) AS last FROM profit_events e
                                 WHERE e.subscription_id = i.subscription_id) b
            WHERE i.not_counted IS NULL)
        SELECT subscription_id, coalesce(sum(realized_profit) FILTER (WHERE not_counted IS NULL),
                                         0) AS profit, count(*) AS n
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

CREATE OR REPLACE FUNCTION subscription_report_executions(p_subscription_id bigint[],
                                                          p_sequence bigint[],
                                                          p_broker_ticket bigint[],
                                                          p_status text[], p_volume bigint[],
                                                          p_price bigint[],
                                                          p_realized_profit numeric[])
RETURNS integer
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT subscription_report_executions(p_subscription_id, p_sequence, p_broker_ticket,
        p_status, p_volume, p_price, p_realized_profit, NULL::text[])
$$;

-- Per subscription, what its reports claimed and what was counted: the operator's view of
-- a subscriber that reports losses to lower its fee (docs/security.md "Execution reports").
-- closes_counted / losses_counted: closes whose profit counted, and those that were a loss;
-- largest_loss: the largest single loss counted; repeats / not_closing: reports with a
-- profit not counted (and their sum, profit_not_counted).
CREATE VIEW execution_profit_audit AS
SELECT e.subscription_id,
       count(*) FILTER (WHERE e.not_counted IS NULL AND e.realized_profit <> 0) AS closes_counted,
       count(*) FILTER (WHERE e.not_counted IS NULL AND e.realized_profit < 0) AS losses_counted,
       coalesce(sum(e.realized_profit) FILTER (WHERE e.not_counted IS NULL), 0) AS profit_counted,
       coalesce(-min(e.realized_profit) FILTER (WHERE e.not_counted IS NULL
                                                  AND e.realized_profit < 0), 0) AS largest_loss,
       count(*) FILTER (WHERE e.not_counted = 'REPEAT') AS repeats,
       count(*) FILTER (WHERE e.not_counted = 'NOT_CLOSING') AS not_closing,
       coalesce(sum(e.realized_profit) FILTER (WHERE e.not_counted IS NOT NULL), 0)
           AS profit_not_counted
FROM execution_pnl e GROUP BY e.subscription_id;

ALTER FUNCTION execution_signal_type(text, bigint, bigint) OWNER TO decp_money;
ALTER FUNCTION execution_not_counted(numeric, text, boolean) OWNER TO decp_money;
ALTER FUNCTION subscription_report_execution(bigint, bigint, bigint, text, bigint, bigint,
                                             numeric, text) OWNER TO decp_money;
ALTER FUNCTION subscription_report_executions(bigint[], bigint[], bigint[], text[], bigint[],
                                              bigint[], numeric[], text[]) OWNER TO decp_money;
ALTER VIEW execution_profit_audit OWNER TO decp_money;
REVOKE EXECUTE ON FUNCTION execution_signal_type(text, bigint, bigint),
                           execution_not_counted(numeric, text, boolean),
                           subscription_report_execution(bigint, bigint, bigint, text, bigint,
                                                         bigint, numeric, text),
                           subscription_report_executions(bigint[], bigint[], bigint[], text[],
                                                          bigint[], bigint[], numeric[], text[])
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION subscription_report_execution(bigint, bigint, bigint, text, bigint,
                                                        bigint, numeric, text),
                          subscription_report_executions(bigint[], bigint[], bigint[], text[],
                                                         bigint[], bigint[], numeric[], text[])
    TO decp_app;
REVOKE ALL ON execution_profit_audit FROM PUBLIC;
GRANT SELECT ON execution_profit_audit TO decp_app;
INSERT INTO money_guarded_functions VALUES ('execution_signal_type'), ('execution_not_counted');
RESET ROLE;
REVOKE CREATE ON SCHEMA public FROM decp_money;
