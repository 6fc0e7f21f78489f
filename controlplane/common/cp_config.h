/*
 * cp_config: decp-control's configuration, read in one place (here).
 *
 * File format: dataplane/dp_kvconf.h, the same `key = value` syntax as the dataplane's
 * file (docs/control.md "Configuration" has the reference). Unknown keys, duplicate keys, missing '=', empty values and out-of-range numbers are
 * errors reported as "FILE:LINE: message". Command-line overrides (--set key=value) go
 * through the same per-key parser, reported as "--set: message".
 *
 * Threading: parse in main before starting roles; afterwards the struct is read-only.
 */
#ifndef DECP_CP_CONFIG_H
#define DECP_CP_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cp_sched.h"

/* Roles: one bit each; cp_config.c's role_names table gives their names (one row per role). */
enum cp_role {
	CP_ROLE_EDGE = 1u << 0,
	CP_ROLE_ARCHIVER = 1u << 1,
	CP_ROLE_FANOUT = 1u << 2,
	CP_ROLE_API = 1u << 3,   /* not in 'all': named explicitly (docs/api.md) */
	CP_ROLE_TRUST = 1u << 4, /* not in 'all': named explicitly */
	CP_ROLE_BOOK = 1u << 5,  /* not in 'all': named explicitly (issue 19) */
};
#define CP_ROLES_ALL (CP_ROLE_EDGE | CP_ROLE_ARCHIVER | CP_ROLE_FANOUT)

/* The name of one role bit ("edge"), or NULL. */
const char *cp_config_role_name(unsigned int bit);

/* Comma-separated names of the bits in roles into buf ("edge,archiver"). Returns buf. */
const char *cp_config_roles_str(unsigned int roles, char *buf, size_t len);

/* When the edge may ACK a signal (docs/control.md "Durability modes", issue 23). */
enum cp_durability {
	CP_DUR_FSYNC = 0, /* Redis has fsynced its AOF (appendfsync always): the default */
	CP_DUR_REPLICA,   /* WAIT: durability_replicas replicas have the write */
	CP_DUR_BOTH,      /* both of the above */
	CP_DUR_OS,        /* the write is in Redis (appendfsync everysec: up to ~1 s lost on a crash) */
};

/* Does mode d wait for replicas (WAIT) before an ACK? */
static inline bool cp_durability_waits(enum cp_durability d)
{
	return d == CP_DUR_REPLICA || d == CP_DUR_BOTH;
}

/* "Keys: ..." every configuration key, wrapped, for --help (from the one key table). */
void cp_config_print_keys(FILE *f);

/* "fsync", "replica", "both" or "os". */
const char *cp_durability_name(enum cp_durability d);

struct cp_config {
	unsigned int roles;              /* enum cp_role bits */
	char shm[64];                    /* dataplane segment name */
	char redis_host[256];
	uint32_t redis_port;
	uint32_t redis_timeout_ms;       /* connect and per-reply timeout */
	char redis_sentinels[512];       /* "host:port,..." of Redis Sentinels: the primary is
					  * asked of them (redis_host/port unused); "" = none */
	char redis_sentinel_master[64];  /* the name the Sentinels monitor the primary as */
	char redis_nodes[512];           /* "host:port,..." seed nodes of a Redis Cluster (slot
					  * routing, cp_rcluster.h; redis_host/port unused); "" =
					  * one Redis (or Sentinels) */
	bool redis_notify;               /* redis_nodes: the edge announces new entries on each
					  * master's shard channel (SPUBLISH, for a standalone
					  * fan-out's cluster tail, cp_fanout_ctail.h); default yes */
	char pg_conninfo[1024];          /* libpq conninfo */
	char pg_read_conninfo[1024];     /* api: its GETs' session (a read replica, e.g. with
					  * target_session_attrs=prefer-standby); "" = pg_conninfo */
	uint32_t pg_timeout_ms;          /* statement_timeout of our sessions */
	uint32_t backoff_max_ms;         /* reconnect backoff ceiling (doubles from 50 ms) */
	uint32_t edge_batch;             /* records per Redis pipeline (group commit) */
	enum cp_durability durability;   /* edge: when an ACK may go (default fsync) */
	uint32_t durability_replicas;    /* replica/both: replicas that must have a write */
	uint32_t durability_wait_ms;     /* replica/both: WAIT's timeout; short: no ACK */
	uint32_t dataplane_stale_ms;     /* dataplane heartbeat older than this: re-attach */
	char edge_id[64];                /* edge: its name in the masters' session claims;
					  * "" = "<hostname>:<shm>" */
	uint32_t auth_reload_s;          /* full token/master reload period (expiry) */
	struct cp_sched edge_sched;      /* the edge thread's scheduling class (cp_sched.h) */
	struct cp_sched background_sched; /* the archiver's, book's and trust's threads */
	uint32_t archiver_batch;         /* entries per XREADGROUP / COPY */
	uint32_t archiver_block_ms;      /* XREADGROUP BLOCK */
	uint32_t archiver_claim_idle_ms; /* XAUTOCLAIM entries pending longer than this */
	uint32_t archiver_threads;       /* archiver loops (consumers, PG sessions) */
	uint32_t archiver_linger_ms;     /* pause after a small batch, so the next is larger */
	uint32_t archiver_read_max;      /* entries per XREADGROUP at most (a batch takes several) */
	uint32_t archiver_read_live;     /* the same while the archiver keeps up (no backlog) */
	uint32_t partition_maint_s;      /* maintain_partitions() period */
	uint32_t redis_keep_signals;     /* archived entries kept per master stream (replay) */
	uint32_t masters_scan_s;         /* archiver: SCAN the primaries for signal streams
					  * every this many seconds (and at start; 0: never;
					  * cp_discover.h) */
	char archive_warm_dir[512];      /* warm tier: days past the hot window are exported
					  * here before their partition is dropped; "" = archival
					  * off, nothing is ever dropped (docs/database.md) */
	char archive_cold_dir[512];      /* cold tier; "" = files stay in the warm tier */
	uint32_t archive_cold_after_days; /* a day older than this moves warm -> cold */
	char archiver_consumer[128];     /* consumer name; "" = "<hostname>-<pid>" */
	int log_level;                   /* enum cp_log_level */
	char fanout_listen[256];         /* fanout: address to bind (0.0.0.0 = all) */
	uint32_t fanout_port;            /* fanout: WebSocket port; 0 = any free one (logged) */
	bool fanout_tls;                 /* fanout: wss (default); no: plain ws, warned at start */
	char fanout_cert[512];           /* fanout: PEM certificate (chain) of wss */
	char fanout_key[512];            /* fanout: PEM key of fanout_cert */
	/* fanout: file with the platform's Ed25519 seed ("ed25519_seed = HEX") that signs
	 * re-sync snapshots (proto_snapsig.h); "" = snapshots unsigned (warned at start) */
	char fanout_snapshot_key[512];
	uint32_t fanout_queue;           /* fanout: per-connection queue bound (messages) */
	uint32_t fanout_history;         /* fanout: envelopes kept per master for replay */
	uint32_t fanout_max_conns;       /* fanout: connections per process */
	uint32_t fanout_sndbuf;          /* fanout: SO_SNDBUF of subscriber sockets; 0 = kernel */
	bool fanout_reuse_port;          /* fanout: share the port with other processes */
	uint32_t fanout_state_poll_ms;   /* fanout: subscription state poll period */
	uint32_t fanout_keepalive_ms;    /* fanout: ping a connection silent this long */
	uint32_t fanout_keepalive_timeout_ms; /* fanout: ...and close it when still silent
					  * this long after the ping was due */
	uint32_t fanout_replay_rate;     /* fanout: Redis replay reads (XRANGE) per second,
					  * whole process */
	uint32_t fanout_max_conns_per_subscriber; /* fanout: sessions of one subscriber */
	uint32_t fanout_report_rate;     /* fanout: reports, AccountStates, TimePings, pings,
					  * pongs and empty continuation frames per
					  * second of one subscriber, burst the same (0 = off);
					  * beyond, its sessions stop reading */
	uint32_t fanout_preauth_max;     /* fanout: connections held before their upgrade request
					  * is complete (cp_gate; the oldest evicted beyond) */
	uint32_t fanout_preauth_per_source; /* fanout: ...of them from one IPv4 address */
	uint32_t fanout_preauth_rate;    /* fanout: new connections/s per address (0 = off) */
	uint32_t fanout_header_timeout_ms; /* fanout: the upgrade request must arrive within */
	uint32_t fanout_poll_idle_ms;    /* fanout: an HTTP polling connection idle this long
					  * between two requests is closed */
	bool fanout_reports_redis;       /* fanout: subscriber reports to the Redis reports
					  * stream (the archiver stores them); no: the fan-out
					  * stores them in PostgreSQL itself (decp-fanout alone) */
	bool fanout_poll_loop;           /* fanout: lws's poll(2) loop instead of libev/epoll
					  * (kept for comparison, docs/perf.md "fanout") */
	char api_listen[256];            /* api: address to bind */
	uint32_t api_port;               /* api: HTTPS (HTTP with api_tls = no) port */
	bool api_tls;                    /* api: HTTPS (default); no: plain HTTP, warned at start */
	char api_cert[512];              /* api: PEM certificate (chain) of HTTPS */
	char api_key[512];               /* api: PEM key of api_cert */
	uint32_t api_threads;            /* api: workers (threads) sharing one listener */
	char api_admin_token_sha256[65]; /* api: hex SHA-256 of the admin token ("" = none) */
	uint32_t api_max_body;           /* api: request body limit, bytes */
	uint32_t api_max_batch;          /* api: protection events per POST */
	uint32_t api_timeout_s;          /* api: slow-client limit per request */
	uint32_t api_preauth_max;        /* api: connections held before their request head is
					  * complete (cp_gate; the oldest evicted beyond) */
	uint32_t api_preauth_per_source; /* api: ...of them from one IPv4 address */
	uint32_t api_preauth_rate;       /* api: new connections/s per address (0 = off) */
	uint32_t api_header_timeout_ms;  /* api: the request head must arrive within */
	uint32_t api_rate_per_s;         /* api: requests per second per caller (0 = off) */
	uint32_t api_lock_wait_ms;       /* api: a synchronous statement's lock wait, at most
					  * (lock_timeout; 0 = pg_timeout_ms alone) */
	uint32_t trust_tick_s;           /* trust: recovery check period */
	uint32_t trust_time_offset_s;    /* trust: added to "now" (tests: simulated days) */
	uint32_t trust_credit_window_s;  /* trust: an EXECUTE scores only this soon after delivery */
	uint32_t trust_record_wait_s;    /* trust: how long a report waits for the delivery record
					  * it names (docs/api.md "Trust") */
};

/* Fill the defaults (docs/control.md). */
void cp_config_defaults(struct cp_config *c);

/*
 * Set one key from its text value. Returns 0, -ENOENT unknown key, -EINVAL bad value;
 * on error err holds a message naming the key (no location prefix).
 */
int cp_config_set(struct cp_config *c, const char *key, const char *value, char *err,
		  size_t errlen);

/*
 * Parse a whole configuration text; `name` is used in messages ("NAME:LINE: ...").
 * Stops at the first error. Returns 0 or -EINVAL with err filled.
 */
int cp_config_parse(struct cp_config *c, const char *name, const char *text, char *err,
		    size_t errlen);

/* Read and parse a file. Returns 0, -EINVAL (err filled), or -errno of open/read (err
 * filled with "NAME: strerror"). Files over 1 MiB are refused (-EFBIG). */
int cp_config_load(struct cp_config *c, const char *path, char *err, size_t errlen);

/* Cross-field checks after all sources are applied. Returns 0 or -EINVAL with err. */
int cp_config_validate(const struct cp_config *c, char *err, size_t errlen);

/* Parse "edge,archiver" / "all". Returns 0 or -EINVAL with err. */
int cp_config_parse_roles(const char *s, unsigned int *roles, char *err, size_t errlen);

#endif
