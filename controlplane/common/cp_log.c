/* cp_log: the control plane's log lines and their rate limiter. Contract in cp_log.h. */
#include "cp_log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static _Atomic int max_level = CP_LOG_INFO;

static const char *const level_name[] = {"error", "warn", "info", "debug"};

static const char *program = "decp-control";

void cp_log_set_program(const char *name)
{
	program = name;
}

void cp_log_set_level(enum cp_log_level lvl)
{
	atomic_store_explicit(&max_level, (int)lvl, memory_order_relaxed);
}

int cp_log_level_parse(const char *s)
{
	for (int i = 0; i < 4; i++)
		if (strcmp(s, level_name[i]) == 0)
			return i;
	return -EINVAL;
}

uint64_t cp_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void cp_sleep_ms(unsigned int ms)
{
	struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static void vlog(enum cp_log_level lvl, const char *role, uint64_t suppressed, const char *fmt,
		 va_list ap)
{
	char line[1024];
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	int n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s[%d] %s%s%s: ",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			 tm.tm_sec, ts.tv_nsec / 1000000, program, (int)getpid(), role ? role : "",
			 role ? " " : "", level_name[lvl]);
	if (n < 0)
		return;
	size_t len = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
	int k = vsnprintf(line + len, sizeof(line) - len, fmt, ap);
	if (k > 0)
		len += (size_t)k < sizeof(line) - len ? (size_t)k : sizeof(line) - len - 1;
	if (suppressed > 0 && len < sizeof(line) - 1) {
		k = snprintf(line + len, sizeof(line) - len, " (+%llu suppressed)",
			     (unsigned long long)suppressed);
		if (k > 0)
			len += (size_t)k < sizeof(line) - len ? (size_t)k : sizeof(line) - len - 1;
	}
	if (len >= sizeof(line) - 1)
		len = sizeof(line) - 2;
	line[len++] = '\n';
	ssize_t w = write(STDERR_FILENO, line, len);
	(void)w;
}

void cp_log(enum cp_log_level lvl, const char *role, const char *fmt, ...)
{
	if ((int)lvl > atomic_load_explicit(&max_level, memory_order_relaxed))
		return;
	va_list ap;
	va_start(ap, fmt);
	vlog(lvl, role, 0, fmt, ap);
	va_end(ap);
}

/* Role's slot of site: the one it holds, else a free one it takes, else the last. */
static struct cp_log_site_role *site_role(struct cp_log_site *site, const char *role)
{
	const char *key = role != NULL ? role : "";
	for (unsigned int i = 0; i < CP_LOG_SITE_ROLES; i++) {
		struct cp_log_site_role *r = &site->r[i];
		const char *have = atomic_load_explicit(&r->role, memory_order_acquire);
		if (have == NULL) {
			if (atomic_compare_exchange_strong_explicit(&r->role, &have, key,
								    memory_order_acq_rel,
								    memory_order_acquire))
				return r;   /* a free slot, this role's from now on */
			/* another thread took it first: have is its role */
		}
		if (strcmp(have, key) == 0)
			return r;
	}
	return &site->r[CP_LOG_SITE_ROLES - 1];
}

void cp_log_rl(struct cp_log_site *ls, uint64_t interval_ns, enum cp_log_level lvl,
	       const char *role, const char *fmt, ...)
{
	if ((int)lvl > atomic_load_explicit(&max_level, memory_order_relaxed))
		return;
	struct cp_log_site_role *site = site_role(ls, role);
	uint64_t now = cp_now_ns();
	uint64_t next = atomic_load_explicit(&site->next_ns, memory_order_relaxed);
	/* One thread wins the interval; the others only count. */
	if (now < next || !atomic_compare_exchange_strong_explicit(&site->next_ns, &next,
			now + interval_ns, memory_order_relaxed, memory_order_relaxed)) {
		atomic_fetch_add_explicit(&site->suppressed, 1, memory_order_relaxed);
		return;
	}
	uint64_t sup = atomic_exchange_explicit(&site->suppressed, 0, memory_order_relaxed);
	va_list ap;
	va_start(ap, fmt);
	vlog(lvl, role, sup, fmt, ap);
	va_end(ap);
}
