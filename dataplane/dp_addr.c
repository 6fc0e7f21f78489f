/* dp_addr: ADDR:PORT parsing. Contract in dp_addr.h. */
#include "dp_addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

int dp_hostport_parse(const char *s, char *addr, size_t cap, uint16_t *port,
		      unsigned int min_port, const char **why)
{
	const char *colon = s != NULL ? strrchr(s, ':') : NULL;
	*why = "expected ADDR:PORT";
	if (colon == NULL || colon == s)
		return -EINVAL;
	const char *a = s;
	size_t alen = (size_t)(colon - s);
	if (a[0] == '[' && alen >= 2 && a[alen - 1] == ']') {
		a++;
		alen -= 2;
	}
	*why = "not a numeric address";
	if (alen == 0 || alen >= cap)
		return -EINVAL;
	memcpy(addr, a, alen);
	addr[alen] = '\0';
	struct in6_addr tmp;
	if (inet_pton(AF_INET, addr, &tmp) != 1 && inet_pton(AF_INET6, addr, &tmp) != 1)
		return -EINVAL;
	*why = "port out of range";
	char *end;
	errno = 0;
	unsigned long v = strtoul(colon + 1, &end, 10);
	if (errno != 0 || end == colon + 1 || *end != '\0' || colon[1] == '-' || v < min_port ||
	    v > 65535)
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}
