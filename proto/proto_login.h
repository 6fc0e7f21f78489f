/*
 * proto_login: the challenge-response login of protocol 2 (docs/protocol.md "Login").
 * The license token never crosses the network; the master proves it holds it.
 *
 *   master                                   ingest
 *     | -- Hello{master_id, version 2} ------> |
 *     | <-- ServerChallenge{nonce} ----------- |  32 random bytes, this connection only
 *     | -- LoginProof{proof} ----------------> |
 *     | <-- HelloAck / Nack BAD_TOKEN -------- |
 *
 *   key     = SHA-256(license token)                         (proto_login_key)
 *   message = "decp-login-v2" 0 0 0 (16 bytes) || nonce (32) || master_id (8, big endian)
 *             || channel binding (32)
 *   proof   = HMAC-SHA256(key, message)                       (proto_login_proof*)
 *
 * The message is built by proto_login_message (proto_login_msg.h), which decp.dll also
 * compiles (it has libgcrypt, not OpenSSL): one layout for every client.
 *
 * Why the key is SHA-256(token) and not the token: ingest holds only SHA-256(token) (the
 * database and the dataplane's table never hold the plaintext, SPEC §4), so that is the
 * secret both sides share. The hash is therefore password-equivalent for *this* login:
 * whoever steals the token table can log in as any master (docs/security.md "stolen
 * token table"); it still cannot recover the token (256 bits of entropy, decpctl makes
 * them), and an observer of the wire learns neither (HMAC is a PRF). A captured proof is
 * useless on another connection because the nonce differs.
 *
 * Channel binding: 32 bytes that both ends derive from the connection they share -- the
 * TLS exporter when the connection is TLS (RFC 8446 §7.5, RFC 9266 style: label
 * PROTO_LOGIN_EXPORTER_LABEL, no context, 32 bytes; OpenSSL's
 * SSL_export_keying_material(ssl, out, 32, label, 19, NULL, 0, 0)), 32 zero bytes on a
 * plaintext connection (pass NULL). With a binding, a proof relayed by an active man in
 * the middle does not verify on the server's side of his connection.
 *
 * Threading: stateless; any thread. Nothing allocates.
 */
#ifndef DECP_PROTO_LOGIN_H
#define DECP_PROTO_LOGIN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto_hmac.h"
#include "proto_login_msg.h" /* the message layout and the lengths */

#define PROTO_LOGIN_EXPORTER_LABEL "EXPORTER-decp-login"

/* key = SHA-256(token[0..len)). token may be NULL only when len == 0. */
void proto_login_key(const char *token, size_t len, uint8_t key[PROTO_LOGIN_KEY_LEN]);

/*
 * The master's side, in one call (what an EA's DLL wraps): proof for this connection's
 * nonce, from the license token itself.
 * nonce: exactly PROTO_LOGIN_NONCE_LEN bytes (ServerChallenge.nonce); binding: NULL
 * (plaintext connection) or PROTO_LOGIN_BINDING_LEN bytes.
 * Returns 0, or -EINVAL (NULL token/out, nonce_len wrong, master_id 0).
 */
int proto_login_proof(const char *token, size_t token_len, const uint8_t *nonce,
		      size_t nonce_len, uint64_t master_id, const uint8_t *binding,
		      uint8_t out[PROTO_LOGIN_PROOF_LEN]);

/* The same from a key schedule of SHA-256(token) (proto_hmac_key_init over the 32-byte
 * key): what ingest computes. Returns 0 or -EINVAL as above. */
int proto_login_proof_keyed(const struct proto_hmac_key *k, const uint8_t *nonce,
			    size_t nonce_len, uint64_t master_id, const uint8_t *binding,
			    uint8_t out[PROTO_LOGIN_PROOF_LEN]);

/*
 * Ingest: constant-time check of a proof (CRYPTO_memcmp). Returns 0 when it verifies,
 * -EBADMSG otherwise (wrong length, NULL, bad nonce length, mismatch).
 */
int proto_login_verify(const struct proto_hmac_key *k, const uint8_t *nonce, size_t nonce_len,
		       uint64_t master_id, const uint8_t *binding, const uint8_t *proof,
		       size_t proof_len);

/*
 * Client frames (4-byte length + MasterFrame), so every client builds them the same way:
 * Hello{master_id, client_version, PROTO_PROTOCOL_VERSION} (no token), and
 * LoginProof{proof_for(token, nonce, master_id, binding)}.
 * Both are proto_wire's encoders (proto_wire_hello_encode, proto_wire_login_proof_encode),
 * framed. Return the frame length, or -EINVAL (bad arguments as above, client_version
 * over PROTO_WIRE_TEXT_MAX), -ENOBUFS (cap too small).
 */
ssize_t proto_login_hello_frame(uint64_t master_id, const char *client_version, uint8_t *out,
				size_t cap);
ssize_t proto_login_proof_frame(const char *token, size_t token_len, const uint8_t *nonce,
				size_t nonce_len, uint64_t master_id, const uint8_t *binding,
				uint8_t *out, size_t cap);

#endif
