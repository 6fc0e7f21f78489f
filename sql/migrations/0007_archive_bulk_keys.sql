-- 0007_archive_bulk_keys: signal_archive's "each (master_id, sequence) once"
-- rule enforced per statement instead of per row (issue 7, archive >= 100k
-- rows/s; docs/perf.md "control").
--
-- 0003 kept the rule with a BEFORE INSERT row trigger (signal_archive_dedup):
-- one plpgsql call and one INSERT ... ON CONFLICT into signal_archive_keys per
-- row, which also stopped COPY from batching its heap inserts. It cost about
-- half of PostgreSQL's CPU per archived row.
--
-- Now an AFTER INSERT statement trigger with a transition table inserts all
-- keys of the statement in one set-based INSERT into signal_archive_keys. The
-- key table's primary key refuses a (master_id, sequence) that is already
-- archived, in any daily partition, or that appears twice in one statement:
-- the whole statement fails with unique_violation (SQLSTATE 23505). The
-- promise is unchanged ("at most once, for every client"); what changes is
-- that a duplicate INSERT is now refused instead of silently dropped, so a
-- client that may redeliver filters first. The archiver does (docs/control.md
-- "archiver"): it COPYs a fresh batch straight in, and a batch that may hold
-- redeliveries (a claimed one, or one refused with 23505) goes through a
-- temporary staging table and one INSERT ... SELECT that skips keys already in
-- signal_archive_keys; decp_app may therefore read that table.
--
-- Statement triggers of a partitioned table do not fire for an INSERT or COPY
-- that names a partition directly, so every partition carries the same
-- statement trigger (it fires only for statements aimed at that partition:
-- rows routed through the parent are covered once, by the parent's).
-- maintain_partitions_at() is wrapped below to add it to each partition it
-- creates; the DEFAULT partition and today's partitions get it here.

DROP TRIGGER signal_archive_dedup ON signal_archive;   -- and its clones on partitions
DROP FUNCTION signal_archive_dedup();

-- SECURITY DEFINER: decp_app may read signal_archive_keys but not write it.
CREATE FUNCTION signal_archive_keys_add() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    INSERT INTO signal_archive_keys (master_id, sequence, arrival_time)
    SELECT n.master_id, n.sequence, n.arrival_time FROM new_rows n;
    RETURN NULL;
END
$$;
REVOKE EXECUTE ON FUNCTION signal_archive_keys_add() FROM PUBLIC;

CREATE TRIGGER signal_archive_keys_add AFTER INSERT ON signal_archive
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION signal_archive_keys_add();

-- The same trigger on one partition (idempotent). Owner only.
CREATE FUNCTION signal_archive_partition_guard(p_partition regclass) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_trigger
                    WHERE tgrelid = p_partition AND tgname = 'signal_archive_keys_add') THEN
        EXECUTE format('CREATE TRIGGER signal_archive_keys_add AFTER INSERT ON %s'
                       ' REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT'
                       ' EXECUTE FUNCTION signal_archive_keys_add()', p_partition);
    END IF;
END
$$;
REVOKE EXECUTE ON FUNCTION signal_archive_partition_guard(regclass) FROM PUBLIC;

SELECT count(signal_archive_partition_guard(i.inhrelid::regclass))
  FROM pg_inherits i WHERE i.inhparent = 'signal_archive'::regclass;

-- Partitions created later: 0003's maintain_partitions_at keeps its body under a new
-- name, and maintain_partitions_at becomes a wrapper that runs it and then guards
-- every signal_archive partition (those it created, and a day it moved out of the
-- DEFAULT partition and attached). maintain_partitions() calls it by name, so the
-- application's entry point is unchanged. Owner only, like before.
ALTER FUNCTION maintain_partitions_at(date, integer, integer)
    RENAME TO maintain_partitions_0003;

CREATE FUNCTION maintain_partitions_at(p_today date, p_days_ahead integer DEFAULT 7,
                                       p_retention_days integer DEFAULT 90)
RETURNS TABLE (action text, partition_name text)
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
BEGIN
    RETURN QUERY SELECT * FROM maintain_partitions_0003(p_today, p_days_ahead, p_retention_days);
    PERFORM signal_archive_partition_guard(i.inhrelid::regclass)
       FROM pg_inherits i WHERE i.inhparent = 'signal_archive'::regclass;
END
$$;
REVOKE EXECUTE ON FUNCTION maintain_partitions_at(date, integer, integer) FROM PUBLIC;

-- The archiver filters redeliveries against the keys (read only).
GRANT SELECT ON signal_archive_keys TO decp_app;
