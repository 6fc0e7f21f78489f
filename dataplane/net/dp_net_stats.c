/* dp_net_stats.c: names and access for the counters listed in dp_net_stats.h. */
#include "dp_net_stats.h"

#include <stdio.h>
#include <string.h>

static const char *const names[] = {
#define DP_NET_STATS_NAME(name, text) #name,
	DP_NET_STATS(DP_NET_STATS_NAME)
#undef DP_NET_STATS_NAME
};

static const char *const texts[] = {
#define DP_NET_STATS_TEXT(name, text) text,
	DP_NET_STATS(DP_NET_STATS_TEXT)
#undef DP_NET_STATS_TEXT
};

static const size_t offsets[] = {
#define DP_NET_STATS_OFF(name, text) offsetof(struct dp_net_stats, name),
	DP_NET_STATS(DP_NET_STATS_OFF)
#undef DP_NET_STATS_OFF
};

#define NSTATS (sizeof(names) / sizeof(names[0]))

size_t dp_net_stats_count(void) { return NSTATS; }

const char *dp_net_stats_name(size_t i) { return i < NSTATS ? names[i] : NULL; }

const char *dp_net_stats_text(size_t i) { return i < NSTATS ? texts[i] : NULL; }

uint64_t dp_net_stats_get(const struct dp_net_stats *s, size_t i)
{
	uint64_t v;

	if (i >= NSTATS)
		return 0;
	memcpy(&v, (const char *)s + offsets[i], sizeof(v));
	return v;
}

uint64_t dp_net_stats_by_name(const struct dp_net_stats *s, const char *name, int *found)
{
	for (size_t i = 0; i < NSTATS; i++) {
		if (strcmp(names[i], name) == 0) {
			if (found)
				*found = 1;
			return dp_net_stats_get(s, i);
		}
	}
	if (found)
		*found = 0;
	return 0;
}

size_t dp_net_stats_format(const struct dp_net_stats *s, int all, char *buf, size_t cap)
{
	size_t need = 0;

	if (cap > 0)
		buf[0] = '\0';
	for (size_t i = 0; i < NSTATS; i++) {
		uint64_t v = dp_net_stats_get(s, i);
		int n;

		if (!all && v == 0)
			continue;
		n = snprintf(need < cap ? buf + need : NULL, need < cap ? cap - need : 0,
			     "%s %llu\n", names[i], (unsigned long long)v);
		if (n > 0)
			need += (size_t)n;
	}
	return need;
}
