-- 0005_auth_notify: the LISTEN/NOTIFY trigger decp-control's edge follows, and
-- the HMAC secret length the dataplane uses.
--
-- decp-control LISTENs on channel decp_auth and reloads tokens and master keys
-- when it fires (docs/control.md "Tokens and keys"). The trigger used to be
-- created by decp-control at start, which needed the table owner's rights; as
-- a migration it is created once, by the owner, and decp-control connects as
-- decp_app with no DDL rights at all.
--
-- Statement-level: one NOTIFY per changing statement; PostgreSQL folds
-- identical payloads within a transaction, so a bulk change costs one reload.
CREATE FUNCTION decp_auth_notify() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
BEGIN
    PERFORM pg_notify('decp_auth', TG_TABLE_NAME);
    RETURN NULL;
END
$$;
REVOKE EXECUTE ON FUNCTION decp_auth_notify() FROM PUBLIC;

CREATE TRIGGER decp_auth_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON license_tokens FOR EACH STATEMENT EXECUTE FUNCTION decp_auth_notify();
CREATE TRIGGER decp_auth_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON masters FOR EACH STATEMENT EXECUTE FUNCTION decp_auth_notify();

-- HMAC-SHA256 keys are exactly 32 bytes: the dataplane's key slot holds 32
-- (a longer key would be refused by decp-control at load time and the master
-- could never log in, which the database should say at INSERT instead).
ALTER TABLE masters DROP CONSTRAINT masters_hmac_secret_check;
ALTER TABLE masters ADD CONSTRAINT masters_hmac_secret_check
    CHECK (octet_length(hmac_secret) = 32);
