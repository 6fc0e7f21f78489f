/* cp_metrics: Prometheus text being written. Contract in cp_metrics.h. */
#include "cp_metrics.h"

#include "cp_buf.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void cp_metrics_put(struct cp_metrics *m, const char *fmt, ...)
{
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(m->buf ? m->buf + m->len : NULL, m->buf ? m->cap - m->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0 || m->oom)
			return;
		if (m->buf && m->len + (size_t)n < m->cap) {
			m->len += (size_t)n;
			return;
		}
		if (cp_buf_grow(&m->buf, &m->cap, m->len + (size_t)n + 1, 16384) != 0) {
			m->oom = true;
			return;
		}
	}
}

void cp_metrics_head(struct cp_metrics *m, const char *name, const char *type, const char *help)
{
	cp_metrics_put(m, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void cp_metrics_counter(struct cp_metrics *m, const char *name, const char *help, uint64_t v)
{
	cp_metrics_head(m, name, "counter", help);
	cp_metrics_put(m, "%s %" PRIu64 "\n", name, v);
}

void cp_metrics_gauge(struct cp_metrics *m, const char *name, const char *help, uint64_t v)
{
	cp_metrics_head(m, name, "gauge", help);
	cp_metrics_put(m, "%s %" PRIu64 "\n", name, v);
}
