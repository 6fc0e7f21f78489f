-- 0035_profit_chain: the profit events (0032) in a hash chain, and in the checkpoints.
--
-- Found by a review: profit_events decide performance fees (every change of a profit is
-- one), and `decpctl ledger verify` replays them, but they were not hash-chained as the
-- ledger is (0012). A superuser with the triggers off (session_replication_role = replica)
-- who rewrote an event and the profit consistently lowered a fee base undetected.
--
-- 1. Every event carries row_hash = SHA-256(prev_hash || content), prev_hash being the
--    row_hash of the subscription's previous event (seq - 1; 32 zero bytes for seq 1),
--    content the length-prefixed text of its columns (profit_event_content(), as
--    ledger_row_content(): each column "<octets>:<text>" or "-" for NULL, created_at as
--    epoch seconds). The BEFORE INSERT trigger profit_events_chain computes it and refuses
--    an event whose predecessor is missing (DP010). The events before are chained here, in
--    (subscription_id, seq) order. `decpctl ledger verify` recomputes it in C.
-- 2. A checkpoint covers the profit chains too: ledger_checkpoints gains profit_events
--    (events covered: the sum of each subscription's last seq), profit_subscriptions and
--    profit_head = SHA-256 over "<subscription_id>:<seq>:<row_hash hex>\n" of every
--    subscription's last event, in subscription order (profit_chain_head()), filled by
--    ledger_checkpoint(). Checkpoints taken before have NULLs there and are verified as
--    before. A consistent re-hash of a subscription's events is caught by a checkpoint
--    kept outside the database (the archiver's log line, `decpctl ledger head
--    --checkpoint`).
-- 3. One moment for both heads: ledger_checkpoint() holds a SHARE lock on billing_ledger
--    (0012); the chain trigger takes ROW EXCLUSIVE on billing_ledger before it stamps the
--    event, so a checkpoint waits for every transaction that has appended an event to
--    commit, and an event appended after it waits for the checkpoint. The trigger sets
--    created_at to clock_timestamp() after that lock (it was now(), the transaction's
--    start, which an event blocked behind a checkpoint could have before the checkpoint's
--    taken_at): every event with created_at <= taken_at is in the checkpoint and none after,
--    as for the ledger rows, and verify recomputes an old checkpoint from that. Locking
--    billing_ledger rather than profit_events: a writer appends events and ledger rows in
--    either order (billing_run, a subscription's creation), so a checkpoint that locked
--    both tables could deadlock with one; this way it waits on one lock only.
--
-- subscription_report_executions (0033's, 8 arguments) inserts several events of one
-- subscription in one INSERT: each event's trigger sees the rows the same INSERT wrote
-- before it, so they are inserted in seq order now (ORDER BY), else an event whose
-- predecessor came later would be refused. profit_event_append writes one row.
GRANT CREATE ON SCHEMA public TO decp_money;
SET LOCAL ROLE decp_maintenance;

ALTER TABLE profit_events ADD COLUMN prev_hash bytea, ADD COLUMN row_hash bytea;

-- The hashed text of an event: every column but the hashes, in table order. decpctl's
-- verifier builds the same string (tools/decpctl/ctl_cmd_ledger.c, PROFIT_QUERY); a change
-- here is a new chain version. PL/pgSQL for the reason given in 0012.
CREATE FUNCTION profit_event_content(r profit_events) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, public AS $$
BEGIN
    RETURN ledger_field(r.subscription_id::text) || ledger_field(r.seq::text)
        || ledger_field(r.kind) || ledger_field(r.amount::text)
        || ledger_field(r.exec_sequence::text) || ledger_field(r.exec_broker_ticket::text)
        || ledger_field(r.exec_status) || ledger_field(r.carried_from::text)
        || ledger_field(extract(epoch FROM r.created_at)::text);
END
$$;

CREATE FUNCTION profit_event_hash(p_prev bytea, r profit_events) RETURNS bytea
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, public AS $$
BEGIN
    RETURN sha256(p_prev || convert_to(profit_event_content(r), 'UTF8'));
END
$$;

-- Chain the events written before, subscription by subscription in seq order. The
-- append-only triggers are off for this only, as decp_maintenance (0012 did the same for
-- the ledger), and on again below.
ALTER TABLE profit_events DISABLE TRIGGER profit_events_no_update;
ALTER TABLE profit_events DISABLE TRIGGER profit_events_no_update_stmt;
DO $$
DECLARE
    r profit_events;
    v_prev bytea;
    v_sub bigint;
BEGIN
    FOR r IN SELECT * FROM profit_events ORDER BY subscription_id, seq LOOP
        IF v_sub IS DISTINCT FROM r.subscription_id THEN
            v_prev := '\x0000000000000000000000000000000000000000000000000000000000000000';
            v_sub := r.subscription_id;
        END IF;
        UPDATE profit_events SET prev_hash = v_prev, row_hash = profit_event_hash(v_prev, r)
         WHERE subscription_id = r.subscription_id AND seq = r.seq
        RETURNING row_hash INTO v_prev;
    END LOOP;
END
$$;
ALTER TABLE profit_events ENABLE TRIGGER profit_events_no_update;
ALTER TABLE profit_events ENABLE TRIGGER profit_events_no_update_stmt;
ALTER TABLE profit_events
    ALTER COLUMN prev_hash SET NOT NULL,
    ALTER COLUMN row_hash SET NOT NULL,
    ALTER COLUMN created_at SET DEFAULT clock_timestamp(),
    ADD CONSTRAINT profit_events_hash_length
        CHECK (octet_length(prev_hash) = 32 AND octet_length(row_hash) = 32);

-- BEFORE INSERT: stamp the event (after the checkpoint's lock, see 3. above), link it to
-- the subscription's previous one and hash it. An event whose predecessor is missing (a
-- gap in seq) is refused. Whatever the inserter wrote into created_at and the hash
-- columns is overwritten.
CREATE FUNCTION profit_events_chain() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
    v_prev bytea;
BEGIN
    LOCK TABLE billing_ledger IN ROW EXCLUSIVE MODE;
    NEW.created_at := clock_timestamp();
    IF NEW.seq = 1 THEN
        v_prev := '\x0000000000000000000000000000000000000000000000000000000000000000';
    ELSE
        SELECT e.row_hash INTO v_prev FROM profit_events e
         WHERE e.subscription_id = NEW.subscription_id AND e.seq = NEW.seq - 1;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'profit_events: subscription % has no event % before event %',
                NEW.subscription_id, NEW.seq - 1, NEW.seq USING ERRCODE = 'DP010';
        END IF;
    END IF;
    NEW.prev_hash := v_prev;
    NEW.row_hash := profit_event_hash(v_prev, NEW);
    RETURN NEW;
END
$$;
CREATE TRIGGER profit_events_chain BEFORE INSERT ON profit_events
    FOR EACH ROW EXECUTE FUNCTION profit_events_chain();

-- 0033's batch, unchanged but for the events inserted in seq order per subscription (the
-- chain trigger links each to the one before, which must be there already).
CREATE OR REPLACE FUNCTION subscription_report_executions(p_subscription_id bigint[],
                                                          p_sequence bigint[],
                                                          p_broker_ticket bigint[],
                                                          p_status text[],
                                                          p_volume bigint[],
                                                          p_price bigint[],
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
        -- last in (sequence, ticket, status) order and inserted in that order (0035: the
        -- chain trigger links each to its predecessor); a row not counted changes no profit
        ev AS (
            INSERT INTO profit_events (subscription_id, seq, kind, amount, exec_sequence,
                                       exec_broker_ticket, exec_status)
            SELECT n.subscription_id, n.seq, 'execution', n.realized_profit, n.sequence,
                   n.broker_ticket, n.status
            FROM (SELECT i.subscription_id,
                         b.last + row_number() OVER (PARTITION BY i.subscription_id
                                                     ORDER BY i.sequence, i.broker_ticket,
                                                              i.status) AS seq,
                         i.realized_profit, i.sequence, i.broker_ticket, i.status
                  FROM ins i
                  CROSS JOIN LATERAL (SELECT coalesce(max(e.seq), 0) AS last
                                        FROM profit_events e
                                       WHERE e.subscription_id = i.subscription_id) b
                  WHERE i.not_counted IS NULL) n
            ORDER BY n.subscription_id, n.seq)
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

-- ------------------------------------------------------------------ checkpoints

-- The profit chains' head: SHA-256 over "<subscription_id>:<seq>:<row_hash hex>\n" of
-- every subscription's last event, in subscription order (decpctl computes the same from
-- its own recomputation). events = events covered (seq has no gaps).
CREATE FUNCTION profit_chain_head(OUT events bigint, OUT subscriptions bigint, OUT head text)
LANGUAGE sql STABLE SET search_path = pg_catalog, public AS $$
    SELECT coalesce(sum(e.seq), 0)::bigint, count(*),
           encode(sha256(convert_to(coalesce(string_agg(
               s.id || ':' || e.seq || ':' || encode(e.row_hash, 'hex') || E'\n', ''
               ORDER BY s.id), ''), 'UTF8')), 'hex')
      FROM subscriptions s
      CROSS JOIN LATERAL (SELECT x.seq, x.row_hash FROM profit_events x
                           WHERE x.subscription_id = s.id ORDER BY x.seq DESC LIMIT 1) e
$$;

ALTER TABLE ledger_checkpoints
    ADD COLUMN profit_events bigint,
    ADD COLUMN profit_subscriptions bigint,
    ADD COLUMN profit_head text CHECK (profit_head ~ '^[0-9a-f]{64}$'),
    ADD CONSTRAINT ledger_checkpoints_profit_all_or_none
        CHECK ((profit_events IS NULL) = (profit_head IS NULL)
               AND (profit_subscriptions IS NULL) = (profit_head IS NULL));

-- 0012's, with the profit head: both of one moment (see 3. above).
CREATE OR REPLACE FUNCTION ledger_checkpoint() RETURNS ledger_checkpoints
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    h record;
    p record;
    c ledger_checkpoints;
BEGIN
    LOCK TABLE billing_ledger IN SHARE MODE;
    SELECT * INTO h FROM ledger_chain_head();
    SELECT * INTO p FROM profit_chain_head();
    INSERT INTO ledger_checkpoints (rows, wallets, head, profit_events, profit_subscriptions,
                                    profit_head)
    VALUES (h.rows, h.wallets, h.head, p.events, p.subscriptions, p.head)
    RETURNING * INTO c;
    RETURN c;
END
$$;

ALTER FUNCTION profit_event_content(profit_events) OWNER TO decp_money;
ALTER FUNCTION profit_event_hash(bytea, profit_events) OWNER TO decp_money;
ALTER FUNCTION profit_events_chain() OWNER TO decp_money;
ALTER FUNCTION profit_chain_head() OWNER TO decp_money;
REVOKE EXECUTE ON FUNCTION profit_event_content(profit_events),
                           profit_event_hash(bytea, profit_events),
                           profit_events_chain(), profit_chain_head() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION profit_chain_head() TO decp_app;
INSERT INTO money_guarded_functions VALUES ('profit_event_content'), ('profit_event_hash'),
                                           ('profit_events_chain'), ('profit_chain_head');
INSERT INTO money_guarded_triggers VALUES ('profit_events', 'profit_events_chain');
RESET ROLE;
REVOKE CREATE ON SCHEMA public FROM decp_money;
