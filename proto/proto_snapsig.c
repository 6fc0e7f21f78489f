/* proto_snapsig: signed re-sync snapshots. Contract in proto_snapsig.h.
 *
 * The running digest is OpenSSL's low-level SHA256_CTX (deprecated in OpenSSL 3, hence
 * OPENSSL_SUPPRESS_DEPRECATED in this file, as in proto_hmac.c): a plain struct, so a
 * snapshot context needs no allocation and nothing to free when a receiver abandons a
 * snapshot half-way (any protocol error). */
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include "proto_snapsig.h"

#include <errno.h>

void proto_snapsig_init(struct proto_snapsig *s)
{
	SHA256_Init(&s->h);
	s->n = 0;
	s->bad = false;
}

void proto_snapsig_add(struct proto_snapsig *s, const Decp__BookEntry *e)
{
	uint8_t b[PROTO_SNAPSIG_ENTRY_MAX];
	size_t n = proto_snapsig_entry(b, e->ticket, (uint32_t)e->type, e->symbol, e->volume,
				       e->price, e->sl, e->tp, e->expiration_ns);

	if (n == 0)
		s->bad = true;
	else
		SHA256_Update(&s->h, b, n);
	s->n++;
}

/* The message of s (its digest finalised: s is used up). */
static void message_of(struct proto_snapsig *s, uint64_t master_id, uint64_t sequence,
		       uint32_t count, uint8_t msg[PROTO_SNAPSIG_MSG_LEN])
{
	uint8_t d[PROTO_SNAPSIG_DIGEST_LEN];

	SHA256_Final(d, &s->h);
	proto_snapsig_message(msg, master_id, sequence, count, d);
}

int proto_snapsig_sign(struct proto_snapsig *s, const struct proto_ed25519_key *sk,
		       uint64_t master_id, uint64_t sequence,
		       uint8_t sig[PROTO_ED25519_SIG_LEN])
{
	uint8_t msg[PROTO_SNAPSIG_MSG_LEN];

	if (s == NULL || sk == NULL || sig == NULL || s->bad)
		return -EINVAL;
	message_of(s, master_id, sequence, s->n, msg);
	return proto_ed25519_key_sign(sk, msg, sizeof(msg), sig) == 0 ? 0 : -EIO;
}

int proto_snapsig_verify(struct proto_snapsig *s, const struct proto_ed25519_key *pk,
			 uint64_t master_id, uint64_t sequence, uint32_t count,
			 const uint8_t *sig, size_t sig_len)
{
	uint8_t msg[PROTO_SNAPSIG_MSG_LEN];

	if (s == NULL || pk == NULL || sig == NULL || sig_len != PROTO_ED25519_SIG_LEN || s->bad ||
	    count != s->n)
		return -EBADMSG;
	message_of(s, master_id, sequence, count, msg);
	return proto_ed25519_key_verify(pk, msg, sizeof(msg), sig, sig_len) == 0 ? 0 : -EBADMSG;
}
