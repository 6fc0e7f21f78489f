-- 0039_billing_asof: the application's billing_run() bills as of now, never ahead.
--
-- billing_run(p_now) (0013) bills every live subscription whose period ended by p_now and
-- sets its billed_until to the start of p_now's period. It was granted to decp_app with
-- p_now free: `SELECT * FROM billing_run('2100-01-01')` (or 'infinity') charged every
-- period early, at the profit of today, and moved billed_until so far ahead that the
-- periodic run (decp-control's archiver, billing_run() every partition_maint_s) billed
-- none of those subscriptions again until then: fees stopped.
--
-- Now, as for partitions and archival (maintain_partitions_at, archive_drop_at), the clock
-- is the owner's:
--   billing_run_at(p_now, p_limit)  0013's function, renamed (same body, owner, guard);
--                                   not granted to decp_app: tests and drills only
--   billing_run(p_now, p_limit)     decp_app's: refuses an as-of time more than one
--                                   minute after the database's clock_timestamp()
--                                   (DP025), then calls billing_run_at
-- One minute: the callers' clocks (decp-control passes none: the default is the database's
-- now()) differ from the database's by NTP's milliseconds; a p_now up to a minute ahead
-- bills a period at most a minute early, whose later profit the next period bills (the HWM
-- keeps it from being billed twice or lost). clock_timestamp(), not now(): a caller's
-- long transaction must not widen the window. A time in the past is accepted: it bills
-- only periods that had ended by then.
SET LOCAL ROLE decp_maintenance;
ALTER FUNCTION billing_run(timestamptz, integer) RENAME TO billing_run_at;
REVOKE EXECUTE ON FUNCTION billing_run_at(timestamptz, integer) FROM decp_app;
INSERT INTO money_guarded_functions VALUES ('billing_run_at');
RESET ROLE;

GRANT CREATE ON SCHEMA public TO decp_money;
SET LOCAL ROLE decp_maintenance;
CREATE FUNCTION billing_run(p_now timestamptz DEFAULT now(), p_limit integer DEFAULT 100)
RETURNS TABLE (subscription_id bigint, outcome text, fee_amount numeric,
               period_end timestamptz)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    v_clock timestamptz := clock_timestamp();
BEGIN
    IF p_now > v_clock + interval '1 minute' THEN
        RAISE EXCEPTION 'billing_run: as-of time % is ahead of the database clock % (at most '
                        '1 minute ahead)', p_now, v_clock USING ERRCODE = 'DP025';
    END IF;
    RETURN QUERY SELECT * FROM billing_run_at(p_now, p_limit);
END
$$;
ALTER FUNCTION billing_run(timestamptz, integer) OWNER TO decp_money;
GRANT EXECUTE ON FUNCTION billing_run(timestamptz, integer) TO decp_app;
RESET ROLE;
REVOKE CREATE ON SCHEMA public FROM decp_money;
