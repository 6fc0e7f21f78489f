/* proto_creds: a master's credentials, random or derived. Contract in proto_creds.h. */
#include "proto_creds.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "proto_sign.h"

static int sha256(const void *p, size_t n, uint8_t out[32])
{
	unsigned int len = 0;
	return EVP_Digest(p, n, out, &len, EVP_sha256(), NULL) == 1 && len == 32 ? 0 : -EIO;
}

/* 32 bytes as the token's 64 hex characters, and the token's hash. */
static int token_of(const uint8_t raw[32], char hex[65], uint8_t hash[32])
{
	static const char d[] = "0123456789abcdef";
	for (int i = 0; i < 32; i++) {
		hex[2 * i] = d[raw[i] >> 4];
		hex[2 * i + 1] = d[raw[i] & 15];
	}
	hex[64] = '\0';
	return sha256(hex, 64, hash);
}

int proto_token_new(char hex[65], uint8_t hash[32])
{
	uint8_t raw[32];
	int rc = RAND_bytes(raw, sizeof(raw)) == 1 ? token_of(raw, hex, hash) : -EIO;
	OPENSSL_cleanse(raw, sizeof(raw));
	return rc;
}

int proto_creds_random(struct proto_creds *k)
{
	memset(k, 0, sizeof(*k));
	if (proto_token_new(k->token, k->token_hash) != 0 ||
	    RAND_bytes(k->secret, sizeof(k->secret)) != 1 ||
	    RAND_bytes(k->ed_seed, sizeof(k->ed_seed)) != 1)
		return -EIO;
	return proto_ed25519_public_from_seed(k->ed_seed, k->ed_pub) == 0 ? 0 : -EIO;
}

static int derive(const char *label, const char *seed, uint64_t id, uint8_t out[32])
{
	char buf[512];
	int n = snprintf(buf, sizeof(buf), "%s:%s:%llu", label, seed, (unsigned long long)id);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return -EINVAL;
	return sha256(buf, (size_t)n, out);
}

int proto_creds_read_seed_file(const char *path, uint8_t seed[32])
{
	FILE *f = fopen(path, "r");
	char line[256];
	int rc = -EINVAL;

	if (f == NULL)
		return -errno;
	while (rc != 0 && fgets(line, sizeof(line), f) != NULL) {
		char h[65];
		int n = 0;

		if (sscanf(line, " ed25519_seed = %64[0-9a-f] %n", h, &n) != 1 || strlen(h) != 64 ||
		    line[n] != '\0')
			continue;
		for (int i = 0; i < 32; i++) {
			unsigned int b;

			sscanf(h + 2 * i, "%2x", &b);
			seed[i] = (uint8_t)b;
		}
		OPENSSL_cleanse(h, sizeof(h));
		rc = 0;
	}
	OPENSSL_cleanse(line, sizeof(line));
	fclose(f);
	return rc;
}

int proto_creds_derive(const char *seed, uint64_t master_id, struct proto_creds *k)
{
	uint8_t t[32];
	memset(k, 0, sizeof(*k));
	int rc = derive("decp-token", seed, master_id, t);
	if (rc == 0)
		rc = derive("decp-hmac", seed, master_id, k->secret);
	if (rc == 0)
		rc = derive("decp-ed25519", seed, master_id, k->ed_seed);
	if (rc == 0)
		rc = token_of(t, k->token, k->token_hash);
	if (rc != 0)
		return rc;
	return proto_ed25519_public_from_seed(k->ed_seed, k->ed_pub) == 0 ? 0 : -EIO;
}
