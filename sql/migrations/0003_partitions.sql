-- 0003_partitions: protection_logs and signal_archive, partitioned by day
-- (UTC) with 90-day retention, and the partition maintenance function.
--
-- TimescaleDB is not packaged for Debian 12 (SPEC §4): native declarative
-- partitioning. Each table has:
--   * one partition per UTC day, named <table>_pYYYYMMDD, created 7 days ahead
--     by maintain_partitions() (decp-control calls it periodically);
--   * a DEFAULT partition, so an insert for a day without a partition never
--     fails; when that day's partition is created later, its rows are moved
--     out of the default partition into it;
--   * retention: the partition of day D is dropped once D < today - 90, and
--     default-partition rows older than that are deleted.

CREATE TABLE protection_logs (
    id              bigserial NOT NULL,
    event_time      timestamptz NOT NULL,
    master_id       bigint,
    subscriber_id   bigint,
    subscription_id bigint,
    sequence        bigint,
    -- Seed reason codes (TTL_EXPIRED, SEQUENCE_GAP, PRICE_DEVIATION, ...); the
    -- guard's enum names, upper case.
    reason          text NOT NULL CHECK (reason ~ '^[A-Z][A-Z0-9_]{1,47}$'),
    latency_ms      numeric(14,3),      -- signal age when rejected
    price_deviation numeric(14,2),      -- actual slippage in pips
    symbol          text,
    details         jsonb,
    PRIMARY KEY (id, event_time)
) PARTITION BY RANGE (event_time);
CREATE TABLE protection_logs_default PARTITION OF protection_logs DEFAULT;
CREATE INDEX protection_logs_subscription ON protection_logs (subscription_id, event_time);

-- signal_archive must hold each (master_id, sequence) once, so an at-least-once
-- archiver can redeliver freely. A unique constraint on a partitioned table
-- must contain the partition key (arrival_time), which would make
-- (master, sequence, arrival_time) unique, not (master, sequence): a resend
-- stamped with another arrival time would slip through. So uniqueness lives in
-- a small non-partitioned key table, filled by a BEFORE INSERT trigger that
-- drops the row (RETURN NULL) when the key exists: INSERT of a redelivered
-- signal is a no-op reporting 0 rows, for every client and without ON CONFLICT.
-- Keys are pruned with the partitions (same 90-day cutoff).
CREATE TABLE signal_archive_keys (
    master_id       bigint NOT NULL,
    sequence        bigint NOT NULL,
    arrival_time    timestamptz NOT NULL,
    PRIMARY KEY (master_id, sequence)
);
CREATE INDEX signal_archive_keys_arrival ON signal_archive_keys (arrival_time);

CREATE TABLE signal_archive (
    master_id       bigint NOT NULL,
    sequence        bigint NOT NULL CHECK (sequence >= 1),
    arrival_time    timestamptz NOT NULL,   -- Server_Arrival_Time (µs precision)
    arrival_ns      bigint NOT NULL,        -- Server_Arrival_Time, ns since the epoch
    master_time_ns  bigint,
    symbol          text NOT NULL,
    order_type      text NOT NULL,
    volume          bigint NOT NULL,        -- scaled integers, as on the wire
    price           bigint,
    sl              bigint,
    tp              bigint,
    position_ticket bigint,
    body            bytea NOT NULL,         -- exact signed Signal bytes
    hmac            bytea,
    ed25519_sig     bytea,
    archived_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (master_id, sequence, arrival_time)
) PARTITION BY RANGE (arrival_time);
CREATE TABLE signal_archive_default PARTITION OF signal_archive DEFAULT;

CREATE FUNCTION signal_archive_dedup() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    INSERT INTO signal_archive_keys (master_id, sequence, arrival_time)
    VALUES (NEW.master_id, NEW.sequence, NEW.arrival_time)
    ON CONFLICT (master_id, sequence) DO NOTHING;
    IF NOT FOUND THEN
        RETURN NULL;    -- already archived: redelivery changes nothing
    END IF;
    RETURN NEW;
END
$$;
-- Cloned onto every partition, present and future.
CREATE TRIGGER signal_archive_dedup BEFORE INSERT ON signal_archive
    FOR EACH ROW EXECUTE FUNCTION signal_archive_dedup();

-- Create partitions for p_today .. p_today + p_days_ahead and apply retention
-- relative to p_today. Returns one row per action ('created', 'moved N rows',
-- 'dropped', 'pruned N default rows'). Owner only: the application calls
-- maintain_partitions(), which pins today and the policy.
--
-- DDL cannot take bind parameters; the statements below are built only with
-- format() using %I (identifiers) and %L (literals) from names and dates this
-- function computes itself, never from caller text.
CREATE FUNCTION maintain_partitions_at(p_today date, p_days_ahead integer DEFAULT 7,
                                       p_retention_days integer DEFAULT 90)
RETURNS TABLE (action text, partition_name text)
LANGUAGE plpgsql
SET search_path = pg_catalog, public
SET TimeZone = 'UTC' AS $$
DECLARE
    t record;
    v_nsp text;
    v_parent_oid oid;
    v_day date;
    v_part text;
    v_lo timestamptz;
    v_hi timestamptz;
    v_has boolean;
    v_n bigint;
    v_oldest date;
    rel record;
BEGIN
    IF p_today IS NULL OR p_days_ahead IS NULL OR p_days_ahead < 0 OR p_days_ahead > 366
       OR p_retention_days IS NULL OR p_retention_days < 1 THEN
        RAISE EXCEPTION 'maintain_partitions_at: bad arguments' USING ERRCODE = 'DP020';
    END IF;
    -- One maintainer at a time (decp-control may run on several hosts).
    PERFORM pg_advisory_xact_lock(7234017283807667300);
    v_oldest := p_today - p_retention_days;

    FOR t IN SELECT * FROM (VALUES ('protection_logs', 'event_time'),
                                   ('signal_archive', 'arrival_time')) AS x(parent, col) LOOP
        SELECT c.oid, n.nspname INTO v_parent_oid, v_nsp
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.oid = t.parent::regclass;

        FOR i IN 0 .. p_days_ahead LOOP
            v_day := p_today + i;
            v_part := format('%s_p%s', t.parent, to_char(v_day, 'YYYYMMDD'));
            CONTINUE WHEN EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n
                                      ON n.oid = c.relnamespace
                                   WHERE c.relname = v_part AND n.nspname = v_nsp);
            v_lo := v_day::timestamp AT TIME ZONE 'UTC';
            v_hi := (v_day + 1)::timestamp AT TIME ZONE 'UTC';
            EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I.%I WHERE %I >= $1 AND %I < $2)',
                           v_nsp, format('%s_default', t.parent), t.col, t.col)
               INTO v_has USING v_lo, v_hi;
            IF NOT v_has THEN
                EXECUTE format('CREATE TABLE %I.%I PARTITION OF %I.%I FOR VALUES FROM (%L) TO (%L)',
                               v_nsp, v_part, v_nsp, t.parent, v_lo, v_hi);
                action := 'created';
            ELSE
                -- Rows for this day already sit in the default partition:
                -- move them into a new table, then attach it.
                EXECUTE format('CREATE TABLE %I.%I (LIKE %I.%I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
                               v_nsp, v_part, v_nsp, t.parent);
                EXECUTE format('WITH moved AS (DELETE FROM %I.%I WHERE %I >= $1 AND %I < $2 RETURNING *) INSERT INTO %I.%I SELECT * FROM moved',
                               v_nsp, format('%s_default', t.parent), t.col, t.col, v_nsp, v_part)
                   USING v_lo, v_hi;
                GET DIAGNOSTICS v_n = ROW_COUNT;
                EXECUTE format('ALTER TABLE %I.%I ATTACH PARTITION %I.%I FOR VALUES FROM (%L) TO (%L)',
                               v_nsp, t.parent, v_nsp, v_part, v_lo, v_hi);
                action := format('created, moved %s rows from default', v_n);
            END IF;
            partition_name := v_part;
            RETURN NEXT;
        END LOOP;

        FOR rel IN
            SELECT c.relname,
                   to_date(substring(c.relname FROM '_p([0-9]{8})$'), 'YYYYMMDD') AS day
              FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent = v_parent_oid AND c.relname ~ '_p[0-9]{8}$'
             ORDER BY 2
        LOOP
            EXIT WHEN rel.day >= v_oldest;
            EXECUTE format('DROP TABLE %I.%I', v_nsp, rel.relname);
            action := 'dropped';
            partition_name := rel.relname;
            RETURN NEXT;
        END LOOP;

        EXECUTE format('DELETE FROM %I.%I WHERE %I < $1', v_nsp, format('%s_default', t.parent), t.col)
           USING v_oldest::timestamp AT TIME ZONE 'UTC';
        GET DIAGNOSTICS v_n = ROW_COUNT;
        IF v_n > 0 THEN
            action := format('pruned %s default rows', v_n);
            partition_name := format('%s_default', t.parent);
            RETURN NEXT;
        END IF;
    END LOOP;

    DELETE FROM signal_archive_keys WHERE arrival_time < v_oldest::timestamp AT TIME ZONE 'UTC';
END
$$;

-- What the application runs (daily or more often): today in UTC, 7 days ahead,
-- 90 days retention. Runs with the owner's rights to create and drop tables.
CREATE FUNCTION maintain_partitions()
RETURNS TABLE (action text, partition_name text)
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT * FROM maintain_partitions_at((now() AT TIME ZONE 'UTC')::date, 7, 90)
$$;

SELECT count(*) FROM maintain_partitions_at((now() AT TIME ZONE 'UTC')::date, 7, 90);
