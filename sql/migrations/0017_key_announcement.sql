-- 0017_key_announcement: the signed announcement of a master's new Ed25519 key (issue 17;
-- docs/protocol.md "Key announcement", docs/fanout.md "Key announcements").
--
-- `decpctl master rotate-signing-key --old-key FILE` (or --old-key-seed) signs, with the
-- OLD seed, the 112 bytes of proto/proto_keyann.h (master id, old key, new key, the two
-- times below) and stores the signature here in the same UPDATE that installs the new
-- key. The fan-out relays it to the master's subscribers (ServerMessage.key_announcement);
-- they verify it with the key they already trust. decp stores no private key: without
-- the old seed the rotation stores no announcement (the columns are cleared, so a stale
-- one is never relayed) and receivers learn the key from the API only.
ALTER TABLE masters
    ADD COLUMN ed25519_announce_sig      bytea CHECK (octet_length(ed25519_announce_sig) = 64),
    ADD COLUMN ed25519_announce_from_ns  bigint,
    ADD COLUMN ed25519_announce_until_ns bigint,
    ADD CONSTRAINT masters_ed25519_announce_all
        CHECK ((ed25519_announce_sig IS NULL) = (ed25519_announce_from_ns IS NULL)
               AND (ed25519_announce_sig IS NULL) = (ed25519_announce_until_ns IS NULL)
               AND (ed25519_announce_until_ns IS NULL
                    OR ed25519_announce_until_ns >= ed25519_announce_from_ns));

GRANT UPDATE (ed25519_announce_sig, ed25519_announce_from_ns, ed25519_announce_until_ns)
    ON masters TO decp_app;
