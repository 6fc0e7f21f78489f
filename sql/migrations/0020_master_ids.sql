-- 0020_master_ids: one id allocation for masters, whoever inserts (issue 28).
--
-- `decpctl master add --id N` (the demo registers its masters so) inserts an explicit id;
-- POST /v1/masters takes the identity sequence's next value. The sequence never learnt of
-- the explicit ids, so after `--id 3` every POST failed with 409 (masters_pkey) until the
-- sequence had passed 3. Now an insert with an explicit id draws from the same sequence
-- and, when the id is above what it drew, moves the sequence to it: every later default is
-- above every id inserted so far. An explicit id below the sequence is still accepted if
-- free (the primary key decides). Only an insert racing another for the very same id can
-- fail, and then with the primary key's unique violation (409), never silently.
--
-- A default id is recognised by being this session's currval of the sequence (the
-- column default has just called nextval); SECURITY DEFINER: decp_app inserts masters but
-- may not set the sequence itself.
CREATE FUNCTION master_id_claim() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    seq  text := pg_get_serial_sequence('public.masters', 'id');
    cur  bigint;
    v    bigint;
BEGIN
    BEGIN
        cur := currval(seq);
    EXCEPTION WHEN object_not_in_prerequisite_state THEN
        cur := NULL; -- no nextval in this session yet: the id is explicit
    END;
    IF cur IS NOT DISTINCT FROM NEW.id THEN
        RETURN NEW; -- drawn by the column default
    END IF;
    v := nextval(seq);
    IF v < NEW.id THEN
        PERFORM setval(seq, NEW.id, true); -- the next default is NEW.id + 1
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER masters_id_claim BEFORE INSERT ON masters
    FOR EACH ROW EXECUTE FUNCTION master_id_claim();

-- Masters inserted with explicit ids before this migration: the sequence passes them now.
SELECT setval(pg_get_serial_sequence('public.masters', 'id'),
              GREATEST((SELECT max(id) FROM masters), 1),
              (SELECT max(id) FROM masters) IS NOT NULL);
