/* proto_snapsig_msg: the signed bytes of a snapshot. Layout in proto_snapsig_msg.h. */
#include "proto_snapsig_msg.h"

#include <string.h>

static uint8_t *be(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
	return p + n;
}

size_t proto_snapsig_entry(uint8_t out[PROTO_SNAPSIG_ENTRY_MAX], uint64_t ticket, uint32_t type,
			   const char *symbol, int64_t volume, int64_t price, int64_t sl,
			   int64_t tp, int64_t expiration_ns)
{
	size_t n = symbol != NULL ? strnlen(symbol, PROTO_SNAPSIG_SYMBOL_MAX + 1) : 0;
	uint8_t *p = out;

	if (out == NULL || n == 0 || n > PROTO_SNAPSIG_SYMBOL_MAX)
		return 0;
	p = be(p, ticket, 8);
	p = be(p, type, 4);
	*p++ = (uint8_t)n;
	memcpy(p, symbol, n);
	p += n;
	p = be(p, (uint64_t)volume, 8);
	p = be(p, (uint64_t)price, 8);
	p = be(p, (uint64_t)sl, 8);
	p = be(p, (uint64_t)tp, 8);
	p = be(p, (uint64_t)expiration_ns, 8);
	return (size_t)(p - out);
}

void proto_snapsig_message(uint8_t out[PROTO_SNAPSIG_MSG_LEN], uint64_t master_id,
			   uint64_t sequence, uint32_t count,
			   const uint8_t digest[PROTO_SNAPSIG_DIGEST_LEN])
{
	uint8_t *p = out;

	memcpy(p, PROTO_SNAPSIG_LABEL, 16);
	p = be(p + 16, master_id, 8);
	p = be(p, sequence, 8);
	p = be(p, count, 4);
	memcpy(p, digest, PROTO_SNAPSIG_DIGEST_LEN);
	_Static_assert(16 + 8 + 8 + 4 + PROTO_SNAPSIG_DIGEST_LEN == PROTO_SNAPSIG_MSG_LEN,
		       "the message is exactly its fields");
}
