/*
 * proto_login_msg: the bytes a protocol-2 login proof is an HMAC of (docs/protocol.md
 * "Login", proto_login.h), in one place for every client. proto_login computes the HMAC
 * with OpenSSL; decp.dll (tools/mt5/, no OpenSSL) with libgcrypt over the same bytes.
 *
 *   message = "decp-login-v2" 0 0 0 (16 bytes) || nonce (32) || master_id (8, big endian)
 *             || channel binding (32: the TLS exporter, or zeros on a plaintext connection)
 *
 * Pure: no OpenSSL, no protobuf-c, no allocation; any thread.
 */
#ifndef DECP_PROTO_LOGIN_MSG_H
#define DECP_PROTO_LOGIN_MSG_H

#include <stddef.h>
#include <stdint.h>

#define PROTO_LOGIN_NONCE_LEN 32u
#define PROTO_LOGIN_PROOF_LEN 32u
#define PROTO_LOGIN_BINDING_LEN 32u
#define PROTO_LOGIN_KEY_LEN 32u
/* Bytes HMACed: label 16 + nonce 32 + master id 8 + binding 32. */
#define PROTO_LOGIN_MSG_LEN 88u

/*
 * Writes the message for this connection's nonce (exactly PROTO_LOGIN_NONCE_LEN bytes,
 * ServerChallenge.nonce), the master and the channel binding (NULL = 32 zero bytes, a
 * plaintext connection; else PROTO_LOGIN_BINDING_LEN bytes) into out.
 * Returns 0, or -EINVAL (NULL nonce/out, nonce_len wrong, master_id 0).
 */
int proto_login_message(const uint8_t *nonce, size_t nonce_len, uint64_t master_id,
			const uint8_t *binding, uint8_t out[PROTO_LOGIN_MSG_LEN]);

#endif
