/*
 * dp_kvconf: the `key = value` configuration-file syntax of decp-dataplane (dp_conf) and
 * decp-control (cp_config), tokenised in one place so both programs read files the same way.
 *
 *   # comment  /  ; comment     whole-line comments; blank lines are ignored
 *   key = value                 blanks around key and value are trimmed
 *   key = value   # comment     an unquoted value ends before a '#' that follows a blank
 *   key = "value # kept"        a double-quoted value is taken verbatim (the quotes end it)
 * Errors, as "NAME:LINE: message": a line over 4095 bytes, no '=', no key, an unterminated
 * quote or text after the closing quote, an empty value; and whatever the callback reports
 * about a key or value.
 */
#ifndef DECP_DP_KVCONF_H
#define DECP_DP_KVCONF_H

#include <stddef.h>

/* One setting, in file order. Return 0, or a negative errno with err filled (no location:
 * the parser adds "NAME:LINE: "); parsing stops there. */
typedef int (*dp_kvconf_fn)(void *ctx, const char *key, const char *value, char *err,
			    size_t errlen);

/* Parse text (named `name` in messages). Returns 0, -EINVAL with err filled, or the
 * callback's error. */
int dp_kvconf_parse(const char *name, const char *text, dp_kvconf_fn fn, void *ctx, char *err,
		    size_t errlen);

/* snprintf into err (when err is not NULL and errlen > 0): for callbacks and callers. */
void dp_kvconf_msg(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
