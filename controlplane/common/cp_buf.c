/* cp_buf: growth of the control plane's byte buffers, hex decoding. Contract in cp_buf.h. */
#include "cp_buf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

int cp_buf_grow(char **p, size_t *cap, size_t need, size_t initial)
{
	if (*cap >= need)
		return 0;
	size_t c = *cap > initial ? *cap : initial;
	while (c < need)
		c *= 2;
	char *q = realloc(*p, c);
	if (q == NULL)
		return -ENOMEM;
	*p = q;
	*cap = c;
	return 0;
}

int cp_hex_decode(const char *hex, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned int b;

		if (sscanf(hex + 2 * i, "%2x", &b) != 1)
			return -EINVAL;
		out[i] = (uint8_t)b;
	}
	return 0;
}
