-- 0031_subscription_amounts_guard: a subscription's high-water mark and profit change only
-- through the money functions.
--
-- Found by a storage review: the schema owner (it owns subscriptions) ran
-- `UPDATE subscriptions SET high_water_mark = 5000` with every trigger on, and it passed
-- (subscriptions_guard, 0001, refuses only a HWM that goes down); a later profit of 4000
-- was then below the HWM and charged NO_FEE: 600.00 of fees lost, and `decpctl ledger
-- verify` (which reads the ledger and the wallets) said nothing. These columns decide what
-- is charged, so they are money as the wallets are (docs/database.md "Tamper evidence"):
-- high_water_mark, cumulative_profit and profit_exact change only when the statement runs
-- as decp_money (inside the SECURITY DEFINER money functions: charge_performance_fee,
-- subscription_report_execution(s), subscription_cancel, billing_run, the pair
-- continuation) or decp_maintenance; a new subscription starts at 0 (its pair's values are
-- carried by subscriptions_continue, which fires after this trigger: names fire in order).
-- The function is not SECURITY DEFINER: current_user is whoever runs the statement.
-- It is a money object (owned by decp_money, guarded by 0012's event triggers), so the
-- owner can neither drop nor disable it.
GRANT TRIGGER ON subscriptions TO decp_maintenance;
GRANT CREATE ON SCHEMA public TO decp_money;
SET LOCAL ROLE decp_maintenance;

CREATE FUNCTION subscriptions_amounts_guard() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
BEGIN
    IF current_user IN ('decp_money', 'decp_maintenance') THEN
        RETURN NEW;
    END IF;
    IF TG_OP = 'INSERT' THEN
        IF NEW.high_water_mark <> 0 OR NEW.cumulative_profit <> 0 OR NEW.profit_exact <> 0 THEN
            RAISE EXCEPTION 'a subscription starts with high_water_mark and profit 0 (its pair''s '
                            'are carried over by the money functions), not chosen by %',
                            current_user USING ERRCODE = 'DP011';
        END IF;
    ELSIF NEW.high_water_mark IS DISTINCT FROM OLD.high_water_mark
       OR NEW.cumulative_profit IS DISTINCT FROM OLD.cumulative_profit
       OR NEW.profit_exact IS DISTINCT FROM OLD.profit_exact THEN
        RAISE EXCEPTION 'subscription %: high_water_mark and profit change only through the '
                        'money functions, not an UPDATE by %', OLD.id, current_user
                        USING ERRCODE = 'DP011';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER subscriptions_amounts_guard BEFORE INSERT OR UPDATE ON subscriptions
    FOR EACH ROW EXECUTE FUNCTION subscriptions_amounts_guard();

ALTER FUNCTION subscriptions_amounts_guard() OWNER TO decp_money;
INSERT INTO money_guarded_functions VALUES ('subscriptions_amounts_guard');
INSERT INTO money_guarded_triggers VALUES ('subscriptions', 'subscriptions_amounts_guard');
RESET ROLE;
REVOKE CREATE ON SCHEMA public FROM decp_money;
REVOKE TRIGGER ON subscriptions FROM decp_maintenance;
