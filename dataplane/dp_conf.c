/* dp_conf: the dataplane's configuration file as command-line arguments. Contract in
 * dp_conf.h. */
#include "dp_conf.h"

#include "dp_kvconf.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONF_MAX (1u << 20)

/* Keys that are long options of decp-dataplane (key "stats_ms" -> "--stats-ms"). */
static const char *const option_keys[] = {
	"stack", "listen", "shm", "workers", "ring_size", "ack_ring_size", "max_conns",
	"max_masters", "max_frame", "idle_timeout_ms", "login_fail_burst",
	"login_fail_refill_ms", "stats_ms", "port_file", "prefix_len", "gateway", "mbufs",
	"ready_file", "steering", "tls", "tls_cert", "tls_key", "tls_client_ca",
	"tls_client_cert", "tls_handshake_timeout_ms", "tls_handshake_burst",
	"tls_handshake_refill_ms",
	"preauth_per_source", "preauth_max", "hello_timeout_ms", "control_stale_ms",
	"allow_protocol_1", "tls_unbound_masters", "tls_cert_masters", "tls_crl", "poll",
};

/* Of option_keys, those whose option takes no argument: yes/no in the file, the bare
 * option for yes, nothing for no. */
static const char *const flag_keys[] = {"allow_protocol_1"};

enum eal_kind { E_VALUE, E_REPEAT, E_FLAG_YES, E_FLAG_NO, E_SPLIT };

/* Keys that become EAL arguments. */
static const struct {
	const char *key;
	const char *arg;
	enum eal_kind kind;
} eal_keys[] = {
	{"lcores", "-l", E_VALUE},
	{"main_lcore", "--main-lcore", E_VALUE},
	{"allow", "-a", E_REPEAT},
	{"vdev", "--vdev", E_REPEAT},
	{"no_pci", "--no-pci", E_FLAG_YES},
	{"file_prefix", "--file-prefix", E_VALUE},
	{"huge", "--no-huge", E_FLAG_NO},
	{"memory_mb", "-m", E_VALUE},
	{"socket_mem", "--socket-mem", E_VALUE},
	{"log_level", "--log-level", E_VALUE},
	{"eal_extra", NULL, E_SPLIT},
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static int push(struct dp_conf_args *a, const char *s, size_t len)
{
	if (a->n + 2 > a->cap) {
		int cap = a->cap ? a->cap * 2 : 16;
		char **v = realloc(a->v, (size_t)cap * sizeof(*v));
		if (v == NULL)
			return -ENOMEM;
		a->v = v;
		a->cap = cap;
	}
	char *c = strndup(s, len);
	if (c == NULL)
		return -ENOMEM;
	a->v[a->n++] = c;
	a->v[a->n] = NULL;
	return 0;
}

static int push_str(struct dp_conf_args *a, const char *s)
{
	return push(a, s, strlen(s));
}

void dp_conf_args_free(struct dp_conf_args *a)
{
	for (int i = 0; i < a->n; i++)
		free(a->v[i]);
	free(a->v);
	memset(a, 0, sizeof(*a));
}

static bool yes_no(const char *v, bool *out)
{
	if (strcmp(v, "yes") == 0 || strcmp(v, "true") == 0 || strcmp(v, "1") == 0)
		*out = true;
	else if (strcmp(v, "no") == 0 || strcmp(v, "false") == 0 || strcmp(v, "0") == 0)
		*out = false;
	else
		return false;
	return true;
}

/* One setting. Returns 0, -EINVAL (err without location) or -ENOMEM. seen: bit per key. */
static int apply(const char *key, const char *val, struct dp_conf_args *opt,
		 struct dp_conf_args *eal, unsigned long long *seen, char *err, size_t errlen)
{
	for (size_t i = 0; i < NELEM(option_keys); i++) {
		if (strcmp(key, option_keys[i]) != 0)
			continue;
		if (*seen & (1ull << i)) {
			dp_kvconf_msg(err, errlen, "%s: set twice", key);
			return -EINVAL;
		}
		*seen |= 1ull << i;
		char name[64] = "--";
		for (size_t k = 0; key[k] != '\0' && k + 3 < sizeof(name); k++)
			name[2 + k] = key[k] == '_' ? '-' : key[k];
		for (size_t f = 0; f < NELEM(flag_keys); f++) {
			bool b;
			if (strcmp(key, flag_keys[f]) != 0)
				continue;
			if (!yes_no(val, &b)) {
				dp_kvconf_msg(err, errlen, "%s: '%s' is not yes/no", key, val);
				return -EINVAL;
			}
			return b ? push_str(opt, name) : 0;
		}
		int rc = push_str(opt, name);
		return rc ? rc : push_str(opt, val);
	}
	for (size_t i = 0; i < NELEM(eal_keys); i++) {
		if (strcmp(key, eal_keys[i].key) != 0)
			continue;
		unsigned long long bit = 1ull << (NELEM(option_keys) + i);
		if (eal_keys[i].kind != E_REPEAT && (*seen & bit)) {
			dp_kvconf_msg(err, errlen, "%s: set twice", key);
			return -EINVAL;
		}
		*seen |= bit;
		bool b;
		switch (eal_keys[i].kind) {
		case E_VALUE:
		case E_REPEAT: {
			int rc = push_str(eal, eal_keys[i].arg);
			return rc ? rc : push_str(eal, val);
		}
		case E_FLAG_YES:
		case E_FLAG_NO:
			if (!yes_no(val, &b)) {
				dp_kvconf_msg(err, errlen, "%s: '%s' is not yes/no", key, val);
				return -EINVAL;
			}
			if (b == (eal_keys[i].kind == E_FLAG_YES))
				return push_str(eal, eal_keys[i].arg);
			return 0;
		case E_SPLIT:
			for (const char *p = val; *p != '\0';) {
				while (isspace((unsigned char)*p))
					p++;
				size_t n = 0;
				while (p[n] != '\0' && !isspace((unsigned char)p[n]))
					n++;
				if (n > 0 && push(eal, p, n) != 0)
					return -ENOMEM;
				p += n;
			}
			return 0;
		}
	}
	dp_kvconf_msg(err, errlen, "unknown key '%s'", key);
	return -EINVAL;
}

struct parse_ctx {
	struct dp_conf_args *opt, *eal;
	unsigned long long seen;
};

static int on_setting(void *ctx, const char *key, const char *value, char *err, size_t errlen)
{
	struct parse_ctx *c = ctx;
	return apply(key, value, c->opt, c->eal, &c->seen, err, errlen);
}

int dp_conf_parse(const char *name, const char *text, struct dp_conf_args *opt,
		  struct dp_conf_args *eal, char *err, size_t errlen)
{
	struct parse_ctx c = {opt, eal, 0};
	return dp_kvconf_parse(name, text, on_setting, &c, err, errlen);
}

static int read_file(const char *path, char **out, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		dp_kvconf_msg(err, errlen, "%s: %s", path, strerror(e));
		return -e;
	}
	struct stat st;
	if (fstat(fd, &st) != 0 || st.st_size > CONF_MAX) {
		close(fd);
		dp_kvconf_msg(err, errlen, "%s: larger than 1 MiB", path);
		return -EFBIG;
	}
	char *buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		close(fd);
		return -ENOMEM;
	}
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			/* a directory (EISDIR) or an I/O error: never an empty or partial file */
			int e = errno;
			close(fd);
			free(buf);
			dp_kvconf_msg(err, errlen, "%s: %s", path, strerror(e));
			return -e;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	buf[got] = '\0';
	if (memchr(buf, '\0', got) != NULL) {
		free(buf);
		dp_kvconf_msg(err, errlen, "%s: not a text file", path);
		return -EINVAL;
	}
	*out = buf;
	return 0;
}

/* The stack the combined options select: the last "--stack V" wins. */
static bool stack_is_posix(char **v, int n)
{
	bool posix = false;
	for (int i = 0; i + 1 < n; i++)
		if (strcmp(v[i], "--stack") == 0)
			posix = strcmp(v[i + 1], "posix") == 0;
		else if (strncmp(v[i], "--stack=", 8) == 0)
			posix = strcmp(v[i] + 8, "posix") == 0;
	return posix;
}

int dp_conf_expand(int argc, char **argv, int *out_argc, char ***out_argv, char *err,
		   size_t errlen)
{
	const char *path = NULL;
	int dashdash = argc, cfg_at = -1, cfg_n = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			dashdash = i;
			break;
		}
		if (strcmp(argv[i], "--config") == 0) {
			if (i + 1 >= argc) {
				dp_kvconf_msg(err, errlen, "--config needs a file name");
				return -EINVAL;
			}
			path = argv[i + 1];
			cfg_at = i;
			cfg_n = 2;
			i++;
		} else if (strncmp(argv[i], "--config=", 9) == 0) {
			path = argv[i] + 9;
			cfg_at = i;
			cfg_n = 1;
		}
	}
	*out_argc = argc;
	*out_argv = argv;
	if (path == NULL)
		return 0;
	char *text = NULL;
	int rc = read_file(path, &text, err, errlen);
	if (rc != 0)
		return rc;
	struct dp_conf_args opt = {0}, eal = {0}, all = {0};
	rc = dp_conf_parse(path, text, &opt, &eal, err, errlen);
	free(text);
	if (rc == 0)
		rc = push_str(&all, argv[0]);
	for (int i = 0; rc == 0 && i < opt.n; i++)
		rc = push_str(&all, opt.v[i]);
	for (int i = 1; rc == 0 && i < dashdash; i++)
		if (i < cfg_at || i >= cfg_at + cfg_n)
			rc = push_str(&all, argv[i]);
	bool use_eal = !stack_is_posix(all.v, all.n);
	bool any_eal = (use_eal && eal.n > 0) || dashdash + 1 < argc;
	if (rc == 0 && any_eal)
		rc = push_str(&all, "--");
	for (int i = 0; rc == 0 && use_eal && i < eal.n; i++)
		rc = push_str(&all, eal.v[i]);
	for (int i = dashdash + 1; rc == 0 && i < argc; i++)
		rc = push_str(&all, argv[i]);
	dp_conf_args_free(&opt);
	dp_conf_args_free(&eal);
	if (rc != 0) {
		if (rc == -ENOMEM)
			dp_kvconf_msg(err, errlen, "%s: out of memory", path);
		dp_conf_args_free(&all);
		return rc;
	}
	*out_argc = all.n;
	*out_argv = all.v;
	return 0;
}

void dp_conf_free(char **expanded, char **orig)
{
	if (expanded == NULL || expanded == orig)
		return;
	for (char **p = expanded; *p != NULL; p++)
		free(*p);
	free(expanded);
}
