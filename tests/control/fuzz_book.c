/*
 * fuzz_book: libFuzzer target for cp_book_decode (controlplane/common/cp_book.h), the
 * parser of the position books other processes store in Redis. Arbitrary bytes: decode
 * never reads out of bounds; a book it accepts encodes back to the very same bytes (the
 * format has one encoding per book), decodes again to the same book, and takes the next
 * sequence. Seeds: book_seeds/ (a book of a few positions and pending orders).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cp_book.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct cp_book b, c;
	uint8_t *out;
	long n;

	cp_book_init(&b, 0);
	cp_book_init(&c, 0);
	if (cp_book_decode(&b, data, len) != 0) {
		if (b.n != 0 || b.seq != 0)
			abort(); /* a refused input leaves the empty book */
		cp_book_free(&b);
		return 0;
	}
	out = malloc(cp_book_encoded_max(&b) + 1);
	if (out == NULL)
		abort();
	n = cp_book_encode(&b, out, cp_book_encoded_max(&b));
	/* entries come back in the same order, so the bytes are the input's */
	if (n != (long)len || memcmp(out, data, len) != 0)
		abort();
	if (cp_book_decode(&c, out, (size_t)n) != 0 || c.n != b.n || c.seq != b.seq)
		abort();
	for (size_t k = 0; k < b.n; k++)
		if (cp_book_find(&c, b.e[k].ticket) == NULL)
			abort();
	if (b.seq < UINT64_MAX) {
		struct cp_book_signal s = {.master_id = b.master_id, .sequence = b.seq + 1,
					   .ticket = b.n ? b.e[0].ticket : 1, .order_type = 7,
					   .symbol = "EURUSD"};
		int rc = cp_book_apply(&c, &s, NULL);

		if (rc != 0 && rc != -ENOMEM)
			abort();
	}
	free(out);
	cp_book_free(&b);
	cp_book_free(&c);
	return 0;
}
