-- 0010_fee_domain: exact HWM fee arithmetic, one domain in C and SQL (issue 20 item 5).
--
--   * performance_fee() refuses (DP020) what guard_fee_hwm() (guard/guard_fee.h) cannot
--     take, and nothing else: fee_pct outside 0..100 or with more than 2 decimals (the
--     guard's fee_bp is an integer); an HWM that is negative, not whole cents or above
--     922,337,203,685,477.58; a profit outside +-922,337,203,685,477.5807 or with more
--     than 4 decimals (int64 in the guard's 1e-4 money unit). The API accepts up to 15
--     integer digits; the part of that range above the int64 limit is refused here, so
--     C and SQL agree on every input (tests/money/test_fee_equality.c).
--   * Sub-cent rule: the HWM moves only together with a fee of at least 0.01. A profit
--     whose fee rounds to 0.00 (every profit at fee_pct 0 too) returns new_hwm = hwm, so
--     charge_performance_fee() answers NO_FEE and writes no 0.00 ledger row; the gain is
--     billed later together with further gain.
--   * The fee is computed exactly: 0002's "/ 100" lost digits above about 10^12 (a
--     double rounding: 16 significant digits, then cents); "* 0.01" is exact.
--   * subscriptions.fee_pct was numeric(5,2), which rounded 12.345 to 12.35 before any
--     check could see it. It is now numeric with a CHECK: a fee_pct SQL would have to
--     round is refused (23514), as the API refuses it.

ALTER TABLE subscriptions ALTER COLUMN fee_pct TYPE numeric;
ALTER TABLE subscriptions ADD CONSTRAINT subscriptions_fee_pct_cents
    CHECK (fee_pct = round(fee_pct, 2));
-- ... and stored with two decimals as before (15 -> 15.00): the value is checked by the
-- CHECK above, the scale normalised here (a BEFORE trigger sees the value unrounded).
CREATE FUNCTION subscriptions_fee_pct_scale() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    IF NEW.fee_pct = round(NEW.fee_pct, 2) THEN
        NEW.fee_pct := round(NEW.fee_pct, 2);
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER subscriptions_fee_pct_scale BEFORE INSERT OR UPDATE OF fee_pct ON subscriptions
    FOR EACH ROW EXECUTE FUNCTION subscriptions_fee_pct_scale();

-- NULL when performance_fee() accepts the arguments, else why not. A function of its
-- own so a test can ask for 100,000 cases in one statement without one error aborting
-- it; performance_fee() raises DP020 with this text.
CREATE FUNCTION performance_fee_domain_error(p_hwm numeric, p_new_profit numeric,
                                             p_fee_pct numeric)
RETURNS text LANGUAGE sql IMMUTABLE SET search_path = pg_catalog AS $$
    SELECT CASE
        WHEN p_hwm IS NULL OR p_new_profit IS NULL OR p_fee_pct IS NULL
            THEN 'null argument'
        WHEN p_fee_pct < 0 OR p_fee_pct > 100
            THEN 'fee_pct ' || p_fee_pct || ' outside 0..100'
        WHEN p_fee_pct <> round(p_fee_pct, 2)
            THEN 'fee_pct ' || p_fee_pct || ' has more than 2 decimals'
        WHEN p_hwm < 0 OR p_hwm <> round(p_hwm, 2) OR p_hwm > 922337203685477.58
            THEN 'hwm ' || p_hwm || ' is not whole cents in 0..922337203685477.58'
        WHEN p_new_profit < -922337203685477.5808 OR p_new_profit > 922337203685477.5807
             OR p_new_profit <> round(p_new_profit, 4)
            THEN 'profit ' || p_new_profit
                 || ' is outside +-922337203685477.5807 or has more than 4 decimals'
    END
$$;

-- Same signature and seed example as 0002 (hwm 1000, profit 1500, 20% -> 100, 1500, 500);
-- the domain and the sub-cent rule above are new.
CREATE OR REPLACE FUNCTION performance_fee(p_hwm numeric, p_new_profit numeric,
                                           p_fee_pct numeric,
                                           OUT fee_amount numeric, OUT new_hwm numeric,
                                           OUT profit_above_hwm numeric)
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, public AS $$
DECLARE
    v_error text := performance_fee_domain_error(p_hwm, p_new_profit, p_fee_pct);
    v_profit numeric;
BEGIN
    IF v_error IS NOT NULL THEN
        RAISE EXCEPTION 'performance_fee: %', v_error USING ERRCODE = 'DP020';
    END IF;
    v_profit := round(p_new_profit, 2);
    profit_above_hwm := round(greatest(v_profit - p_hwm, 0), 2);
    -- "* 0.01", not "/ 100": numeric multiplication is exact, but division keeps only
    -- about 16 significant digits, which rounded 1247079537586.744998 to ...586.745 and
    -- then to .75 instead of .74 (found by the C vs SQL comparison, issue 20).
    fee_amount := round(profit_above_hwm * p_fee_pct * 0.01, 2);
    new_hwm := CASE WHEN fee_amount > 0 THEN greatest(p_hwm, v_profit) ELSE p_hwm END;
    new_hwm := round(new_hwm, 2);
END
$$;

GRANT EXECUTE ON FUNCTION performance_fee_domain_error(numeric, numeric, numeric) TO decp_app;
