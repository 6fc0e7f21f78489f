/* ctl_sysfs: root-relative /proc and /sys access and CPU lists. Contract in ctl_sysfs.h. */
#include "ctl_sysfs.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* "" means the live system: paths are used as given. */
static char g_root[CTL_PATH_MAX / 2];

int ctl_root_set(const char *dir)
{
	size_t n = strlen(dir);
	while (n > 0 && dir[n - 1] == '/')
		n--;
	if (n >= sizeof(g_root))
		return -ENAMETOOLONG;
	memcpy(g_root, dir, n);
	g_root[n] = '\0';
	return 0;
}

const char *ctl_root_get(void)
{
	return g_root[0] == '\0' ? "/" : g_root;
}

bool ctl_root_is_live(void)
{
	return g_root[0] == '\0';
}

int ctl_path(char *out, size_t cap, const char *rel)
{
	int n = snprintf(out, cap, "%s%s", g_root, rel);
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

int ctl_fmt(char *out, size_t cap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(out, cap, fmt, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

int ctl_read(const char *rel, char *buf, size_t cap)
{
	char p[CTL_PATH_MAX];
	int rc = ctl_path(p, sizeof(p), rel);
	if (rc != 0)
		return rc;
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	size_t len = 0;
	for (;;) {
		if (len + 1 >= cap) {
			close(fd);
			return -E2BIG;
		}
		ssize_t r = read(fd, buf + len, cap - 1 - len);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			close(fd);
			return rc;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
		len--;
	buf[len] = '\0';
	return (int)len;
}

int ctl_read_long(const char *rel, long *out)
{
	char buf[64];
	int rc = ctl_read(rel, buf, sizeof(buf));
	if (rc < 0)
		return rc;
	char *end;
	errno = 0;
	long v = strtol(buf, &end, 10);
	if (errno != 0 || end == buf || *end != '\0')
		return -EINVAL;
	*out = v;
	return 0;
}

int ctl_write(const char *rel, const char *text)
{
	char p[CTL_PATH_MAX];
	int rc = ctl_path(p, sizeof(p), rel);
	if (rc != 0)
		return rc;
	int fd = open(p, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	size_t n = strlen(text);
	/* One write: sysfs attributes take the whole value in a single call. */
	ssize_t w = write(fd, text, n);
	if (w < 0 || (size_t)w != n) {
		rc = w < 0 ? -errno : -EIO;
		close(fd);
		return rc;
	}
	if (close(fd) != 0)
		return -errno;
	return 0;
}

bool ctl_exists(const char *rel)
{
	char p[CTL_PATH_MAX];
	struct stat st;
	return ctl_path(p, sizeof(p), rel) == 0 && stat(p, &st) == 0;
}

int ctl_link_base(const char *rel, char *out, size_t cap)
{
	char p[CTL_PATH_MAX];
	char t[CTL_PATH_MAX];
	int rc = ctl_path(p, sizeof(p), rel);
	if (rc != 0)
		return rc;
	ssize_t n = readlink(p, t, sizeof(t) - 1);
	if (n < 0)
		return -errno;
	t[n] = '\0';
	const char *b = strrchr(t, '/');
	b = b != NULL ? b + 1 : t;
	if (snprintf(out, cap, "%s", b) >= (int)cap)
		return -ENAMETOOLONG;
	return 0;
}

/* ---------------------------------------------------------------- CPU sets */

void ctl_cpuset_clear(struct ctl_cpuset *s)
{
	memset(s, 0, sizeof(*s));
}

void ctl_cpuset_add(struct ctl_cpuset *s, unsigned int cpu)
{
	if (cpu < CTL_MAX_CPUS)
		s->w[cpu / 64] |= 1ull << (cpu % 64);
}

void ctl_cpuset_del(struct ctl_cpuset *s, unsigned int cpu)
{
	if (cpu < CTL_MAX_CPUS)
		s->w[cpu / 64] &= ~(1ull << (cpu % 64));
}

bool ctl_cpuset_has(const struct ctl_cpuset *s, unsigned int cpu)
{
	return cpu < CTL_MAX_CPUS && (s->w[cpu / 64] >> (cpu % 64) & 1u) != 0;
}

unsigned int ctl_cpuset_count(const struct ctl_cpuset *s)
{
	unsigned int n = 0;
	for (size_t i = 0; i < CTL_MAX_CPUS / 64; i++)
		n += (unsigned int)__builtin_popcountll(s->w[i]);
	return n;
}

bool ctl_cpuset_empty(const struct ctl_cpuset *s)
{
	return ctl_cpuset_count(s) == 0;
}

bool ctl_cpuset_equal(const struct ctl_cpuset *a, const struct ctl_cpuset *b)
{
	return memcmp(a, b, sizeof(*a)) == 0;
}

void ctl_cpuset_and(struct ctl_cpuset *dst, const struct ctl_cpuset *a, const struct ctl_cpuset *b)
{
	for (size_t i = 0; i < CTL_MAX_CPUS / 64; i++)
		dst->w[i] = a->w[i] & b->w[i];
}

void ctl_cpuset_or(struct ctl_cpuset *dst, const struct ctl_cpuset *a, const struct ctl_cpuset *b)
{
	for (size_t i = 0; i < CTL_MAX_CPUS / 64; i++)
		dst->w[i] = a->w[i] | b->w[i];
}

void ctl_cpuset_andnot(struct ctl_cpuset *dst, const struct ctl_cpuset *a,
		       const struct ctl_cpuset *b)
{
	for (size_t i = 0; i < CTL_MAX_CPUS / 64; i++)
		dst->w[i] = a->w[i] & ~b->w[i];
}

int ctl_cpuset_first(const struct ctl_cpuset *s)
{
	for (unsigned int c = 0; c < CTL_MAX_CPUS; c++)
		if (ctl_cpuset_has(s, c))
			return (int)c;
	return -1;
}

static int parse_num(const char **p, unsigned long *out)
{
	if (!isdigit((unsigned char)**p))
		return -EINVAL;
	char *end;
	errno = 0;
	unsigned long v = strtoul(*p, &end, 10);
	if (errno != 0 || v >= CTL_MAX_CPUS)
		return -EINVAL;
	*p = end;
	*out = v;
	return 0;
}

int ctl_cpuset_parse(struct ctl_cpuset *s, const char *text)
{
	ctl_cpuset_clear(s);
	const char *p = text;
	while (*p == ' ' || *p == '\t' || *p == '\n')
		p++;
	if (*p == '\0')
		return 0;
	for (;;) {
		unsigned long a, b, step = 1, group = 0;
		if (parse_num(&p, &a) != 0)
			return -EINVAL;
		b = a;
		if (*p == '-') {
			p++;
			if (parse_num(&p, &b) != 0 || b < a)
				return -EINVAL;
			/* isolcpus/nohz_full accept "first-last:used/group" (admin-guide). */
			if (*p == ':') {
				p++;
				if (parse_num(&p, &step) != 0 || *p != '/')
					return -EINVAL;
				p++;
				if (parse_num(&p, &group) != 0 || group == 0 || step > group)
					return -EINVAL;
			}
		}
		for (unsigned long c = a; c <= b; c++)
			if (group == 0 || (c - a) % group < step)
				ctl_cpuset_add(s, (unsigned int)c);
		while (*p == ' ' || *p == '\t' || *p == '\n')
			p++;
		if (*p == '\0')
			return 0;
		if (*p != ',')
			return -EINVAL;
		p++;
	}
}

int ctl_cpuset_format(const struct ctl_cpuset *s, char *out, size_t cap)
{
	size_t len = 0;
	if (cap == 0)
		return -ENOSPC;
	out[0] = '\0';
	for (unsigned int c = 0; c < CTL_MAX_CPUS; c++) {
		if (!ctl_cpuset_has(s, c))
			continue;
		unsigned int e = c;
		while (e + 1 < CTL_MAX_CPUS && ctl_cpuset_has(s, e + 1))
			e++;
		int n = e == c ? snprintf(out + len, cap - len, "%s%u", len ? "," : "", c)
			       : snprintf(out + len, cap - len, "%s%u-%u", len ? "," : "", c, e);
		if (n < 0 || (size_t)n >= cap - len)
			return -ENOSPC;
		len += (size_t)n;
		c = e;
	}
	return 0;
}
