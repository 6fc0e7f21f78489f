-- 0041_archive_rows_digest: a day's partition is dropped only when it still holds the rows
-- that were exported, not merely as many.
--
-- Found by a database review: archive_drop_at (0015) compared only count(*), under the
-- partition's exclusive lock, with the exported row count. A row deleted and another
-- inserted (or a row updated) by the owner between the export and the drop left the count
-- equal: the partition was dropped and the changed row was in no archive file. The
-- archiver's data_sha256 is over the ordered COPY text, which SQL cannot reproduce.
--
-- Now:
--   archive_rows_digest(rel, day)  the row count and an order-independent digest of the
--                                  rows: the sum modulo 2^128 of the first 128 bits of
--                                  each row's SHA-256 over its text (the row as a record,
--                                  every column as PostgreSQL prints it under pinned
--                                  settings), as 32 hex digits. A sum, not an XOR: a
--                                  duplicated row changes it.
--                                  With a day: that day's rows of signal_archive or
--                                  protection_logs; without: every row of rel (a
--                                  restored day's table). The invoker's rights.
--   archive_drop_at(..., rows_digest), archive_drop(..., rows_digest)
--                                  as 0015's, and refuse (DP023) when the day's rows
--                                  under the SHARE lock have another digest than the
--                                  export's (taken in the export's snapshot); the digest
--                                  goes into archive_catalog.rows_digest.
--   0015's archive_drop_at(9 args) is renamed archive_drop_at_0015 (it still does the
--   drop, called by the new one); the 9- and 7-argument signatures now refuse (DP020): an
--   export without a digest (a decp-control from before 0041) cannot show that the rows
--   did not change, and refusing keeps the partition (archival waits for the upgrade, the
--   archiver's DecpArchiveFailed fires) where counting alone could lose a row.
ALTER TABLE archive_catalog
    ADD COLUMN rows_digest text CHECK (rows_digest ~ '^[0-9a-f]{32}$');
COMMENT ON COLUMN archive_catalog.rows_digest IS
    'archive_rows_digest() of the day''s rows in the export''s snapshot; NULL for a day '
    'archived before 0041';

-- A table of one row (rows, rows_digest) rather than a scalar: PL/pgSQL runs RETURN QUERY
-- EXECUTE with parallel workers, and SELECT ... INTO never (measured on 1,000,000 rows of
-- signal_archive: about half the time on 2 cores; docs/database.md "Retention and archival").
CREATE FUNCTION archive_rows_digest(p_rel regclass, p_day date DEFAULT NULL)
RETURNS TABLE (rows bigint, rows_digest text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, public
-- A row's text depends on these settings; pinned so that the export's digest, the drop's
-- and a restore's agree whatever the sessions set (parallel workers inherit them).
SET TimeZone = 'UTC'
SET DateStyle = 'ISO, YMD'
SET IntervalStyle = 'postgres'
SET extra_float_digits = 1
SET bytea_output = 'hex' AS $$
DECLARE
    v_where text := '';
    v_col text;
BEGIN
    IF p_rel IS NULL THEN
        RAISE EXCEPTION 'archive_rows_digest: no relation' USING ERRCODE = 'DP020';
    END IF;
    IF p_day IS NOT NULL THEN
        v_col := CASE p_rel WHEN 'signal_archive'::regclass THEN 'arrival_time'
                            WHEN 'protection_logs'::regclass THEN 'event_time' END;
        IF v_col IS NULL OR NOT isfinite(p_day) THEN
            RAISE EXCEPTION 'archive_rows_digest: a day is for signal_archive or protection_logs'
                USING ERRCODE = 'DP020';
        END IF;
        v_where := format(' WHERE %I >= %L AND %I < %L', v_col,
                          p_day::timestamp AT TIME ZONE 'UTC', v_col,
                          (p_day + 1)::timestamp AT TIME ZONE 'UTC');
    END IF;
    -- Each row's 128 bits as two signed bigints (hi, lo), summed exactly (numeric) and
    -- made unsigned (+2^64 per negative term); then hi * 2^64 + lo modulo 2^128, printed
    -- as two 64-bit halves (to_hex(bigint) prints a negative value as its two's complement).
    RETURN QUERY EXECUTE format($q$
        WITH s AS (
            SELECT count(*) AS n,
                   coalesce(sum(hi), 0) + count(*) FILTER (WHERE hi < 0) * $1 AS hi,
                   coalesce(sum(lo), 0) + count(*) FILTER (WHERE lo < 0) * $1 AS lo
              FROM (SELECT ('x' || substr(h, 1, 16))::bit(64)::bigint AS hi,
                           ('x' || substr(h, 17, 16))::bit(64)::bigint AS lo
                      FROM (SELECT encode(sha256(convert_to(t::text, 'UTF8')), 'hex') AS h
                              FROM %s t%s) r) x),
        m AS (SELECT n, mod(hi + div(lo, $1), $1) AS hi, mod(lo, $1) AS lo FROM s)
        SELECT n,
               lpad(to_hex((CASE WHEN hi >= $1 / 2 THEN hi - $1 ELSE hi END)::bigint), 16, '0')
               || lpad(to_hex((CASE WHEN lo >= $1 / 2 THEN lo - $1 ELSE lo END)::bigint), 16, '0')
          FROM m$q$, p_rel, v_where)
    USING 18446744073709551616::numeric;
END
$$;
REVOKE EXECUTE ON FUNCTION archive_rows_digest(regclass, date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION archive_rows_digest(regclass, date) TO decp_app;

ALTER FUNCTION archive_drop_at(date, integer, text, date, bigint, bigint, text, text, text)
    RENAME TO archive_drop_at_0015;

-- A NULL or malformed digest is refused (DP020).
CREATE FUNCTION archive_drop_refuse_no_digest(p_rows_digest text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, public AS $$
BEGIN
    IF p_rows_digest IS NULL OR p_rows_digest !~ '^[0-9a-f]{32}$' THEN
        RAISE EXCEPTION 'archive_drop: no rows digest of the export (an archiver from before migration 0041?): refused, the partition is kept'
            USING ERRCODE = 'DP020',
                  HINT = 'upgrade decp-control; its next pass exports the day with a digest and drops it';
    END IF;
END
$$;
REVOKE EXECUTE ON FUNCTION archive_drop_refuse_no_digest(text) FROM PUBLIC;

-- The drop (0015's archive_drop_at_0015: hot window, row count, catalog, dedup keys), after
-- the day's rows were found to have the export's digest under the partition's SHARE lock,
-- taken first and held to the drop, so that no row can change between the check and the
-- drop: SHARE stops every writer but no reader, so the digest (one SHA-256 per row: ~10 s a
-- million rows here) holds up no query of the parent that cannot prune the day (the api's
-- lists, the book role's catch-up), as ACCESS EXCLUSIVE did; 0015's function then takes
-- ACCESS EXCLUSIVE for the count and the drop, a moment. A transaction that read the day
-- and then writes to it meanwhile deadlocks with the upgrade and one of the two is aborted
-- (a drop refused is retried by the next pass; nothing is lost either way).
CREATE FUNCTION archive_drop_at(p_today date, p_hot_days integer, p_parent text, p_day date,
                                p_rows bigint, p_bytes bigint, p_file text,
                                p_file_sha256 text, p_manifest_sha256 text, p_rows_digest text)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, public
SET TimeZone = 'UTC' AS $$
DECLARE
    v_part text := format('%s_p%s', p_parent, to_char(p_day, 'YYYYMMDD'));
    v_n bigint;
    v_digest text;
BEGIN
    PERFORM archive_drop_refuse_no_digest(p_rows_digest);
    -- Arguments 0015's function refuses (bad table or day, inside the hot window, no such
    -- partition) go straight to it, which names the one at fault; the rest are checked
    -- under the lock first.
    IF p_parent IN ('signal_archive', 'protection_logs') AND p_day IS NOT NULL
       AND p_today IS NOT NULL AND p_hot_days >= 1 AND p_day < p_today - p_hot_days
       AND EXISTS (SELECT 1 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                    WHERE i.inhparent = p_parent::regclass AND c.relname = v_part) THEN
        PERFORM pg_advisory_xact_lock(7234017283807667300);
        EXECUTE format('LOCK TABLE %I IN SHARE MODE', v_part);
        SELECT d.rows, d.rows_digest INTO v_n, v_digest
          FROM archive_rows_digest(p_parent::regclass, p_day) d;
        IF v_n <> p_rows OR v_digest <> p_rows_digest THEN
            IF v_n <> p_rows THEN
                RAISE EXCEPTION 'archive_drop: % holds % rows, the export has %', v_part, v_n, p_rows
                    USING ERRCODE = 'DP023';
            END IF;
            RAISE EXCEPTION 'archive_drop: % holds % rows as the export, but not the same: rows digest %, the export''s %',
                v_part, v_n, v_digest, p_rows_digest
                USING ERRCODE = 'DP023',
                      HINT = 'rows were changed after the export; the next pass exports the day again';
        END IF;
    END IF;
    v_n := archive_drop_at_0015(p_today, p_hot_days, p_parent, p_day, p_rows, p_bytes, p_file,
                                p_file_sha256, p_manifest_sha256);
    UPDATE archive_catalog SET rows_digest = p_rows_digest
     WHERE parent = p_parent AND day = p_day;
    RETURN v_n;
END
$$;
REVOKE EXECUTE ON FUNCTION archive_drop_at(date, integer, text, date, bigint, bigint, text, text,
                                           text, text) FROM PUBLIC;

-- 0015's signatures, without a digest: refused, whatever the rows.
CREATE FUNCTION archive_drop_at(p_today date, p_hot_days integer, p_parent text, p_day date,
                                p_rows bigint, p_bytes bigint, p_file text,
                                p_file_sha256 text, p_manifest_sha256 text)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, public AS $$
BEGIN
    PERFORM archive_drop_refuse_no_digest(NULL);
    RETURN NULL;
END
$$;
REVOKE EXECUTE ON FUNCTION archive_drop_at(date, integer, text, date, bigint, bigint, text, text,
                                           text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION archive_drop_at_0015(date, integer, text, date, bigint, bigint, text,
                                                text, text) FROM PUBLIC;

CREATE FUNCTION archive_drop(p_parent text, p_day date, p_rows bigint, p_bytes bigint,
                             p_file text, p_file_sha256 text, p_manifest_sha256 text,
                             p_rows_digest text)
RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT archive_drop_at((now() AT TIME ZONE 'UTC')::date, 90, p_parent, p_day, p_rows,
                           p_bytes, p_file, p_file_sha256, p_manifest_sha256, p_rows_digest)
$$;
REVOKE EXECUTE ON FUNCTION archive_drop(text, date, bigint, bigint, text, text, text, text)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION archive_drop(text, date, bigint, bigint, text, text, text, text)
    TO decp_app;
