-- 0014_key_rotation: rotating a master's HMAC secret and Ed25519 key with an overlap
-- window, and revoking the key being retired at once (issue 17; docs/security.md).
--
-- `decpctl master rotate-hmac` moves hmac_secret to hmac_secret_prev with an end of
-- overlap (hmac_prev_until) and stores the new secret; decp-control pushes both to the
-- dataplane, which accepts a signal MACed with either until hmac_prev_until (then only the
-- new one). `rotate-signing-key` does the same for the Ed25519 public key, which
-- receivers read from the API during the overlap. `revoke-key` clears the previous key:
-- it is refused from the next signal on. The statement trigger of 0005 NOTIFYs decp-control
-- on every such UPDATE.
ALTER TABLE masters
    ADD COLUMN hmac_secret_prev        bytea CHECK (octet_length(hmac_secret_prev) = 32),
    ADD COLUMN hmac_prev_until         timestamptz,
    ADD COLUMN ed25519_public_key_prev bytea CHECK (octet_length(ed25519_public_key_prev) = 32),
    ADD COLUMN ed25519_prev_until      timestamptz,
    ADD COLUMN keys_rotated_at         timestamptz,
    ADD CONSTRAINT masters_hmac_prev_pair
        CHECK ((hmac_secret_prev IS NULL) = (hmac_prev_until IS NULL)),
    ADD CONSTRAINT masters_ed25519_prev_pair
        CHECK ((ed25519_public_key_prev IS NULL) = (ed25519_prev_until IS NULL));

GRANT UPDATE (hmac_secret_prev, hmac_prev_until, ed25519_public_key_prev, ed25519_prev_until,
              keys_rotated_at) ON masters TO decp_app;
