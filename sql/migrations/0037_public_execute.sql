-- 0037_public_execute: no function of ours is executable by PUBLIC, as docs/database.md
-- ("Roles") says.
--
-- Found by a review: after migrating, three functions were EXECUTE-able by PUBLIC:
--   money_object_guarded(oid, oid)  granted to PUBLIC by 0012 on purpose: money_ddl_guard,
--                                   the event trigger, runs as whoever issues the DDL
--                                   and called it;
--   trust_pause_below()             (0028) and
--   subscriptions_amounts_guard()   (0031): made by decp_maintenance, whose functions
--                                   0004's default revoke (the migrating role's) does
--                                   not cover; each earlier migration revoked by hand,
--                                   these two were missed.
-- Now:
--   * money_ddl_guard tests the owner itself (the predicate of money_object_guarded,
--     written inline: what an event trigger reads must be readable by every role that
--     may issue DDL, and the catalogs are), and money_object_guarded is dropped: nothing
--     calls it any more, and granting it to a list of roles would refuse DDL (a
--     temporary table) to any role left off the list;
--   * trust_pause_below() is called only by subscriptions_continue_trust() (SECURITY
--     DEFINER, as its owner decp_money) and subscriptions_amounts_guard() only as a
--     trigger (a trigger function's EXECUTE is checked when the trigger is created, not
--     when it fires): neither is granted to anyone;
--   * functions decp_maintenance or decp_money create from now on are not executable by
--     PUBLIC by default (as 0004 made it for the migrating role), so a later migration
--     that forgets its REVOKE no longer grants PUBLIC. tests/sql/test_schema.c checks that
--     no function in schema public is executable by PUBLIC.
ALTER DEFAULT PRIVILEGES FOR ROLE decp_maintenance REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
ALTER DEFAULT PRIVILEGES FOR ROLE decp_money REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;

SET LOCAL ROLE decp_maintenance;
REVOKE EXECUTE ON FUNCTION trust_pause_below(), subscriptions_amounts_guard() FROM PUBLIC;

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
        -- An object owned by decp_money, or a trigger on a money table or calling a money
        -- function (0012's money_object_guarded, inline since 0037).
        FOR r IN SELECT c.command_tag, c.object_identity FROM pg_event_trigger_ddl_commands() c
                  WHERE (c.classid = 'pg_class'::regclass AND EXISTS (
                            SELECT 1 FROM pg_class x WHERE x.oid = c.objid
                               AND x.relowner = 'decp_money'::regrole))
                     OR (c.classid = 'pg_proc'::regclass AND EXISTS (
                            SELECT 1 FROM pg_proc p WHERE p.oid = c.objid
                               AND p.proowner = 'decp_money'::regrole))
                     OR (c.classid = 'pg_trigger'::regclass AND EXISTS (
                            SELECT 1 FROM pg_trigger t JOIN pg_class x ON x.oid = t.tgrelid
                              JOIN pg_proc p ON p.oid = t.tgfoid
                             WHERE t.oid = c.objid
                               AND (x.relowner = 'decp_money'::regrole
                                    OR p.proowner = 'decp_money'::regrole))) LOOP
            RAISE EXCEPTION '% on % refused: money objects change only as decp_maintenance',
                r.command_tag, r.object_identity USING ERRCODE = 'DP012';
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

DROP FUNCTION money_object_guarded(oid, oid);
DELETE FROM money_guarded_functions WHERE proname = 'money_object_guarded';
RESET ROLE;
