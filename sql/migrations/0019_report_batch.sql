-- 0019_report_batch: subscriber reports stored exactly once, and the profit of a batch of
-- execution reports in one call (issues 18 item 5, 20 item 4; controlplane/common/cp_report.c).
--
-- subscriber_reports: the (subscriber, report_id) of every report stored (ExecutionReport
-- 14 / ProtectionEvent 13). The fan-out acknowledges a report once it is durable (in
-- Redis), the archiver may deliver a stream entry twice (a crash between COMMIT and XACK)
-- and an EA resends what was not acknowledged: a report whose key is here already is
-- skipped, so each is stored once. Rows older than the resend horizon are pruned by the
-- archiver (an EA resends only what it sent on a connection it lost).

-- trust_deliveries.late: every envelope of the run was sent more than half the guard's
-- default TTL after its arrival (the fan-out's clock against the edge's stamp). A run of
-- late sends confirms a PLATFORM_LATE_SEND claim for each sequence in it (the trust role;
-- 0009's rule compared the run's first send with the sequence's arrival, which a backlog
-- sent in one run after a stall does not meet for the sequences at its start).
-- (The trust role also confirms PLATFORM_REPLAY when the last run covering the sequence is
-- a replay, rather than only when no live run covers it: a live send on a connection cut
-- as a slow consumer before the subscriber read it is followed by the replay.)
ALTER TABLE trust_deliveries ADD COLUMN late boolean NOT NULL DEFAULT false;

CREATE TABLE subscriber_reports (
    subscriber_id bigint NOT NULL REFERENCES subscribers (id),
    report_id     bigint NOT NULL CHECK (report_id <> 0),
    stored_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (subscriber_id, report_id)
);
CREATE INDEX subscriber_reports_stored ON subscriber_reports (stored_at);
GRANT SELECT, INSERT, DELETE ON subscriber_reports TO decp_app;
--
-- subscription_report_executions(arrays) applies subscription_report_execution()'s rule
-- (0013) to many reports at once: each (subscription, sequence, ticket, status) recorded
-- once in execution_pnl, its realized profit added to the subscription's profit_exact,
-- one UPDATE per subscription and batch rather than per report (a row-by-row call took
-- ~0.3 ms a report and a fan-out's backlog of 100k reports hit the statement timeout).
-- Differences, on purpose: reports of a cancelled subscription are skipped, not refused
-- (its period is settled, 0011); a batch with any bad field, or a running profit leaving
-- performance_fee()'s domain, is refused whole (DP020) and the caller retries the reports
-- one at a time with subscription_report_execution(), which names the bad one.
-- Subscriptions are locked in ascending id, as the trust role and billing take them.

GRANT CREATE ON SCHEMA public TO decp_money;
SET LOCAL ROLE decp_maintenance;

CREATE FUNCTION subscription_report_executions(p_subscription_id bigint[], p_sequence bigint[],
                                               p_broker_ticket bigint[], p_status text[],
                                               p_volume bigint[], p_price bigint[],
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
            RETURNING subscription_id, realized_profit)
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

ALTER FUNCTION subscription_report_executions(bigint[], bigint[], bigint[], text[], bigint[],
                                              bigint[], numeric[]) OWNER TO decp_money;
REVOKE EXECUTE ON FUNCTION subscription_report_executions(bigint[], bigint[], bigint[], text[],
                                                          bigint[], bigint[], numeric[])
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION subscription_report_executions(bigint[], bigint[], bigint[], text[],
                                                         bigint[], bigint[], numeric[])
    TO decp_app;
INSERT INTO money_guarded_functions VALUES ('subscription_report_executions');
RESET ROLE;
REVOKE CREATE ON SCHEMA public FROM decp_money;
