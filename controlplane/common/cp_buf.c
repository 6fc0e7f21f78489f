/* cp_buf: growth of the control plane's byte buffers. Contract in cp_buf.h. */
#include "cp_buf.h"

#include <errno.h>
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
