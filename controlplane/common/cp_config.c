/* cp_config: decp-control's settings, their defaults and ranges (the keys table below is
 * the only place a key is defined), parsed from the file and --set. Contract in
 * cp_config.h; reference in docs/control.md "Configuration". */
#include "cp_config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cp_log.h"
#include "dp_kvconf.h"
#include "dp_shm.h"

enum kind { K_STR, K_SHM, K_U32, K_BOOL, K_ROLES, K_LEVEL, K_DURABILITY, K_SCHED };

struct key {
	const char *name;
	enum kind kind;
	size_t off;
	size_t size;      /* K_STR, K_SHM: buffer size */
	uint32_t min, max; /* K_U32 */
};

#define F(field) offsetof(struct cp_config, field)
#define S(field) sizeof(((struct cp_config *)0)->field)
static const struct key keys[] = {
	{"roles", K_ROLES, F(roles), 0, 0, 0},
	{"shm", K_SHM, F(shm), S(shm), 0, 0},
	{"redis_host", K_STR, F(redis_host), S(redis_host), 0, 0},
	{"redis_port", K_U32, F(redis_port), 0, 1, 65535},
	{"redis_timeout_ms", K_U32, F(redis_timeout_ms), 0, 10, 600000},
	{"redis_sentinels", K_STR, F(redis_sentinels), S(redis_sentinels), 0, 0},
	{"redis_sentinel_master", K_STR, F(redis_sentinel_master), S(redis_sentinel_master), 0, 0},
	{"redis_nodes", K_STR, F(redis_nodes), S(redis_nodes), 0, 0},
	{"redis_notify", K_BOOL, F(redis_notify), 0, 0, 0},
	{"pg_conninfo", K_STR, F(pg_conninfo), S(pg_conninfo), 0, 0},
	{"pg_read_conninfo", K_STR, F(pg_read_conninfo), S(pg_read_conninfo), 0, 0},
	{"pg_timeout_ms", K_U32, F(pg_timeout_ms), 0, 100, 3600000},
	{"backoff_max_ms", K_U32, F(backoff_max_ms), 0, 50, 600000},
	{"edge_batch", K_U32, F(edge_batch), 0, 1, 8192},
	{"durability", K_DURABILITY, F(durability), 0, 0, 0},
	{"durability_replicas", K_U32, F(durability_replicas), 0, 1, 16},
	{"durability_wait_ms", K_U32, F(durability_wait_ms), 0, 1, 60000},
	{"dataplane_stale_ms", K_U32, F(dataplane_stale_ms), 0, 100, 600000},
	{"edge_id", K_STR, F(edge_id), S(edge_id), 0, 0},
	{"auth_reload_s", K_U32, F(auth_reload_s), 0, 1, 86400},
	{"edge_sched", K_SCHED, F(edge_sched), 0, 0, 0},
	{"background_sched", K_SCHED, F(background_sched), 0, 0, 0},
	{"archiver_batch", K_U32, F(archiver_batch), 0, 1, 100000},
	{"archiver_block_ms", K_U32, F(archiver_block_ms), 0, 1, 60000},
	{"archiver_claim_idle_ms", K_U32, F(archiver_claim_idle_ms), 0, 100, 86400000},
	{"archiver_threads", K_U32, F(archiver_threads), 0, 1, 16},
	{"archiver_linger_ms", K_U32, F(archiver_linger_ms), 0, 0, 10000},
	{"archiver_read_max", K_U32, F(archiver_read_max), 0, 1, 100000},
	{"archiver_read_live", K_U32, F(archiver_read_live), 0, 1, 100000},
	{"partition_maint_s", K_U32, F(partition_maint_s), 0, 1, 86400},
	{"masters_scan_s", K_U32, F(masters_scan_s), 0, 0, 86400},
	{"redis_keep_signals", K_U32, F(redis_keep_signals), 0, 1000, 1000000000},
	{"archive_warm_dir", K_STR, F(archive_warm_dir), S(archive_warm_dir), 0, 0},
	{"archive_cold_dir", K_STR, F(archive_cold_dir), S(archive_cold_dir), 0, 0},
	{"archive_cold_after_days", K_U32, F(archive_cold_after_days), 0, 91, 36500},
	{"archiver_consumer", K_STR, F(archiver_consumer), S(archiver_consumer), 0, 0},
	{"log_level", K_LEVEL, F(log_level), 0, 0, 0},
	{"fanout_listen", K_STR, F(fanout_listen), S(fanout_listen), 0, 0},
	{"fanout_port", K_U32, F(fanout_port), 0, 0, 65535},
	{"fanout_tls", K_BOOL, F(fanout_tls), 0, 0, 0},
	{"fanout_cert", K_STR, F(fanout_cert), S(fanout_cert), 0, 0},
	{"fanout_key", K_STR, F(fanout_key), S(fanout_key), 0, 0},
	{"fanout_snapshot_key", K_STR, F(fanout_snapshot_key), S(fanout_snapshot_key), 0, 0},
	{"fanout_queue", K_U32, F(fanout_queue), 0, 16, 65536},
	{"fanout_history", K_U32, F(fanout_history), 0, 16, 1048576},
	{"fanout_max_conns", K_U32, F(fanout_max_conns), 0, 1, 1000000},
	{"fanout_sndbuf", K_U32, F(fanout_sndbuf), 0, 0, 64 << 20},
	{"fanout_reuse_port", K_BOOL, F(fanout_reuse_port), 0, 0, 0},
	{"fanout_state_poll_ms", K_U32, F(fanout_state_poll_ms), 0, 10, 600000},
	{"fanout_keepalive_ms", K_U32, F(fanout_keepalive_ms), 0, 10, 86400000},
	{"fanout_keepalive_timeout_ms", K_U32, F(fanout_keepalive_timeout_ms), 0, 10, 3600000},
	{"fanout_replay_rate", K_U32, F(fanout_replay_rate), 0, 1, 1000000},
	{"fanout_max_conns_per_subscriber", K_U32, F(fanout_max_conns_per_subscriber), 0, 1, 1000000},
	{"fanout_report_rate", K_U32, F(fanout_report_rate), 0, 0, 1000000},
	{"fanout_preauth_max", K_U32, F(fanout_preauth_max), 0, 1, 1000000},
	{"fanout_preauth_per_source", K_U32, F(fanout_preauth_per_source), 0, 1, 1000000},
	{"fanout_preauth_rate", K_U32, F(fanout_preauth_rate), 0, 0, 1000000},
	{"fanout_header_timeout_ms", K_U32, F(fanout_header_timeout_ms), 0, 100, 600000},
	{"fanout_poll_idle_ms", K_U32, F(fanout_poll_idle_ms), 0, 1000, 3600000},
	{"fanout_poll_loop", K_BOOL, F(fanout_poll_loop), 0, 0, 0},
	{"fanout_reports_redis", K_BOOL, F(fanout_reports_redis), 0, 0, 0},
	{"api_listen", K_STR, F(api_listen), S(api_listen), 0, 0},
	{"api_port", K_U32, F(api_port), 0, 1, 65535},
	{"api_tls", K_BOOL, F(api_tls), 0, 0, 0},
	{"api_cert", K_STR, F(api_cert), S(api_cert), 0, 0},
	{"api_key", K_STR, F(api_key), S(api_key), 0, 0},
	{"api_threads", K_U32, F(api_threads), 0, 1, 16},
	{"api_admin_token_sha256", K_STR, F(api_admin_token_sha256), S(api_admin_token_sha256), 0, 0},
	{"api_max_body", K_U32, F(api_max_body), 0, 1024, 16 << 20},
	{"api_max_batch", K_U32, F(api_max_batch), 0, 1, 10000},
	{"api_timeout_s", K_U32, F(api_timeout_s), 0, 1, 3600},
	{"api_preauth_max", K_U32, F(api_preauth_max), 0, 1, 1000000},
	{"api_preauth_per_source", K_U32, F(api_preauth_per_source), 0, 1, 1000000},
	{"api_preauth_rate", K_U32, F(api_preauth_rate), 0, 0, 1000000},
	{"api_header_timeout_ms", K_U32, F(api_header_timeout_ms), 0, 100, 600000},
	{"api_rate_per_s", K_U32, F(api_rate_per_s), 0, 0, 1000000},
	{"api_lock_wait_ms", K_U32, F(api_lock_wait_ms), 0, 0, 60000},
	{"trust_tick_s", K_U32, F(trust_tick_s), 0, 1, 86400},
	{"trust_time_offset_s", K_U32, F(trust_time_offset_s), 0, 0, 400000000},
	{"trust_credit_window_s", K_U32, F(trust_credit_window_s), 0, 1, 86400},
	{"trust_record_wait_s", K_U32, F(trust_record_wait_s), 0, 0, 600},
};
#undef F
#undef S

void cp_config_defaults(struct cp_config *c)
{
	memset(c, 0, sizeof(*c));
	c->roles = CP_ROLES_ALL;
	snprintf(c->shm, sizeof(c->shm), "/decp-ingest");
	snprintf(c->redis_host, sizeof(c->redis_host), "127.0.0.1");
	c->redis_port = 6379;
	c->redis_timeout_ms = 2000;
	snprintf(c->pg_conninfo, sizeof(c->pg_conninfo), "dbname=decp");
	c->pg_timeout_ms = 10000;
	c->backoff_max_ms = 2000;
	c->edge_batch = 2048;
	snprintf(c->redis_sentinel_master, sizeof(c->redis_sentinel_master), "decp");
	c->durability = CP_DUR_FSYNC;
	c->durability_replicas = 1;
	c->durability_wait_ms = 100;
	c->dataplane_stale_ms = 3000;
	c->auth_reload_s = 60;
	/* The ACK path first (issue 26, docs/perf.md "control"): best effort, a thread
	 * without the privilege for fifo keeps its class and the role logs it. */
	c->edge_sched = (struct cp_sched){CP_SCHED_FIFO, 10};
	c->background_sched = (struct cp_sched){CP_SCHED_NICE, 10};
	c->archiver_batch = 5000;
	c->archiver_block_ms = 200;
	c->archiver_claim_idle_ms = 30000;
	c->archiver_threads = 2;
	c->archiver_linger_ms = 100;
	c->archiver_read_max = 256;
	c->archiver_read_live = 64;
	c->partition_maint_s = 3600;
	c->redis_keep_signals = 1000000;
	c->masters_scan_s = 60;
	c->archive_cold_after_days = 365; /* the seed: warm for a year, then cold */
	c->log_level = CP_LOG_INFO;
	snprintf(c->fanout_listen, sizeof(c->fanout_listen), "127.0.0.1");
	c->fanout_port = 8443;
	c->redis_notify = true; /* a standalone fan-out's cluster tail is woken by it */
	c->fanout_tls = true; /* plain ws only when configured (issue 17) */
	c->fanout_queue = 1024;
	c->fanout_history = 4096;
	c->fanout_max_conns = 19000;
	c->fanout_state_poll_ms = 500;
	c->fanout_reports_redis = true;
	c->fanout_keepalive_ms = 300000;
	c->fanout_keepalive_timeout_ms = 10000;
	c->fanout_replay_rate = 2000;
	c->fanout_max_conns_per_subscriber = 8;
	c->fanout_report_rate = 5000;
	c->fanout_preauth_max = 1024;
	c->fanout_preauth_per_source = 64;
	c->fanout_preauth_rate = 200;
	c->fanout_header_timeout_ms = 5000;
	c->fanout_poll_idle_ms = 60000;
	snprintf(c->api_listen, sizeof(c->api_listen), "127.0.0.1");
	c->api_port = 8080;
	c->api_tls = true; /* plain HTTP only when configured (issue 17) */
	c->api_threads = 1;
	c->api_max_body = 65536;
	c->api_max_batch = 500;
	c->api_timeout_s = 10;
	c->api_preauth_max = 512;
	c->api_preauth_per_source = 64;
	c->api_preauth_rate = 0;
	c->api_header_timeout_ms = 5000;
	c->api_lock_wait_ms = 300;
	c->trust_tick_s = 60;
	c->trust_credit_window_s = 60;
	c->trust_record_wait_s = 10;
}

static const struct {
	const char *name;
	unsigned int bit;
} role_names[] = {
	{"edge", CP_ROLE_EDGE},
	{"archiver", CP_ROLE_ARCHIVER},
	{"fanout", CP_ROLE_FANOUT},
	{"api", CP_ROLE_API},
	{"trust", CP_ROLE_TRUST},
	{"book", CP_ROLE_BOOK},
};
#define NROLES (sizeof(role_names) / sizeof(role_names[0]))

const char *cp_config_role_name(unsigned int bit)
{
	for (size_t i = 0; i < NROLES; i++)
		if (role_names[i].bit == bit)
			return role_names[i].name;
	return NULL;
}

const char *cp_config_roles_str(unsigned int roles, char *buf, size_t len)
{
	size_t at = 0;
	if (len == 0)
		return buf;
	buf[0] = '\0';
	for (size_t i = 0; i < NROLES && at < len; i++)
		if (roles & role_names[i].bit) {
			int n = snprintf(buf + at, len - at, "%s%s", at ? "," : "", role_names[i].name);
			if (n < 0)
				break;
			at += (size_t)n;
		}
	return buf;
}

static void known_roles(char *buf, size_t len)
{
	cp_config_roles_str(~0u, buf, len);
}

void cp_config_print_keys(FILE *f)
{
	size_t col = 0;

	fputs("Keys:", f);
	col = 5;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		size_t n = strlen(keys[i].name);

		if (col + 1 + n > 88) { /* the next key on a line of its own */
			fputs("\n     ", f);
			col = 5;
		}
		fprintf(f, " %s", keys[i].name);
		col += n + 1;
	}
	fputc('\n', f);
}

const char *cp_durability_name(enum cp_durability d)
{
	static const char *const names[] = {"fsync", "replica", "both", "os"};

	return (unsigned int)d < sizeof(names) / sizeof(names[0]) ? names[d] : "?";
}

int cp_config_parse_roles(const char *s, unsigned int *roles, char *err, size_t errlen)
{
	unsigned int r = 0;
	const char *p = s;
	char known[160];
	known_roles(known, sizeof(known));
	while (*p != '\0') {
		size_t n = strcspn(p, ",");
		unsigned int bit = 0;
		if (n == 3 && strncmp(p, "all", 3) == 0)
			bit = CP_ROLES_ALL;
		for (size_t i = 0; i < NROLES && bit == 0; i++)
			if (strlen(role_names[i].name) == n && strncmp(p, role_names[i].name, n) == 0)
				bit = role_names[i].bit;
		if (bit == 0) {
			dp_kvconf_msg(err, errlen, "unknown role '%.*s' (known: %s, all)", (int)n, p, known);
			return -EINVAL;
		}
		r |= bit;
		p += n;
		if (*p == ',' && *++p == '\0') {
			dp_kvconf_msg(err, errlen, "a role list ends in ',' (known: %s, all)", known);
			return -EINVAL;
		}
	}
	if (r == 0) {
		dp_kvconf_msg(err, errlen, "no role given (known: %s, all)", known);
		return -EINVAL;
	}
	*roles = r;
	return 0;
}

int cp_config_set(struct cp_config *c, const char *key, const char *value, char *err,
		  size_t errlen)
{
	const struct key *k = NULL;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcmp(keys[i].name, key) == 0)
			k = &keys[i];
	if (k == NULL) {
		dp_kvconf_msg(err, errlen, "unknown key '%s'", key);
		return -ENOENT;
	}
	char *base = (char *)c;
	char e2[160];
	/* shm: the dataplane's rule for its --shm (dp_shm.h): a name it could not have created
	 * is a config error here, not a segment never found */
	if (k->kind == K_SHM && dp_shm_name_fix(NULL, 0, value) != 0) {
		dp_kvconf_msg(err, errlen, "%s: '%s': " DP_SHM_NAME_RULE, key, value);
		return -EINVAL;
	}
	switch (k->kind) {
	case K_SHM:
	case K_STR: {
		size_t n = strlen(value);
		if (n == 0 || n >= k->size) {
			dp_kvconf_msg(err, errlen, "%s: value must be 1..%zu characters", key, k->size - 1);
			return -EINVAL;
		}
		memcpy(base + k->off, value, n + 1);
		return 0;
	}
	case K_U32: {
		char *end = NULL;
		errno = 0;
		if (!isdigit((unsigned char)value[0])) {
			dp_kvconf_msg(err, errlen, "%s: '%s' is not a number", key, value);
			return -EINVAL;
		}
		unsigned long long v = strtoull(value, &end, 10);
		if (errno != 0 || *end != '\0') {
			dp_kvconf_msg(err, errlen, "%s: '%s' is not a number", key, value);
			return -EINVAL;
		}
		if (v < k->min || v > k->max) {
			dp_kvconf_msg(err, errlen, "%s: %llu is out of range %u..%u", key, v, k->min, k->max);
			return -EINVAL;
		}
		*(uint32_t *)(void *)(base + k->off) = (uint32_t)v;
		return 0;
	}
	case K_BOOL:
		if (strcmp(value, "yes") == 0 || strcmp(value, "true") == 0 ||
		    strcmp(value, "on") == 0 || strcmp(value, "1") == 0)
			*(bool *)(base + k->off) = true;
		else if (strcmp(value, "no") == 0 || strcmp(value, "false") == 0 ||
			 strcmp(value, "off") == 0 || strcmp(value, "0") == 0)
			*(bool *)(base + k->off) = false;
		else {
			dp_kvconf_msg(err, errlen, "%s: '%s' is not yes/no (on/off)", key, value);
			return -EINVAL;
		}
		return 0;
	case K_ROLES:
		if (cp_config_parse_roles(value, &c->roles, e2, sizeof(e2)) != 0) {
			dp_kvconf_msg(err, errlen, "%s: %s", key, e2);
			return -EINVAL;
		}
		return 0;
	case K_DURABILITY:
		for (int d = CP_DUR_FSYNC; d <= CP_DUR_OS; d++)
			if (strcmp(value, cp_durability_name((enum cp_durability)d)) == 0) {
				c->durability = (enum cp_durability)d;
				return 0;
			}
		dp_kvconf_msg(err, errlen, "%s: '%s' is not fsync/replica/both/os", key, value);
		return -EINVAL;
	case K_LEVEL: {
		int l = cp_log_level_parse(value);
		if (l < 0) {
			dp_kvconf_msg(err, errlen, "%s: '%s' is not error/warn/info/debug", key, value);
			return -EINVAL;
		}
		c->log_level = l;
		return 0;
	}
	case K_SCHED:
		if (cp_sched_parse(value, (struct cp_sched *)(void *)(base + k->off)) != 0) {
			dp_kvconf_msg(err, errlen, "%s: '%s' is not inherit, idle, nice:N (-20..19) "
				      "or fifo:N (1..99)", key, value);
			return -EINVAL;
		}
		return 0;
	}
	return -EINVAL;
}

struct parse_ctx {
	struct cp_config *c;
	bool seen[sizeof(keys) / sizeof(keys[0])];
};

static int on_setting(void *ctx, const char *key, const char *value, char *err, size_t errlen)
{
	struct parse_ctx *p = ctx;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcmp(keys[i].name, key) == 0) {
			if (p->seen[i]) {
				dp_kvconf_msg(err, errlen, "%s: set twice", key);
				return -EINVAL;
			}
			p->seen[i] = true;
		}
	return cp_config_set(p->c, key, value, err, errlen) != 0 ? -EINVAL : 0;
}

int cp_config_parse(struct cp_config *c, const char *name, const char *text, char *err,
		    size_t errlen)
{
	struct parse_ctx p;
	memset(&p, 0, sizeof(p));
	p.c = c;
	return dp_kvconf_parse(name, text, on_setting, &p, err, errlen);
}

int cp_config_load(struct cp_config *c, const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		dp_kvconf_msg(err, errlen, "%s: %s", path, strerror(e));
		return -e;
	}
	size_t cap = 1u << 20, len = 0;
	char *buf = malloc(cap + 1);
	int rc = 0;
	if (buf == NULL) {
		rc = -ENOMEM;
		dp_kvconf_msg(err, errlen, "%s: out of memory", path);
		goto fail;
	}
	for (;;) {
		ssize_t k = read(fd, buf + len, cap - len);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			rc = -errno;
			dp_kvconf_msg(err, errlen, "%s: %s", path, strerror(errno));
			goto fail;
		}
		if (k == 0)
			break;
		len += (size_t)k;
		if (len == cap) {
			rc = -EFBIG;
			dp_kvconf_msg(err, errlen, "%s: file larger than 1 MiB", path);
			goto fail;
		}
	}
	buf[len] = '\0';
	if (memchr(buf, '\0', len) != NULL) {
		rc = -EINVAL;
		dp_kvconf_msg(err, errlen, "%s: contains a NUL byte (not a text file?)", path);
		goto fail;
	}
	rc = cp_config_parse(c, path, buf, err, errlen);
fail:
	free(buf);
	close(fd);
	return rc;
}

/* A role's TLS keys (prefix "api", "fanout"): with TLS on (the default) both files are
 * needed; with it off neither may be set, so that a half-edited file never serves plain
 * text by surprise. 0 or -EINVAL with err. */
static int tls_keys_check(const char *p, bool tls, const char *cert, const char *key, char *err,
			  size_t errlen)
{
	if (tls && (cert[0] == '\0' || key[0] == '\0')) {
		dp_kvconf_msg(err, errlen, "%s_tls is on (the default): set %s_cert and %s_key "
			      "('decpctl tls init' makes them), or %s_tls = off for plain text",
			      p, p, p, p);
		return -EINVAL;
	}
	if (!tls && (cert[0] != '\0' || key[0] != '\0')) {
		dp_kvconf_msg(err, errlen, "%s_cert / %s_key set but %s_tls = off", p, p, p);
		return -EINVAL;
	}
	return 0;
}

/* A list of 1..16 "host:port" entries, comma-separated (redis_nodes, redis_sentinels).
 * 0 or -EINVAL with err naming key. */
static int hostport_list_check(const char *key, const char *list, char *err, size_t errlen)
{
	const char *p = list;
	unsigned int n = 0;

	while (*p != '\0') {
		size_t len = strcspn(p, ",");
		const char *colon = memrchr(p, ':', len);
		char *end = NULL;
		unsigned long port = colon != NULL ? strtoul(colon + 1, &end, 10) : 0;

		if (colon == NULL || colon == p || end != p + len || port < 1 || port > 65535 ||
		    colon + 1 == p + len || !isdigit((unsigned char)colon[1]) || ++n > 16 ||
		    (p[len] == ',' && p[len + 1] == '\0')) {
			dp_kvconf_msg(err, errlen, "%s: expected 1 to 16 host:port entries "
				      "separated by commas, got '%s' (at '%.*s')", key, list,
				      (int)len, p);
			return -EINVAL;
		}
		p += len + (p[len] == ',');
	}
	return 0;
}

/* redis_nodes: 1..16 "host:port" entries, comma-separated; not with redis_sentinels (a
 * cluster fails over by itself). Every role routes per slot (cp_rcluster.h); a fan-out
 * without the edge tails the cluster through cp_fanout_ctail.h. */
static int redis_nodes_check(const struct cp_config *c, char *err, size_t errlen)
{
	if (c->redis_sentinels[0] != '\0') {
		dp_kvconf_msg(err, errlen, "redis_nodes and redis_sentinels exclude each other (a "
			      "Redis Cluster promotes its replicas itself)");
		return -EINVAL;
	}
	return hostport_list_check("redis_nodes", c->redis_nodes, err, errlen);
}

/* A role's listen address: cp_net_listen binds numeric IPv4 only (inet_pton AF_INET), so
 * anything else (a host name, IPv6) would pass --check and end the role at start. */
static int listen_check(const char *key, const char *addr, char *err, size_t errlen)
{
	struct in_addr a;

	if (inet_pton(AF_INET, addr, &a) != 1) {
		dp_kvconf_msg(err, errlen, "%s: '%s' is not a numeric IPv4 address (0.0.0.0 = all)",
			      key, addr);
		return -EINVAL;
	}
	return 0;
}

int cp_config_validate(const struct cp_config *c, char *err, size_t errlen)
{
	if (c->roles == 0) {
		dp_kvconf_msg(err, errlen, "no role selected");
		return -EINVAL;
	}
	if ((c->roles & CP_ROLE_ARCHIVER) && c->archiver_claim_idle_ms <= c->archiver_block_ms) {
		dp_kvconf_msg(err, errlen, "archiver_claim_idle_ms (%u) must exceed archiver_block_ms (%u)",
		    c->archiver_claim_idle_ms, c->archiver_block_ms);
		return -EINVAL;
	}
	if (c->api_admin_token_sha256[0] != '\0' &&
	    strspn(c->api_admin_token_sha256, "0123456789abcdef") != 64) {
		dp_kvconf_msg(err, errlen, "api_admin_token_sha256: expected 64 lower-case hex digits");
		return -EINVAL;
	}
	if ((c->roles & CP_ROLE_FANOUT) &&
	    tls_keys_check("fanout", c->fanout_tls, c->fanout_cert, c->fanout_key, err, errlen) != 0)
		return -EINVAL;
	if ((c->roles & CP_ROLE_API) &&
	    tls_keys_check("api", c->api_tls, c->api_cert, c->api_key, err, errlen) != 0)
		return -EINVAL;
	if (c->redis_nodes[0] != '\0' && redis_nodes_check(c, err, errlen) != 0)
		return -EINVAL;
	/* the Sentinels were only tried at connect: a malformed entry was skipped there and
	 * the role retried for ever with "no Sentinel of ... knows a primary" */
	if (c->redis_sentinels[0] != '\0' &&
	    hostport_list_check("redis_sentinels", c->redis_sentinels, err, errlen) != 0)
		return -EINVAL;
	if ((c->roles & CP_ROLE_FANOUT) && listen_check("fanout_listen", c->fanout_listen, err,
							 errlen) != 0)
		return -EINVAL;
	if ((c->roles & CP_ROLE_API) && listen_check("api_listen", c->api_listen, err, errlen) != 0)
		return -EINVAL;
	/* The archiver's tier pass (cp_tier_run) refuses relative tier directories at every
	 * maintenance period: refuse them here, at start and in --check, instead of logging
	 * the failure hourly while the days wait in PostgreSQL. */
	if ((c->archive_warm_dir[0] != '\0' && c->archive_warm_dir[0] != '/') ||
	    (c->archive_cold_dir[0] != '\0' && c->archive_cold_dir[0] != '/')) {
		dp_kvconf_msg(err, errlen, "%s: '%s' is not an absolute path",
			      c->archive_warm_dir[0] != '\0' && c->archive_warm_dir[0] != '/'
				      ? "archive_warm_dir" : "archive_cold_dir",
			      c->archive_warm_dir[0] != '\0' && c->archive_warm_dir[0] != '/'
				      ? c->archive_warm_dir : c->archive_cold_dir);
		return -EINVAL;
	}
	if (c->redis_timeout_ms <= c->archiver_block_ms && (c->roles & CP_ROLE_ARCHIVER)) {
		dp_kvconf_msg(err, errlen, "redis_timeout_ms (%u) must exceed archiver_block_ms (%u)",
		    c->redis_timeout_ms, c->archiver_block_ms);
		return -EINVAL;
	}
	return 0;
}
