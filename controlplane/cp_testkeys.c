/* cp_testkeys: deterministic test credentials. Contract in cp_testkeys.h. */
#include "cp_testkeys.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "proto_sign.h"

static int sha256(const void *p, size_t n, uint8_t out[32])
{
	unsigned int len = 0;
	return EVP_Digest(p, n, out, &len, EVP_sha256(), NULL) == 1 && len == 32 ? 0 : -EIO;
}

static int derive(const char *label, const char *seed, uint64_t id, uint8_t out[32])
{
	char buf[512];
	int n = snprintf(buf, sizeof(buf), "%s:%s:%llu", label, seed, (unsigned long long)id);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return -EINVAL;
	return sha256(buf, (size_t)n, out);
}

int cp_testkeys_derive(const char *seed, uint64_t master_id, struct cp_testkeys *k)
{
	uint8_t t[32];
	static const char hex[] = "0123456789abcdef";
	memset(k, 0, sizeof(*k));
	if (derive("decp-token", seed, master_id, t) != 0 ||
	    derive("decp-hmac", seed, master_id, k->secret) != 0 ||
	    derive("decp-ed25519", seed, master_id, k->ed_seed) != 0)
		return -EIO;
	for (int i = 0; i < 32; i++) {
		k->token[2 * i] = hex[t[i] >> 4];
		k->token[2 * i + 1] = hex[t[i] & 15];
	}
	k->token[64] = '\0';
	if (sha256(k->token, 64, k->token_hash) != 0)
		return -EIO;
	return proto_ed25519_public_from_seed(k->ed_seed, k->ed_pub) == 0 ? 0 : -EIO;
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
