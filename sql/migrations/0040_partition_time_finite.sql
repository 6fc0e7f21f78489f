-- 0040_partition_time_finite: every row of a partitioned table has a day.
--
-- Found by a review: a row of protection_logs (event_time) or signal_archive
-- (arrival_time) at -infinity, inserted by direct SQL (decp_app may INSERT into both),
-- went to the DEFAULT partition, and from then on every maintain_partitions() failed
-- (42P17, "empty range bound" for the partition of day -infinity): no partition was made
-- ahead any more, so after a week every new row went to the DEFAULT partition, and old
-- days sitting there never got the partition archival needs. +infinity did not fail
-- maintenance, but such a row belongs to no day: it can never be exported, and stays.
--
-- Refused at insert rather than skipped by maintenance: a row that no day holds cannot be
-- archived, and the seed keeps these rows as the record of what was copied to whom; the
-- writer learns at once (23514) instead of the record silently staying out of the archive.
-- No path of decp writes one (the archiver's arrival_time comes from arrival_ns, an
-- int64; the api bounds event_time_ms), so only direct SQL meets the constraint.
--
-- Rows written before this migration: a signal's infinite arrival_time is put back from
-- its exact arrival_ns (the same instant, as the archiver writes it), in signal_archive and
-- in its dedup key; a protection event's time cannot be recovered, so such an event is
-- kept where it is and the constraint stays NOT VALID (new rows refused all the same)
-- until the owner has decided (docs/database.md "Partitioning and retention"). So that
-- those rows cannot stop maintenance, partition_day_create() returns NULL (nothing to do)
-- for an infinite day: 0015's function is renamed partition_day_create_0015 and wrapped.
ALTER TABLE protection_logs ADD CONSTRAINT protection_logs_event_time_finite
    CHECK (isfinite(event_time)) NOT VALID;
ALTER TABLE signal_archive ADD CONSTRAINT signal_archive_arrival_time_finite
    CHECK (isfinite(arrival_time)) NOT VALID;

-- As the archiver's pg_time_us(): whole microseconds since 1970, before 1970 1970.
UPDATE signal_archive_keys k
   SET arrival_time = timestamptz 'epoch'
                      + greatest(s.arrival_ns, 0) / 1000 * interval '1 microsecond'
  FROM signal_archive s
 WHERE NOT isfinite(s.arrival_time)
   AND k.master_id = s.master_id AND k.sequence = s.sequence;
UPDATE signal_archive
   SET arrival_time = timestamptz 'epoch'
                      + greatest(arrival_ns, 0) / 1000 * interval '1 microsecond'
 WHERE NOT isfinite(arrival_time);
ALTER TABLE signal_archive VALIDATE CONSTRAINT signal_archive_arrival_time_finite;

DO $$
DECLARE
    v_n bigint;
BEGIN
    SELECT count(*) INTO v_n FROM protection_logs WHERE NOT isfinite(event_time);
    IF v_n = 0 THEN
        ALTER TABLE protection_logs VALIDATE CONSTRAINT protection_logs_event_time_finite;
    ELSE
        RAISE WARNING '0040: % protection_logs rows have an infinite event_time; they stay in '
                      'protection_logs_default and protection_logs_event_time_finite stays '
                      'NOT VALID (docs/database.md "Partitioning and retention")', v_n;
    END IF;
END
$$;

ALTER FUNCTION partition_day_create(text, text, date) RENAME TO partition_day_create_0015;
CREATE FUNCTION partition_day_create(p_parent text, p_col text, p_day date)
RETURNS text
LANGUAGE sql
SET search_path = pg_catalog, public AS $$
    SELECT CASE WHEN isfinite(p_day) THEN partition_day_create_0015(p_parent, p_col, p_day) END
$$;
REVOKE EXECUTE ON FUNCTION partition_day_create(text, text, date) FROM PUBLIC;
