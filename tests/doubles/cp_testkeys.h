/*
 * cp_testkeys: the tests' view of the deterministic credentials (proto_creds_derive,
 * proto/proto_creds.h: the derivation itself lives there, for decp-master and
 * `decpctl master add --key-seed` too), and the control commands that load them into the
 * dataplane the way decp-control's edge would (decp-testconsumer, tests). Test-only:
 * production credentials are random (proto_creds_random) and come from PostgreSQL.
 * docs/ingest.md "Test credentials".
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
