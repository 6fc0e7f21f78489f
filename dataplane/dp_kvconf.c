/* dp_kvconf: `key = value` file syntax shared by the dataplane and decp-control. Contract in
 * dp_kvconf.h. */
#include "dp_kvconf.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void dp_kvconf_msg(char *err, size_t errlen, const char *fmt, ...)
{
	if (err == NULL || errlen == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* The value part of a line (after '='), in place. Returns NULL with *why set on error. */
static char *value_of(char *v, const char **why)
{
	v = trim(v);
	if (*v == '"') {
		char *q = strchr(v + 1, '"');
		if (q == NULL) {
			*why = "unterminated quoted value";
			return NULL;
		}
		char *rest = trim(q + 1);
		if (*rest != '\0' && *rest != '#') {
			*why = "text after the closing quote";
			return NULL;
		}
		*q = '\0';
		return v + 1;
	}
	for (char *c = v; *c != '\0'; c++)
		if (*c == '#' && (c == v || isspace((unsigned char)c[-1]))) {
			*c = '\0';
			break;
		}
	return trim(v);
}

int dp_kvconf_parse(const char *name, const char *text, dp_kvconf_fn fn, void *ctx, char *err,
		    size_t errlen)
{
	char line[4096], e2[256];
	unsigned int lineno = 0;
	const char *p = text;
	while (*p != '\0') {
		lineno++;
		size_t n = strcspn(p, "\n");
		if (n >= sizeof(line)) {
			dp_kvconf_msg(err, errlen, "%s:%u: line longer than %zu bytes", name, lineno,
				 sizeof(line) - 1);
			return -EINVAL;
		}
		memcpy(line, p, n);
		line[n] = '\0';
		p += n + (p[n] == '\n');
		char *s = trim(line);
		if (*s == '\0' || *s == '#' || *s == ';')
			continue;
		char *eq = strchr(s, '=');
		if (eq == NULL) {
			dp_kvconf_msg(err, errlen, "%s:%u: expected 'key = value'", name, lineno);
			return -EINVAL;
		}
		*eq = '\0';
		char *key = trim(s);
		if (*key == '\0') {
			dp_kvconf_msg(err, errlen, "%s:%u: missing key before '='", name, lineno);
			return -EINVAL;
		}
		const char *why = NULL;
		char *val = value_of(eq + 1, &why);
		if (val == NULL || *val == '\0') {
			dp_kvconf_msg(err, errlen, "%s:%u: %s: %s", name, lineno, key,
				 val == NULL ? why : "empty value");
			return -EINVAL;
		}
		e2[0] = '\0';
		int rc = fn(ctx, key, val, e2, sizeof(e2));
		if (rc != 0) {
			dp_kvconf_msg(err, errlen, "%s:%u: %s", name, lineno, e2);
			return rc;
		}
	}
	return 0;
}
