/* cp_sched: a role thread's scheduling class from its configuration value. Contract in
 * cp_sched.h. */
#include "cp_sched.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* "PREFIX:N" with N in lo..hi into *v. N is decimal digits, after a '-' where lo < 0, as
 * the other numeric keys are digits only: strtol's leading blanks and '+' are refused
 * ("nice:+5", "fifo: 10"). */
static int parse_num(const char *text, const char *prefix, int lo, int hi, int *v)
{
	size_t n = strlen(prefix);
	if (strncmp(text, prefix, n) != 0 || text[n] != ':')
		return -EINVAL;
	const char *p = text + n + 1;
	const char *d = p[0] == '-' && lo < 0 ? p + 1 : p;
	if (*d < '0' || *d > '9')
		return -EINVAL;
	char *end = NULL;
	errno = 0;
	long x = strtol(p, &end, 10);
	if (*end != '\0' || errno != 0 || x < lo || x > hi)
		return -EINVAL;
	*v = (int)x;
	return 0;
}

int cp_sched_parse(const char *text, struct cp_sched *out)
{
	struct cp_sched s = {CP_SCHED_INHERIT, 0};
	if (strcmp(text, "inherit") == 0)
		s.policy = CP_SCHED_INHERIT;
	else if (strcmp(text, "idle") == 0)
		s.policy = CP_SCHED_IDLE;
	else if (parse_num(text, "nice", -20, 19, &s.value) == 0)
		s.policy = CP_SCHED_NICE;
	else if (parse_num(text, "fifo", 1, 99, &s.value) == 0)
		s.policy = CP_SCHED_FIFO;
	else
		return -EINVAL;
	*out = s;
	return 0;
}

const char *cp_sched_str(const struct cp_sched *s, char *buf, size_t len)
{
	switch (s->policy) {
	case CP_SCHED_NICE:
		snprintf(buf, len, "nice:%d", s->value);
		break;
	case CP_SCHED_FIFO:
		snprintf(buf, len, "fifo:%d", s->value);
		break;
	case CP_SCHED_IDLE:
		snprintf(buf, len, "idle");
		break;
	default:
		snprintf(buf, len, "inherit");
		break;
	}
	return buf;
}

int cp_sched_apply(const struct cp_sched *s)
{
	/* Linux schedules threads: pid 0 / gettid() is this thread alone. */
	struct sched_param p = {0};
	switch (s->policy) {
	case CP_SCHED_NICE:
		p.sched_priority = 0;
		if (sched_setscheduler(0, SCHED_OTHER, &p) != 0)
			return -errno;
		return setpriority(PRIO_PROCESS, (id_t)gettid(), s->value) == 0 ? 0 : -errno;
	case CP_SCHED_FIFO:
		p.sched_priority = s->value;
		return sched_setscheduler(0, SCHED_FIFO | SCHED_RESET_ON_FORK, &p) == 0 ? 0 : -errno;
	case CP_SCHED_IDLE:
		p.sched_priority = 0;
		return sched_setscheduler(0, SCHED_IDLE, &p) == 0 ? 0 : -errno;
	default:
		return 0;
	}
}

const char *cp_sched_current(char *buf, size_t len)
{
	int pol = sched_getscheduler(0);
	struct sched_param p = {0};
	if (pol >= 0)
		pol &= ~SCHED_RESET_ON_FORK;
	if (pol == SCHED_FIFO && sched_getparam(0, &p) == 0) {
		snprintf(buf, len, "fifo:%d", p.sched_priority);
	} else if (pol == SCHED_IDLE) {
		snprintf(buf, len, "idle");
	} else if (pol == SCHED_OTHER) {
		errno = 0;
		int n = getpriority(PRIO_PROCESS, (id_t)gettid());
		snprintf(buf, len, "nice:%d", n);
	} else {
		snprintf(buf, len, "other");
	}
	return buf;
}
