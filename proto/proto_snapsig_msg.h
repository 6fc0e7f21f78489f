/*
 * proto_snapsig_msg: the bytes a re-sync snapshot's signature covers (issue 19; design in
 * proto_snapsig.h), pure C with no OpenSSL and no protobuf-c, so that decp.dll (mingw,
 * libgcrypt) builds exactly what the fan-out signs.
 *
 *   entry    = ticket (8) || type (4) || symbol length (1) || symbol (1..32)
 *              || volume || price || sl || tp || expiration_ns   (8 each)
 *   digest   = SHA-256(entry || entry || ...)      every entry, in the order sent
 *   message  = "decp-snapshot-v1" (16) || master_id (8) || sequence (8) || count (4)
 *              || digest (32)                                          = 68 bytes
 *   signature = Ed25519(server key, message)                            (RFC 8032)
 * Integers big endian, signed ones two's complement.
 *
 * Threading: stateless; any thread.
 */
#ifndef DECP_PROTO_SNAPSIG_MSG_H
#define DECP_PROTO_SNAPSIG_MSG_H

#include <stddef.h>
#include <stdint.h>

#define PROTO_SNAPSIG_LABEL "decp-snapshot-v1"
#define PROTO_SNAPSIG_MSG_LEN 68u
#define PROTO_SNAPSIG_DIGEST_LEN 32u
#define PROTO_SNAPSIG_SYMBOL_MAX 32u
#define PROTO_SNAPSIG_ENTRY_MAX (8u + 4u + 1u + PROTO_SNAPSIG_SYMBOL_MAX + 5u * 8u)

/* One entry's bytes into out. Returns their length, or 0 (NULL, symbol empty or longer
 * than PROTO_SNAPSIG_SYMBOL_MAX). */
size_t proto_snapsig_entry(uint8_t out[PROTO_SNAPSIG_ENTRY_MAX], uint64_t ticket, uint32_t type,
			   const char *symbol, int64_t volume, int64_t price, int64_t sl,
			   int64_t tp, int64_t expiration_ns);

/* The signed message of a snapshot (master, S, count, digest of its entries). */
void proto_snapsig_message(uint8_t out[PROTO_SNAPSIG_MSG_LEN], uint64_t master_id,
			   uint64_t sequence, uint32_t count,
			   const uint8_t digest[PROTO_SNAPSIG_DIGEST_LEN]);

#endif
