-- 0030_id_claim: one id allocation for subscribers and subscriptions too, whoever inserts.
--
-- 0020 fixed it for masters only. `decpctl subscriber add --id N` and `decpctl subscription
-- add --id N` insert explicit ids; a plain add, POST /v1/subscribers and POST
-- /v1/subscriptions take the identity sequence's next value, which never learnt of them:
-- after `--id 5` the add that drew 5 failed (duplicate key), found by an operator review.
-- The rule of 0020, now one function for the three tables (the masters' trigger moves to
-- it): an insert with an explicit id draws from the table's sequence and, when the id is
-- above what it drew, moves the sequence to it, so every later default is above every id
-- inserted so far; an explicit id below is accepted if free (the primary key decides).
--
-- A default id is recognised by being this session's currval of the sequence (the column
-- default has just called nextval). SECURITY DEFINER: decp_app inserts rows but may not
-- set the sequences itself.
CREATE FUNCTION id_claim() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    seq  text := pg_get_serial_sequence(format('public.%I', TG_TABLE_NAME), 'id');
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

DROP TRIGGER masters_id_claim ON masters;
DROP FUNCTION master_id_claim();
CREATE TRIGGER masters_id_claim BEFORE INSERT ON masters
    FOR EACH ROW EXECUTE FUNCTION id_claim();
CREATE TRIGGER subscribers_id_claim BEFORE INSERT ON subscribers
    FOR EACH ROW EXECUTE FUNCTION id_claim();
CREATE TRIGGER subscriptions_id_claim BEFORE INSERT ON subscriptions
    FOR EACH ROW EXECUTE FUNCTION id_claim();

-- Rows inserted with explicit ids before this migration: the sequences pass them now.
SELECT setval(pg_get_serial_sequence('public.subscribers', 'id'),
              GREATEST((SELECT max(id) FROM subscribers), 1),
              (SELECT max(id) FROM subscribers) IS NOT NULL);
SELECT setval(pg_get_serial_sequence('public.subscriptions', 'id'),
              GREATEST((SELECT max(id) FROM subscriptions), 1),
              (SELECT max(id) FROM subscriptions) IS NOT NULL);
