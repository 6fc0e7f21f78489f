-- 0012_ledger_guard: money that is never rewritten (issue 20 item 3; SPEC §4).
--
-- 1. Owner-proof. The money tables (user_wallets, billing_ledger, ledger_checkpoints)
--    and every money function are owned by decp_money, a NOLOGIN role nobody logs in
--    as: the migrating role no longer owns them, so it cannot ALTER them, disable their
--    triggers or change their rows. The SECURITY DEFINER money functions run as
--    decp_money and remain the only way money moves.
-- 2. An event trigger (money_ddl_guard) refuses, with SQLSTATE DP012, every DDL command
--    on an object owned by decp_money or a trigger that calls one of its functions
--    (ALTER TABLE ... DISABLE TRIGGER, CREATE OR REPLACE FUNCTION, DROP ...), and after
--    every DDL command checks that the money tables and their guarding triggers are all
--    still there and enabled - for every role, superusers included, except the named
--    maintenance role decp_maintenance (NOLOGIN; SET ROLE decp_maintenance by a member
--    is the deliberate act a future migration on money objects needs).
-- 3. user_wallets follows its ledger: a wallet row may change only to the state the
--    ledger row it has just appended describes (trigger user_wallets_follow_ledger,
--    DP011), so "wallet 1480.00, ledger 980.00" is refused even for decp_money.
-- 4. Tamper-evident. Every ledger row carries row_hash = SHA-256(prev_hash || content),
--    prev_hash being the row_hash of the wallet's previous row (32 zero bytes for
--    entry 1), content the length-prefixed text of its columns (ledger_row_content()).
--    The database computes it (BEFORE INSERT trigger billing_ledger_chain); `decpctl
--    ledger verify` recomputes it in C, with the wallets, and names the first row that
--    does not match. ledger_checkpoint() records the chain head (SHA-256 over each
--    wallet's last row) in ledger_checkpoints, append-only; the archiver logs it.
--
-- What no database can prevent: a superuser with session_replication_role = replica
-- (triggers and event triggers off) or a superuser dropping the event trigger. Such a
-- change is found by `decpctl ledger verify` (tests/money/test_ledger_verify.sh).
--
-- Creating an event trigger needs a superuser: this migration refuses to run otherwise.
-- New SQLSTATEs: DP011 wallet changed without its ledger row, DP012 money DDL refused.

DO $$
BEGIN
    IF NOT (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
        RAISE EXCEPTION '0012_ledger_guard needs a superuser (it creates an event trigger'
            ' and hands the money tables to decp_money); run decp-migrate as one'
            USING ERRCODE = '42501';
    END IF;
END
$$;

-- Roles are per cluster, hence the existence check (as decp_app in 0001).
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['decp_money', 'decp_maintenance'] LOOP
        BEGIN
            IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r) THEN
                EXECUTE format('CREATE ROLE %I NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE'
                               ' NOREPLICATION', r);
            END IF;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;
        END;
    END LOOP;
END
$$;

-- The maintenance role acts with the money owner's rights (and is let through by the
-- event trigger below); it logs in as nobody: a DBA who is granted it uses SET ROLE.
GRANT decp_money TO decp_maintenance;

-- ---------------------------------------------------------------- hash chain

-- The hashed text of a ledger row: every column but the hashes, in a fixed order, each
-- as "<octets>:<text>" or "-" for NULL, so no two rows share a content. Numbers in
-- their canonical text, created_at as epoch seconds (independent of TimeZone and
-- DateStyle). decpctl's verifier builds the same string from the same columns
-- (tools/decpctl/ctl_cmd_ledger.c); a change here is a new chain version.
-- PL/pgSQL rather than SQL functions: called once per appended row from the chain
-- trigger, a SQL function with a row argument is planned again on every call, which
-- made a deposit 2.5 times slower; PL/pgSQL keeps its expression plans.
-- ledger_field has no SET search_path (a GUC change per call, 18 per row): it is only
-- called by ledger_row_content, whose own setting applies to it.
CREATE FUNCTION ledger_field(v text) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN CASE WHEN v IS NULL THEN '-' ELSE octet_length(v) || ':' || v END;
END
$$;

CREATE FUNCTION ledger_row_content(r billing_ledger) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, public AS $$
BEGIN
    RETURN ledger_field(r.id::text) || ledger_field(r.subscriber_id::text)
        || ledger_field(r.entry_no::text) || ledger_field(r.subscription_id::text)
        || ledger_field(r.entry_type) || ledger_field(r.amount::text)
        || ledger_field(r.balance_before::text) || ledger_field(r.balance_after::text)
        || ledger_field(r.reserved_before::text) || ledger_field(r.reserved_after::text)
        || ledger_field(r.receivable_before::text) || ledger_field(r.receivable_after::text)
        || ledger_field(r.hwm_before::text) || ledger_field(r.hwm_after::text)
        || ledger_field(r.profit::text) || ledger_field(r.fee_pct::text)
        || ledger_field(r.reference)
        || ledger_field(extract(epoch FROM r.created_at)::text);
END
$$;

CREATE FUNCTION ledger_row_hash(p_prev bytea, r billing_ledger) RETURNS bytea
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, public AS $$
BEGIN
    RETURN sha256(p_prev || convert_to(ledger_row_content(r), 'UTF8'));
END
$$;

ALTER TABLE billing_ledger ADD COLUMN prev_hash bytea, ADD COLUMN row_hash bytea;

-- Chain the rows written before this migration, wallet by wallet in entry order.
ALTER TABLE billing_ledger DISABLE TRIGGER billing_ledger_no_update;
ALTER TABLE billing_ledger DISABLE TRIGGER billing_ledger_no_update_stmt;
DO $$
DECLARE
    r billing_ledger;
    v_prev bytea;
    v_wallet bigint;
BEGIN
    FOR r IN SELECT * FROM billing_ledger ORDER BY subscriber_id, entry_no LOOP
        IF v_wallet IS DISTINCT FROM r.subscriber_id THEN
            v_prev := '\x0000000000000000000000000000000000000000000000000000000000000000';
            v_wallet := r.subscriber_id;
        END IF;
        UPDATE billing_ledger SET prev_hash = v_prev, row_hash = ledger_row_hash(v_prev, r)
         WHERE id = r.id RETURNING row_hash INTO v_prev;
    END LOOP;
END
$$;
ALTER TABLE billing_ledger ENABLE TRIGGER billing_ledger_no_update;
ALTER TABLE billing_ledger ENABLE TRIGGER billing_ledger_no_update_stmt;
ALTER TABLE billing_ledger
    ALTER COLUMN prev_hash SET NOT NULL,
    ALTER COLUMN row_hash SET NOT NULL,
    ADD CONSTRAINT billing_ledger_hash_length
        CHECK (octet_length(prev_hash) = 32 AND octet_length(row_hash) = 32);

-- BEFORE INSERT: link the row to the wallet's previous one and hash it. A row whose
-- predecessor is missing (a gap in entry_no) is refused. Whatever the inserter wrote
-- into the hash columns is overwritten.
CREATE FUNCTION billing_ledger_chain() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
    v_prev bytea;
BEGIN
    IF NEW.entry_no = 1 THEN
        v_prev := '\x0000000000000000000000000000000000000000000000000000000000000000';
    ELSE
        SELECT l.row_hash INTO v_prev FROM billing_ledger l
         WHERE l.subscriber_id = NEW.subscriber_id AND l.entry_no = NEW.entry_no - 1;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'billing_ledger: wallet % has no entry % before entry %',
                NEW.subscriber_id, NEW.entry_no - 1, NEW.entry_no USING ERRCODE = 'DP010';
        END IF;
    END IF;
    NEW.prev_hash := v_prev;
    NEW.row_hash := ledger_row_hash(v_prev, NEW);
    RETURN NEW;
END
$$;
CREATE TRIGGER billing_ledger_chain BEFORE INSERT ON billing_ledger
    FOR EACH ROW EXECUTE FUNCTION billing_ledger_chain();

-- ---------------------------------------------------------- wallets follow the ledger

-- A wallet is created empty, changes only to what the ledger row it has just appended
-- says (entry ledger_seq + 1), and is never deleted.
CREATE FUNCTION user_wallets_follow_ledger() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
    l billing_ledger;
    v_fee numeric;
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.balance_usd <> 0 OR NEW.reserved_usd <> 0 OR NEW.receivable_usd <> 0
           OR NEW.lifetime_fees <> 0 OR NEW.ledger_seq <> 0 THEN
            RAISE EXCEPTION 'wallet %: a wallet starts empty', NEW.subscriber_id
                USING ERRCODE = 'DP011';
        END IF;
        RETURN NEW;
    END IF;
    IF TG_OP = 'DELETE' OR TG_OP = 'TRUNCATE' THEN
        RAISE EXCEPTION 'user_wallets: % refused', TG_OP USING ERRCODE = 'DP011';
    END IF;
    SELECT * INTO l FROM billing_ledger x
     WHERE x.subscriber_id = NEW.subscriber_id AND x.entry_no = NEW.ledger_seq;
    v_fee := CASE WHEN l.entry_type IN ('FEE_PERFORMANCE', 'FEE_SUBSCRIPTION', 'RECEIVABLE',
                                        'RECEIVABLE_PAID') THEN -l.amount ELSE 0 END;
    IF NOT FOUND OR NEW.subscriber_id <> OLD.subscriber_id
       OR NEW.ledger_seq <> OLD.ledger_seq + 1
       OR NEW.balance_usd <> l.balance_after OR NEW.reserved_usd <> l.reserved_after
       OR NEW.receivable_usd <> l.receivable_after
       OR NEW.lifetime_fees <> OLD.lifetime_fees + v_fee THEN
        RAISE EXCEPTION 'wallet %: changed without its ledger row (entry %)',
            OLD.subscriber_id, NEW.ledger_seq USING ERRCODE = 'DP011';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER user_wallets_follow_ledger BEFORE INSERT OR UPDATE OR DELETE ON user_wallets
    FOR EACH ROW EXECUTE FUNCTION user_wallets_follow_ledger();
CREATE TRIGGER user_wallets_no_truncate BEFORE TRUNCATE ON user_wallets
    FOR EACH STATEMENT EXECUTE FUNCTION user_wallets_follow_ledger();

-- ------------------------------------------------------------------ checkpoints

-- The chain head: SHA-256 over "<subscriber_id>:<entry_no>:<row_hash hex>\n" of every
-- wallet's last row, in subscriber order (decpctl computes the same from its own
-- recomputation). rows = ledger rows covered.
CREATE FUNCTION ledger_chain_head(OUT rows bigint, OUT wallets bigint, OUT head text)
LANGUAGE sql STABLE SET search_path = pg_catalog, public AS $$
    SELECT coalesce(sum(w.ledger_seq), 0)::bigint, count(*),
           encode(sha256(convert_to(coalesce(string_agg(
               w.subscriber_id || ':' || w.ledger_seq || ':' || encode(l.row_hash, 'hex')
               || E'\n', '' ORDER BY w.subscriber_id), ''), 'UTF8')), 'hex')
      FROM user_wallets w
      JOIN billing_ledger l ON l.subscriber_id = w.subscriber_id AND l.entry_no = w.ledger_seq
$$;

CREATE TABLE ledger_checkpoints (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    taken_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    rows        bigint NOT NULL,
    wallets     bigint NOT NULL,
    head        text NOT NULL CHECK (head ~ '^[0-9a-f]{64}$')
);
CREATE TRIGGER ledger_checkpoints_no_update BEFORE UPDATE OR DELETE ON ledger_checkpoints
    FOR EACH ROW EXECUTE FUNCTION billing_ledger_refuse();
CREATE TRIGGER ledger_checkpoints_no_truncate BEFORE TRUNCATE ON ledger_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION billing_ledger_refuse();

-- Record the chain head now (called periodically by the archiver, which logs it; an
-- operator may call it too). A SHARE lock on billing_ledger waits for every transaction
-- that has appended a row to commit (a row is appended before its wallet changes, in
-- the same transaction) and holds back new appends until this one commits, so the head
-- is of one moment, and every row with created_at <= taken_at is in it and none after:
-- decpctl ledger verify recomputes old checkpoints from that. Not user_wallets too: a
-- transaction that has just created its wallet would wait for the ledger behind us
-- while we waited for its wallet row.
CREATE FUNCTION ledger_checkpoint() RETURNS ledger_checkpoints
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    h record;
    c ledger_checkpoints;
BEGIN
    LOCK TABLE billing_ledger IN SHARE MODE;
    SELECT * INTO h FROM ledger_chain_head();
    INSERT INTO ledger_checkpoints (rows, wallets, head) VALUES (h.rows, h.wallets, h.head)
    RETURNING * INTO c;
    RETURN c;
END
$$;

-- ------------------------------------------------------------------ ownership

ALTER TABLE user_wallets OWNER TO decp_money;
ALTER TABLE billing_ledger OWNER TO decp_money;
ALTER TABLE ledger_checkpoints OWNER TO decp_money;

-- The money functions run as decp_money (SECURITY DEFINER) and update subscriptions.
GRANT SELECT, UPDATE (state, state_reason, high_water_mark, cumulative_profit)
    ON subscriptions TO decp_money;
GRANT SELECT ON subscribers TO decp_money;
GRANT EXECUTE ON FUNCTION copy_policy_is_valid(jsonb), subscription_transition_allowed(text, text)
    TO decp_money;

DO $$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN SELECT p.oid::regprocedure FROM pg_proc p
              WHERE p.pronamespace = 'public'::regnamespace AND p.proname IN (
                'performance_fee', 'performance_fee_domain_error', 'calculate_performance_fee',
                'money_check_amount', 'wallet_post', 'wallet_sync_states', 'wallet_lock',
                'wallet_move', 'wallet_deposit', 'wallet_withdraw', 'wallet_reserve',
                'wallet_release', 'charge_lock', 'charge_not_covered', 'charge_performance_fee',
                'charge_subscription_fee', 'fee_post', 'wallet_settle_credit',
                'subscriptions_settle', 'subscriptions_continue', 'subscription_cancel',
                'subscription_record_profit', 'billing_ledger_refuse',
                'user_wallets_receivable_first', 'ledger_field', 'ledger_row_content',
                'ledger_row_hash', 'billing_ledger_chain', 'user_wallets_follow_ledger',
                'ledger_chain_head', 'ledger_checkpoint') LOOP
        EXECUTE format('ALTER FUNCTION %s OWNER TO decp_money', f);
    END LOOP;
END
$$;

REVOKE EXECUTE ON FUNCTION ledger_field(text), ledger_row_content(billing_ledger),
    ledger_row_hash(bytea, billing_ledger), billing_ledger_chain(),
    user_wallets_follow_ledger() FROM PUBLIC;
GRANT SELECT ON ledger_checkpoints TO decp_app;
GRANT EXECUTE ON FUNCTION ledger_chain_head(), ledger_checkpoint() TO decp_app;

-- ------------------------------------------------------------------ event trigger

-- The triggers that keep money honest, wherever they sit (subscriptions too): after any
-- DDL each must still exist and be enabled (not 'D' disabled nor 'R' replica-only).
CREATE TABLE money_guarded_triggers (
    table_name  text NOT NULL,
    trigger_name text NOT NULL,
    PRIMARY KEY (table_name, trigger_name)
);
INSERT INTO money_guarded_triggers VALUES
    ('billing_ledger', 'billing_ledger_no_update'),
    ('billing_ledger', 'billing_ledger_no_update_stmt'),
    ('billing_ledger', 'billing_ledger_no_truncate'),
    ('billing_ledger', 'billing_ledger_chain'),
    ('user_wallets', 'user_wallets_follow_ledger'),
    ('user_wallets', 'user_wallets_no_truncate'),
    ('user_wallets', 'user_wallets_receivable_first'),
    ('ledger_checkpoints', 'ledger_checkpoints_no_update'),
    ('ledger_checkpoints', 'ledger_checkpoints_no_truncate'),
    ('subscriptions', 'subscriptions_guard'),
    ('subscriptions', 'subscriptions_settle'),
    ('subscriptions', 'subscriptions_continue'),
    ('subscriptions', 'subscriptions_fee_pct_scale');
ALTER TABLE money_guarded_triggers OWNER TO decp_money;

-- The money functions by name: a dropped function is gone from pg_proc when sql_drop
-- fires, so its owner can no longer be looked up. Filled at the end of this migration;
-- a later migration (as decp_maintenance) adds the functions it creates.
CREATE TABLE money_guarded_functions (proname text PRIMARY KEY);
ALTER TABLE money_guarded_functions OWNER TO decp_money;

-- True for an object a DDL command may not touch: owned by decp_money, or a trigger
-- on a money table or calling a money function.
CREATE FUNCTION money_object_guarded(p_classid oid, p_objid oid) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
    SELECT CASE p_classid
        WHEN 'pg_class'::regclass THEN EXISTS (
            SELECT 1 FROM pg_class c WHERE c.oid = p_objid
               AND c.relowner = 'decp_money'::regrole)
        WHEN 'pg_proc'::regclass THEN EXISTS (
            SELECT 1 FROM pg_proc p WHERE p.oid = p_objid
               AND p.proowner = 'decp_money'::regrole)
        WHEN 'pg_trigger'::regclass THEN EXISTS (
            SELECT 1 FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
              JOIN pg_proc p ON p.oid = t.tgfoid
             WHERE t.oid = p_objid
               AND (c.relowner = 'decp_money'::regrole OR p.proowner = 'decp_money'::regrole))
        ELSE false
    END
$$;

CREATE FUNCTION money_ddl_guard() RETURNS event_trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
    r record;
BEGIN
    IF current_user = 'decp_maintenance' THEN
        RETURN;
    END IF;
    IF TG_EVENT = 'sql_drop' THEN
        FOR r IN SELECT d.object_identity FROM pg_event_trigger_dropped_objects() d
                  WHERE d.object_type = 'function' AND d.address_names[1] = 'public'
                    AND d.address_names[2] IN (SELECT proname FROM money_guarded_functions) LOOP
            RAISE EXCEPTION 'DROP of % refused: money objects change only as decp_maintenance',
                r.object_identity USING ERRCODE = 'DP012';
        END LOOP;
    END IF;
    IF TG_EVENT = 'ddl_command_end' THEN
        FOR r IN SELECT * FROM pg_event_trigger_ddl_commands() LOOP
            IF money_object_guarded(r.classid, r.objid) THEN
                RAISE EXCEPTION '% on % refused: money objects change only as decp_maintenance',
                    r.command_tag, r.object_identity USING ERRCODE = 'DP012';
            END IF;
        END LOOP;
    END IF;
    -- Whatever the command was (DROP ... CASCADE, ALTER TABLE ... DISABLE TRIGGER on a
    -- table that is not ours, DROP SCHEMA), the guards must all still stand.
    FOR r IN SELECT g.table_name, g.trigger_name FROM money_guarded_triggers g
              WHERE NOT EXISTS (
                    SELECT 1 FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
                     WHERE c.relnamespace = 'public'::regnamespace
                       AND c.relname = g.table_name AND t.tgname = g.trigger_name
                       AND t.tgenabled IN ('O', 'A')) LOOP
        RAISE EXCEPTION '% refused: trigger % on % would be gone or disabled',
            TG_TAG, r.trigger_name, r.table_name USING ERRCODE = 'DP012';
    END LOOP;
    IF EXISTS (SELECT 1 FROM (VALUES ('user_wallets'), ('billing_ledger'),
                                     ('ledger_checkpoints')) AS m(name)
                WHERE NOT EXISTS (SELECT 1 FROM pg_class c
                                   WHERE c.relnamespace = 'public'::regnamespace
                                     AND c.relname = m.name
                                     AND c.relowner = 'decp_money'::regrole)) THEN
        RAISE EXCEPTION '% refused: a money table would be gone or change owner', TG_TAG
            USING ERRCODE = 'DP012';
    END IF;
END
$$;
ALTER FUNCTION money_object_guarded(oid, oid) OWNER TO decp_money;
ALTER FUNCTION money_ddl_guard() OWNER TO decp_money;
-- The guard runs as whoever issues the DDL (decp_app creating a temporary table too),
-- so what it reads must be readable by all; it reveals only object names.
GRANT SELECT ON money_guarded_triggers, money_guarded_functions TO PUBLIC;
INSERT INTO money_guarded_functions
    SELECT DISTINCT p.proname FROM pg_proc p
     WHERE p.pronamespace = 'public'::regnamespace AND p.proowner = 'decp_money'::regrole;
GRANT EXECUTE ON FUNCTION money_object_guarded(oid, oid) TO PUBLIC;

CREATE EVENT TRIGGER money_ddl_guard ON ddl_command_end EXECUTE FUNCTION money_ddl_guard();
CREATE EVENT TRIGGER money_drop_guard ON sql_drop EXECUTE FUNCTION money_ddl_guard();
