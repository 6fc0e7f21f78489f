-- 0018_copy_policy_delivery: the copy policy travels to the subscriber (issue 19).
--
-- copy_policy_version counts the changes of a subscription's copy_policy (1 for the
-- policy it was created with, +1 for every UPDATE that changes it; nobody sets it by
-- hand): the fan-out sends it in CopyPolicy.version and the guard never applies a
-- version not above the one it holds, so a late or repeated delivery cannot roll a
-- policy back. Every change is NOTIFYed on channel decp_policy with the subscription id
-- as payload; the fan-out LISTENs, re-reads that row and pushes the new policy to a
-- connected subscriber (docs/fanout.md "Copy policy"). copy_policy_changed_at lets a
-- fan-out that lost its LISTEN session catch up on what changed meanwhile.
--
-- copy_policy_scaled() is the one place where the JSON numbers become the guard's
-- scaled integers (docs/database.md "Copy policy"): lots in 0.01, the multiplier in
-- 1/1000, money in 1e-4, percentages in basis points, pips in 1/100. Rounding never
-- adds exposure or loosens a protection: sizes and limits are truncated toward zero,
-- floors (min_free_funds, equity_floor) rounded up; amounts beyond int64 are clamped.
-- Defaults are guard_policy_init()'s: a maximum deviation of 3 pips.
ALTER TABLE subscriptions
    ADD COLUMN copy_policy_version bigint NOT NULL DEFAULT 1 CHECK (copy_policy_version >= 1),
    ADD COLUMN copy_policy_changed_at timestamptz NOT NULL DEFAULT now();

CREATE FUNCTION subscriptions_policy_version() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.copy_policy_version := 1;
        NEW.copy_policy_changed_at := now();
    ELSIF NEW.copy_policy IS DISTINCT FROM OLD.copy_policy THEN
        NEW.copy_policy_version := OLD.copy_policy_version + 1;
        NEW.copy_policy_changed_at := now();
    ELSE
        NEW.copy_policy_version := OLD.copy_policy_version;
        NEW.copy_policy_changed_at := OLD.copy_policy_changed_at;
    END IF;
    RETURN NEW;
END
$$;
REVOKE EXECUTE ON FUNCTION subscriptions_policy_version() FROM PUBLIC;
CREATE TRIGGER subscriptions_policy_version BEFORE INSERT OR UPDATE ON subscriptions
    FOR EACH ROW EXECUTE FUNCTION subscriptions_policy_version();

CREATE FUNCTION decp_policy_notify() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
BEGIN
    PERFORM pg_notify('decp_policy', NEW.id::text);
    RETURN NULL;
END
$$;
REVOKE EXECUTE ON FUNCTION decp_policy_notify() FROM PUBLIC;
CREATE TRIGGER decp_policy_notify AFTER UPDATE OF copy_policy ON subscriptions
    FOR EACH ROW WHEN (OLD.copy_policy IS DISTINCT FROM NEW.copy_policy)
    EXECUTE FUNCTION decp_policy_notify();

CREATE FUNCTION copy_policy_scaled(p jsonb,
    OUT lot_fixed bigint, OUT lot_multiplier_milli bigint, OUT master_equity bigint,
    OUT risk_bp bigint, OUT max_deviation_pips_x100 bigint, OUT min_free_funds bigint,
    OUT equity_floor bigint, OUT max_drawdown_bp bigint)
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, public AS $$
    SELECT trunc(least(coalesce((p ->> 'lot_fixed')::numeric, 0) * 100, 9223372036854775807))::bigint,
           trunc(least(coalesce((p ->> 'multiplier')::numeric, 0) * 1000, 9223372036854775807))::bigint,
           trunc(least(coalesce((p ->> 'master_equity')::numeric, 0) * 10000, 9223372036854775807))::bigint,
           trunc(least(coalesce((p ->> 'risk_pct')::numeric, 0) * 100, 9223372036854775807))::bigint,
           trunc(least(coalesce((p ->> 'max_deviation_pips')::numeric, 3) * 100, 9223372036854775807))::bigint,
           ceil(least(coalesce((p ->> 'min_free_funds')::numeric, 0) * 10000, 9223372036854775807))::bigint,
           ceil(least(coalesce((p ->> 'equity_floor')::numeric, 0) * 10000, 9223372036854775807))::bigint,
           trunc(least(coalesce((p ->> 'max_drawdown_pct')::numeric, 0) * 100, 9223372036854775807))::bigint
$$;
REVOKE EXECUTE ON FUNCTION copy_policy_scaled(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION copy_policy_scaled(jsonb) TO decp_app;
