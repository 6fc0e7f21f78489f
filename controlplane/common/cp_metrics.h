/*
 * cp_metrics: a Prometheus text exposition (format 0.0.4) being written, for /metrics.
 *
 * The api role owns one per scrape and writes its own families, then hands it to every
 * stats provider of the process (cp_ctx_stats_write): each role writes its own families
 * (decp_fanout_*, decp_trust_*) without the api knowing the role's types.
 *
 * A zeroed struct is an empty text. Writing never fails visibly: on ENOMEM the text stops
 * growing and `oom` is set (the scrape then answers 500). free(m->buf) releases it.
 * Threading: one writer at a time.
 */
#ifndef DECP_CP_METRICS_H
#define DECP_CP_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cp_metrics {
	char *buf; /* NUL-terminated text, NULL while empty */
	size_t len, cap;
	bool oom;
};

/* Append printf-formatted text. */
void cp_metrics_put(struct cp_metrics *m, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* "# HELP name help" and "# TYPE name type" (type: "counter", "gauge", "histogram"). */
void cp_metrics_head(struct cp_metrics *m, const char *name, const char *type,
		     const char *help);

/* A family of one unlabelled sample: its HELP/TYPE lines and "name value". */
void cp_metrics_counter(struct cp_metrics *m, const char *name, const char *help, uint64_t v);
void cp_metrics_gauge(struct cp_metrics *m, const char *name, const char *help, uint64_t v);

#endif
