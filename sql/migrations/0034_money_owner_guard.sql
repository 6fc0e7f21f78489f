-- 0034_money_owner_guard: every money table keeps its owner.
--
-- 0012's guard refuses DDL on an object owned by decp_money and, after every DDL command,
-- checks that the money tables are still there and still decp_money's. That last check
-- named three tables (user_wallets, billing_ledger, ledger_checkpoints): the money tables
-- made since (execution_pnl 0013, money_requests 0025, profit_events 0032, the guard's own
-- lists, the audit view 0033) could be given away by a superuser's ALTER TABLE ... OWNER
-- TO, found by a review (`ALTER TABLE profit_events OWNER TO postgres` went through), and
-- from then on every other DDL on them (a constraint dropped, a column changed) passed the
-- guard, which knows money objects by their owner.
--
-- Now the check reads money_owned_tables: every table and view decp_money owns when this
-- runs (partitions excluded: a partition is detached and dropped by retention), and a
-- later migration adds what it creates, as it does to money_guarded_functions.

GRANT CREATE ON SCHEMA public TO decp_money;
SET LOCAL ROLE decp_maintenance;

CREATE TABLE money_owned_tables (table_name text PRIMARY KEY);
ALTER TABLE money_owned_tables OWNER TO decp_money;
GRANT SELECT ON money_owned_tables TO PUBLIC;
INSERT INTO money_owned_tables
    SELECT c.relname FROM pg_class c
     WHERE c.relnamespace = 'public'::regnamespace AND c.relowner = 'decp_money'::regrole
       AND c.relkind IN ('r', 'p', 'v', 'm') AND NOT c.relispartition;

CREATE OR REPLACE FUNCTION money_ddl_guard() RETURNS event_trigger
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
    -- table that is not ours, DROP SCHEMA, ALTER ... OWNER TO), the guards must all still
    -- stand.
    FOR r IN SELECT g.table_name, g.trigger_name FROM money_guarded_triggers g
              WHERE NOT EXISTS (
                    SELECT 1 FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
                     WHERE c.relnamespace = 'public'::regnamespace
                       AND c.relname = g.table_name AND t.tgname = g.trigger_name
                       AND t.tgenabled IN ('O', 'A')) LOOP
        RAISE EXCEPTION '% refused: trigger % on % would be gone or disabled',
            TG_TAG, r.trigger_name, r.table_name USING ERRCODE = 'DP012';
    END LOOP;
    FOR r IN SELECT m.table_name FROM money_owned_tables m
              WHERE NOT EXISTS (SELECT 1 FROM pg_class c
                                 WHERE c.relnamespace = 'public'::regnamespace
                                   AND c.relname = m.table_name
                                   AND c.relowner = 'decp_money'::regrole) LOOP
        RAISE EXCEPTION '% refused: money table % would be gone or change owner', TG_TAG,
            r.table_name USING ERRCODE = 'DP012';
    END LOOP;
END
$$;

RESET ROLE;
REVOKE CREATE ON SCHEMA public FROM decp_money;
