/* cp_testkeys: the tests' deterministic credentials. Contract in cp_testkeys.h. */
#include "cp_testkeys.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "proto_creds.h"

int cp_testkeys_derive(const char *seed, uint64_t master_id, struct cp_testkeys *k)
{
	struct proto_creds c;
	int rc = proto_creds_derive(seed, master_id, &c);
	memset(k, 0, sizeof(*k));
	if (rc != 0)
		return -EIO;
	memcpy(k->token, c.token, sizeof(k->token));
	memcpy(k->token_hash, c.token_hash, sizeof(k->token_hash));
	memcpy(k->secret, c.secret, sizeof(k->secret));
	memcpy(k->ed_seed, c.ed_seed, sizeof(k->ed_seed));
	memcpy(k->ed_pub, c.ed_pub, sizeof(k->ed_pub));
	return 0;
}

void cp_testkeys_commands(const struct cp_testkeys *k, uint64_t master_id,
			  uint64_t last_durable, struct dp_ctrl_cmd cmds[3])
{
	memset(cmds, 0, 3 * sizeof(cmds[0]));
	cmds[0].type = DP_CTRL_ADD_TOKEN;
	cmds[0].master_id = master_id;
	memcpy(cmds[0].token_hash, k->token_hash, 32);
	cmds[1].type = DP_CTRL_SET_MASTER;
	cmds[1].master_id = master_id;
	cmds[1].secret_len = 32;
	memcpy(cmds[1].secret, k->secret, 32);
	memcpy(cmds[1].pubkey, k->ed_pub, 32);
	cmds[2].type = DP_CTRL_SET_DURABLE;
	cmds[2].master_id = master_id;
	cmds[2].sequence = last_durable;
}
