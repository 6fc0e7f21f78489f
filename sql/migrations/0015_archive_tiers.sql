-- 0015_archive_tiers: keep what the seed says to keep (issue 22). A day's partition of
-- signal_archive or protection_logs past the hot window is no longer dropped by
-- maintenance: the archiver exports it to the warm tier (compressed, checksummed files
-- with a manifest, read back and verified), and only then asks the database to drop it,
-- through archive_drop(), which refuses unless the partition still holds exactly the rows
-- that were exported. After the warm window the files move to the cold tier. The catalog
-- below records each exported day once (docs/database.md "Retention and archival").
--
--   maintain_partitions_at()  creates partitions ahead; moves default-partition rows of
--                             any day into that day's partition (old days included, so
--                             they are archived like any other); never drops, never deletes
--   archive_due_at()          partitions older than the hot window, oldest first
--   archive_drop_at()         the drop, after export and verification (counts checked under
--                             an exclusive lock; the day's dedup keys pruned with it)
--   archive_cooled()          a day's files verified in the cold tier
-- The application's entry points pin today and the hot window (90 days, the seed's):
-- archive_due_partitions(), archive_drop(); the *_at forms are the owner's (and tests').

CREATE TABLE archive_catalog (
    parent          text NOT NULL CHECK (parent IN ('signal_archive', 'protection_logs')),
    day             date NOT NULL,
    tier            text NOT NULL CHECK (tier IN ('warm', 'cold')),
    file            text NOT NULL CHECK (file ~ '^[a-z_]+/[a-z_]+_p[0-9]{8}\.tsv\.gz$'),
    rows            bigint NOT NULL CHECK (rows >= 0),
    bytes           bigint NOT NULL CHECK (bytes >= 0),
    file_sha256     text NOT NULL CHECK (file_sha256 ~ '^[0-9a-f]{64}$'),
    manifest_sha256 text NOT NULL CHECK (manifest_sha256 ~ '^[0-9a-f]{64}$'),
    exported_at     timestamptz NOT NULL DEFAULT now(),
    cooled_at       timestamptz,
    PRIMARY KEY (parent, day)
);
GRANT SELECT ON archive_catalog TO decp_app;
-- Each manifest names the schema version its rows were written under.
GRANT SELECT ON schema_migrations TO decp_app;

-- Create day p_day's partition of p_parent (partitioned by p_col), moving that day's
-- rows out of the DEFAULT partition first when it has some. Returns the action, NULL when
-- the partition exists. Identifiers and literals only through %I / %L.
CREATE FUNCTION partition_day_create(p_parent text, p_col text, p_day date)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, public
SET TimeZone = 'UTC' AS $$
DECLARE
    v_nsp text := 'public';
    v_part text := format('%s_p%s', p_parent, to_char(p_day, 'YYYYMMDD'));
    v_lo timestamptz := p_day::timestamp AT TIME ZONE 'UTC';
    v_hi timestamptz := (p_day + 1)::timestamp AT TIME ZONE 'UTC';
    v_has boolean;
    v_n bigint;
BEGIN
    IF p_parent NOT IN ('signal_archive', 'protection_logs') THEN
        RAISE EXCEPTION 'partition_day_create: unknown table %', p_parent USING ERRCODE = 'DP020';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE c.relname = v_part AND n.nspname = v_nsp) THEN
        RETURN NULL;
    END IF;
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I.%I WHERE %I >= $1 AND %I < $2)',
                   v_nsp, p_parent || '_default', p_col, p_col)
       INTO v_has USING v_lo, v_hi;
    IF NOT v_has THEN
        EXECUTE format('CREATE TABLE %I.%I PARTITION OF %I.%I FOR VALUES FROM (%L) TO (%L)',
                       v_nsp, v_part, v_nsp, p_parent, v_lo, v_hi);
        RETURN 'created';
    END IF;
    EXECUTE format('CREATE TABLE %I.%I (LIKE %I.%I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
                   v_nsp, v_part, v_nsp, p_parent);
    EXECUTE format('WITH moved AS (DELETE FROM %I.%I WHERE %I >= $1 AND %I < $2 RETURNING *) INSERT INTO %I.%I SELECT * FROM moved',
                   v_nsp, p_parent || '_default', p_col, p_col, v_nsp, v_part)
       USING v_lo, v_hi;
    GET DIAGNOSTICS v_n = ROW_COUNT;
    EXECUTE format('ALTER TABLE %I.%I ATTACH PARTITION %I.%I FOR VALUES FROM (%L) TO (%L)',
                   v_nsp, p_parent, v_nsp, v_part, v_lo, v_hi);
    RETURN format('created, moved %s rows from default', v_n);
END
$$;
REVOKE EXECUTE ON FUNCTION partition_day_create(text, text, date) FROM PUBLIC;

-- 0003's body (renamed by 0007), without its drop and its delete: partitions ahead, and
-- old rows that sit in the DEFAULT partition (a day that had no partition when they were
-- written) moved into their day's partition, where archival finds them. p_retention_days
-- is kept for the signature's sake and only bounds nothing now: dropping is archival's.
CREATE OR REPLACE FUNCTION maintain_partitions_0003(p_today date, p_days_ahead integer DEFAULT 7,
                                                   p_retention_days integer DEFAULT 90)
RETURNS TABLE (action text, partition_name text)
LANGUAGE plpgsql
SET search_path = pg_catalog, public
SET TimeZone = 'UTC' AS $$
DECLARE
    t record;
    v_day date;
    v_act text;
BEGIN
    IF p_today IS NULL OR p_days_ahead IS NULL OR p_days_ahead < 0 OR p_days_ahead > 366
       OR p_retention_days IS NULL OR p_retention_days < 1 THEN
        RAISE EXCEPTION 'maintain_partitions_at: bad arguments' USING ERRCODE = 'DP020';
    END IF;
    PERFORM pg_advisory_xact_lock(7234017283807667300);
    FOR t IN SELECT * FROM (VALUES ('protection_logs', 'event_time'),
                                   ('signal_archive', 'arrival_time')) AS x(parent, col) LOOP
        -- Today .. today + p_days_ahead, and every earlier day with rows in the default
        -- partition (they get their partition now).
        FOR v_day IN EXECUTE format('SELECT $1 + i FROM generate_series(0, $2) i UNION SELECT DISTINCT (%I AT TIME ZONE ''UTC'')::date FROM %I WHERE %I < $3 ORDER BY 1',
                                    t.col, t.parent || '_default', t.col)
                     USING p_today, p_days_ahead, p_today::timestamp AT TIME ZONE 'UTC' LOOP
            v_act := partition_day_create(t.parent, t.col, v_day);
            CONTINUE WHEN v_act IS NULL;
            action := v_act;
            partition_name := format('%s_p%s', t.parent, to_char(v_day, 'YYYYMMDD'));
            RETURN NEXT;
        END LOOP;
    END LOOP;
END
$$;

-- The day partitions older than the hot window (day < p_today - p_hot_days), oldest
-- first, with the time column the export selects on.
CREATE FUNCTION archive_due_at(p_today date, p_hot_days integer)
RETURNS TABLE (parent text, day date, time_column text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, public AS $$
    SELECT x.parent, to_date(substring(c.relname FROM '_p([0-9]{8})$'), 'YYYYMMDD'), x.col
      FROM (VALUES ('protection_logs', 'event_time'), ('signal_archive', 'arrival_time'))
           AS x(parent, col)
      JOIN pg_inherits i ON i.inhparent = x.parent::regclass
      JOIN pg_class c ON c.oid = i.inhrelid
     WHERE c.relname ~ '_p[0-9]{8}$'
       AND to_date(substring(c.relname FROM '_p([0-9]{8})$'), 'YYYYMMDD') < p_today - p_hot_days
     ORDER BY 2, 1
$$;
REVOKE EXECUTE ON FUNCTION archive_due_at(date, integer) FROM PUBLIC;

-- Drop day p_day's partition of p_parent after its export: only past the hot window, only
-- when the partition holds exactly p_rows rows (checked under ACCESS EXCLUSIVE, so no row
-- can arrive between the check and the drop: a row written after the export makes the
-- counts differ, the drop is refused and the next run exports again), and recorded in the
-- catalog in the same transaction. The day's signal dedup keys go with it.
CREATE FUNCTION archive_drop_at(p_today date, p_hot_days integer, p_parent text, p_day date,
                                p_rows bigint, p_bytes bigint, p_file text,
                                p_file_sha256 text, p_manifest_sha256 text)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, public
SET TimeZone = 'UTC' AS $$
DECLARE
    v_part text := format('%s_p%s', p_parent, to_char(p_day, 'YYYYMMDD'));
    v_n bigint;
BEGIN
    IF p_parent NOT IN ('signal_archive', 'protection_logs') OR p_day IS NULL
       OR p_today IS NULL OR p_hot_days IS NULL OR p_hot_days < 1 THEN
        RAISE EXCEPTION 'archive_drop: bad arguments' USING ERRCODE = 'DP020';
    END IF;
    IF p_day >= p_today - p_hot_days THEN
        RAISE EXCEPTION 'archive_drop: % is inside the hot window', p_day USING ERRCODE = 'DP020';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                    WHERE i.inhparent = p_parent::regclass AND c.relname = v_part) THEN
        RAISE EXCEPTION 'archive_drop: no partition %', v_part USING ERRCODE = 'DP021';
    END IF;
    PERFORM pg_advisory_xact_lock(7234017283807667300);
    EXECUTE format('LOCK TABLE %I IN ACCESS EXCLUSIVE MODE', v_part);
    EXECUTE format('SELECT count(*) FROM %I', v_part) INTO v_n;
    IF v_n <> p_rows THEN
        RAISE EXCEPTION 'archive_drop: % holds % rows, the export has %', v_part, v_n, p_rows
            USING ERRCODE = 'DP023';
    END IF;
    INSERT INTO archive_catalog (parent, day, tier, file, rows, bytes, file_sha256, manifest_sha256)
    VALUES (p_parent, p_day, 'warm', p_file, p_rows, p_bytes, p_file_sha256, p_manifest_sha256)
    ON CONFLICT (parent, day) DO UPDATE
       SET tier = 'warm', file = EXCLUDED.file, rows = EXCLUDED.rows, bytes = EXCLUDED.bytes,
           file_sha256 = EXCLUDED.file_sha256, manifest_sha256 = EXCLUDED.manifest_sha256,
           exported_at = now(), cooled_at = NULL;
    EXECUTE format('DROP TABLE %I', v_part);
    IF p_parent = 'signal_archive' THEN
        DELETE FROM signal_archive_keys
         WHERE arrival_time >= p_day::timestamp AT TIME ZONE 'UTC'
           AND arrival_time < (p_day + 1)::timestamp AT TIME ZONE 'UTC';
    END IF;
    RETURN v_n;
END
$$;
REVOKE EXECUTE ON FUNCTION archive_drop_at(date, integer, text, date, bigint, bigint, text, text, text)
    FROM PUBLIC;

-- A day's files copied to the cold tier and verified there (the warm copy is removed
-- after this commits).
CREATE FUNCTION archive_cooled(p_parent text, p_day date)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, public AS $$
BEGIN
    UPDATE archive_catalog SET tier = 'cold', cooled_at = now()
     WHERE parent = p_parent AND day = p_day;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'archive_cooled: %/% is not in the catalog', p_parent, p_day
            USING ERRCODE = 'DP021';
    END IF;
END
$$;
REVOKE EXECUTE ON FUNCTION archive_cooled(text, date) FROM PUBLIC;

-- The application's entry points: today in UTC, the seed's 90-day hot window.
CREATE FUNCTION archive_due_partitions()
RETURNS TABLE (parent text, day date, time_column text)
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT * FROM archive_due_at((now() AT TIME ZONE 'UTC')::date, 90)
$$;
CREATE FUNCTION archive_drop(p_parent text, p_day date, p_rows bigint, p_bytes bigint,
                             p_file text, p_file_sha256 text, p_manifest_sha256 text)
RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT archive_drop_at((now() AT TIME ZONE 'UTC')::date, 90, p_parent, p_day, p_rows,
                           p_bytes, p_file, p_file_sha256, p_manifest_sha256)
$$;
REVOKE EXECUTE ON FUNCTION archive_due_partitions() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION archive_drop(text, date, bigint, bigint, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION archive_due_partitions(),
    archive_drop(text, date, bigint, bigint, text, text, text),
    archive_cooled(text, date)
TO decp_app;
