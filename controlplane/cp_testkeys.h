/*
 * cp_testkeys: deterministic test credentials, shared by decp-master (the master side) and
 * decp-testconsumer / tests (which load them into the dataplane like decp-control would).
 * For tests and load runs only: production tokens and keys come from PostgreSQL.
 *
 * For a seed string S and master id M (decimal):
 *   license token  = lowercase hex of SHA-256("decp-token:"   S ":" M)   (64 characters)
 *   HMAC secret    =                 SHA-256("decp-hmac:"    S ":" M)   (32 bytes)
 *   Ed25519 seed   =                 SHA-256("decp-ed25519:" S ":" M)   (32 bytes)
 *   token hash     = SHA-256(license token)    (what the dataplane stores)
 * docs/ingest.md "Test credentials" repeats this.
 */
#ifndef DECP_CP_TESTKEYS_H
#define DECP_CP_TESTKEYS_H

#include <stdint.h>

#include "dp_shm.h"

struct cp_testkeys {
	char token[65];
	uint8_t token_hash[32];
	uint8_t secret[32];
	uint8_t ed_seed[32];
	uint8_t ed_pub[32];
};

/* Derive the credentials of master_id under seed. Returns 0 or -EIO (OpenSSL failure). */
int cp_testkeys_derive(const char *seed, uint64_t master_id, struct cp_testkeys *k);

/* Fill the three commands that load master_id into the dataplane (ADD_TOKEN, SET_MASTER,
 * SET_DURABLE with last_durable). */
void cp_testkeys_commands(const struct cp_testkeys *k, uint64_t master_id,
			  uint64_t last_durable, struct dp_ctrl_cmd cmds[3]);

#endif
