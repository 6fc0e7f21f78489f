/*
 * proto_creds: a master's credentials as decp issues them (docs/ingest.md "Credentials"):
 * a license token (64 lower-case hex characters; the dataplane and PostgreSQL keep only
 * its SHA-256), a 32-byte HMAC-SHA256 secret, and an Ed25519 key pair from a 32-byte seed.
 *
 * proto_creds_random is how production credentials are made (`decpctl master add`);
 * proto_creds_derive makes the deterministic ones of a seed string, for demos, load runs
 * and tests (`decpctl master add --key-seed`, decp-master, tests' cp_testkeys):
 *   license token  = lowercase hex of SHA-256("decp-token:"   S ":" M)
 *   HMAC secret    =                 SHA-256("decp-hmac:"    S ":" M)
 *   Ed25519 seed   =                 SHA-256("decp-ed25519:" S ":" M)
 * for seed string S and master id M (decimal). Anyone who knows S knows the keys: never
 * use a derived credential in production.
 *
 * Threading: pure apart from OpenSSL's RNG; any thread.
 */
#ifndef DECP_PROTO_CREDS_H
#define DECP_PROTO_CREDS_H

#include <stdint.h>

struct proto_creds {
	char token[65];         /* license token, NUL-terminated hex */
	uint8_t token_hash[32]; /* SHA-256 of the 64 token characters */
	uint8_t secret[32];     /* HMAC-SHA256 key */
	uint8_t ed_seed[32];    /* Ed25519 private seed */
	uint8_t ed_pub[32];     /* Ed25519 public key of ed_seed */
};

/* A fresh random token: 32 bytes of OpenSSL's RNG as hex into hex[65], its SHA-256 into
 * hash. Returns 0 or -EIO. */
int proto_token_new(char hex[65], uint8_t hash[32]);

/* Random credentials (production). Returns 0 or -EIO (OpenSSL failure). */
int proto_creds_random(struct proto_creds *k);

/* The deterministic credentials of master_id under seed (see above). Returns 0, -EINVAL
 * (seed longer than 400 bytes) or -EIO. */
int proto_creds_derive(const char *seed, uint64_t master_id, struct proto_creds *k);

/*
 * The Ed25519 seed of the line "ed25519_seed = <64 lower-case hex>" of a credentials file
 * (what `decpctl master add --out` writes; the fan-out's fanout_snapshot_key). Returns 0,
 * the -errno of fopen, or -EINVAL when the file has no such line. The line is wiped.
 */
int proto_creds_read_seed_file(const char *path, uint8_t seed[32]);

#endif
