/*
 * cp_api_pvt: what the api role's files share: the request being served, reply and
 * error helpers, the route table, metrics. Everything runs on the api thread.
 */
#ifndef DECP_CP_API_PVT_H
#define DECP_CP_API_PVT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "cp_api_rd.h"
#include "cp_config.h"
#include "cp_ctx.h"
#include "cp_pg.h"
#include "cp_redis.h"

enum api_method { API_GET = 1, API_POST = 2 };

/* Who may call a route. */
enum api_auth {
	API_PUBLIC = 0, /* no token (health, metrics) */
	API_ADMIN,      /* operator token only */
	API_ANY,        /* operator, or a subscriber for their own data (checked by the handler) */
};

/* Upper bounds (µs) of the request latency histogram in /metrics; the last is +Inf. */
#define API_LAT_BUCKETS 12
extern const uint64_t cp_api_lat_bounds_us[API_LAT_BUCKETS];

/* Counters of all api workers, exported by /metrics (relaxed atomics: monitoring). */
struct api_stats {
	_Atomic uint64_t requests;
	_Atomic uint64_t by_status[6];         /* 1xx..5xx by first digit (index 1..5) */
	_Atomic uint64_t events_stored;        /* protection events stored */
	_Atomic uint64_t executions_reported;  /* EXECUTE reports fed to trust */
	_Atomic uint64_t rate_limited;
	_Atomic uint64_t head_refused;         /* request heads refused by cp_api_head (gate) */
	_Atomic uint64_t event_commits;        /* transactions storing protection-event POSTs */
	_Atomic uint64_t event_commit_requests;/* POSTs those transactions carried */
	_Atomic uint64_t event_commit_splits;  /* failed ones retried a request at a time */
	_Atomic uint64_t read_groups;          /* statements reading grouped subscription GETs */
	_Atomic uint64_t read_group_requests;  /* GETs those statements answered */
	_Atomic uint64_t lat_bucket[API_LAT_BUCKETS]; /* service time (cp_api_lat_bounds_us) */
	_Atomic uint64_t lat_count, lat_sum_us;
};

/* Add v to a counter of struct api_stats. */
#define API_STAT_ADD(ctr, v) atomic_fetch_add_explicit(&(ctr), (uint64_t)(v), memory_order_relaxed)

/* Subscriber-token cache (cp_api.c): digest -> subscriber, dropped on NOTIFY decp_subauth. */
#define API_AUTH_SLOTS 4096u
struct api_auth_entry {
	uint8_t hash[32];
	int64_t subscriber;      /* 0 = empty slot */
	int64_t expires_us;      /* wall clock; INT64_MAX = never */
};

/* A worker's inbox of connections that passed the gate (cp_gate.h): the gate thread
 * pushes under mu and wakes ctx; the worker adopts them into lws. ctx NULL: the worker is
 * not (or no longer) serving; nothing is pushed. */
struct api_inbox {
	pthread_mutex_t mu;
	struct lws_context *ctx;
	struct api_adopt *head;
};

/* What the api workers share (read-only after start, except stats and the buckets). */
struct api_shared {
	const struct cp_config *cfg;
	struct cp_ctx *pctx;           /* the process context: /metrics walks its providers */
	uint8_t admin_hash[32];
	bool has_admin;
	struct api_stats st;
	atomic_int abort;              /* a worker failed: all stop, the role ends */
	int listen_fd;                 /* the listener, until the gate takes it (then -1) */
	struct cp_gate *gate;          /* accepts, holds and reads request heads (cp_gate.h) */
	char too_large[256];           /* the gate's answer to a head over 4 KiB (431) */
	struct api_inbox inbox[16];    /* per worker (CP_API_MAX_THREADS) */
	atomic_uint next_worker;       /* the gate's round robin */
	_Atomic uint64_t auth_gen;     /* bumped by a revocation: every worker drops its cache */
	pthread_mutex_t rate_mu;       /* guards buckets */
	struct api_bucket *buckets;    /* rate limiter (cp_api.c), NULL when off */
	const atomic_int *stop;        /* the process's stop flag */
	atomic_int redis_up;           /* the last Redis probe: 1 up, 0 down, -1 none yet */
};

/* The Redis probe thread (cp_api_metrics.c): decp_redis_up every CP_API_REDIS_PROBE_MS. */
#define CP_API_REDIS_PROBE_MS 500
void *cp_api_redis_prober(void *arg);

struct lws;
struct lws_context;
struct api_pend;                   /* a deferred request (cp_api_batch.c) */

/* A queue of deferred requests (cp_api_batch.c). */
struct api_pendq {
	struct api_pend *head, *tail;
};

/* A PostgreSQL session of the worker that answers deferred requests with asynchronous
 * statements, one in flight at a time (cp_api_batch.c): the primary's lane carries the
 * group commit of protection-event POSTs (and reads the read lane could not), the read
 * session's lane (pg_read_conninfo's replica, else a second session of the primary) the
 * grouped reads of GET /v1/subscriptions/:id. */
#define API_PEND_KINDS 2
enum { API_LANE_PRIMARY = 0, API_LANE_READ = 1, API_LANES = 2 };
struct api_lane {
	struct cp_pg *pg;              /* the session: the worker's pg or pg_read */
	struct api_pendq q[API_PEND_KINDS]; /* waiting, per kind (cp_api_batch.c kinds[]) */
	struct api_pend *inflight;     /* the statement sent and not yet answered */
	unsigned int n_inflight;
	unsigned int inflight_kind;
	unsigned int next_kind;        /* the kind sent first when both wait (alternates) */
	bool preparing;                /* its PREPARE is in flight; then the statement */
	char *param;                   /* the statement's parameter until it is sent */
	PGresult *res;                 /* its result, once read */
	unsigned int solo;             /* POSTs at the head to send one per transaction */
	struct lws *watch;             /* lws raw-file watcher of the session's socket */
	uint64_t watch_session;        /* cp_pg.session it watches */
	struct api_lane *fallback;     /* takes its GETs when its session fails (NULL: none) */
	/* the session connects on a thread of its own (cp_api_batch.c connect_off_loop): while
	 * `connecting`, the thread owns pg; the read lane's GETs go to the fallback, the
	 * primary's POSTs wait, synchronous requests wait until API_PG_GRACE_MS after it began */
	pthread_t connector;
	bool connector_started;        /* joined by the loop once `connecting` is false */
	atomic_bool connecting;
	uint64_t connect_ns;           /* when the connector began (cp_now_ns) */
	struct lws_context *ctx;       /* woken by the connector when it is done */
};

/* How long a request that needs the primary's session waits for a connection under way
 * (from the attempt's start): a reachable server answers well within it; a host that does
 * not answer costs the request a 503 db_unavailable after it, not connect_timeout. */
#define API_PG_GRACE_MS 250u

/* How long /metrics and /readyz wait for a statement in flight on the primary's session
 * (api_park): a load balancer's or Kubernetes' probe gives up after 1 s. Past it they
 * answer that PostgreSQL did not answer (decp_postgresql_up 0, 503). */
#define API_PROBE_WAIT_MS 500u

struct conn;                       /* a client connection (cp_api.c) */

#define API_STREAMS_MAX 64        /* console event streams per worker (429 beyond) */
#define API_STREAMS_PER_SUBSCRIBER 4 /* of them one subscriber's (429 beyond) */
#define API_STREAMS_OPERATOR 8    /* of them kept for the operator: subscribers' at most
				   * API_STREAMS_MAX - this */
#define API_STREAM_PUSH_MS 250    /* at most one change event per stream this often */
#define API_STREAM_KA_S 15        /* a comment line this often keeps idle streams alive */

/* One api worker: its own lws context, thread, PostgreSQL session and token cache. */
struct api {
	const struct cp_config *cfg;
	struct api_shared *sh;
	struct lws_context *ctx;
	struct cp_pg pg;
	struct cp_redis redis;         /* read only: the position books (cp_api_console.c) */
	struct cp_pg pg_read;          /* the read session: pg_read_conninfo's replica (GETs),
					* else a second session of the primary (grouped reads) */
	struct api_lane lane[API_LANES]; /* deferred requests' sessions (API_LANE_*) */
	uint64_t listen_session;       /* cp_pg.session that LISTENs decp_subauth (0: none) */
	bool auth_drop;                /* a decp_subauth notification came: drop the cache */
	/* the console's live updates (cp_api_console.c): Server-Sent Events streams of this
	 * worker, told when decp_console is notified (at most every API_STREAM_PUSH_MS) */
	struct lws *streams[API_STREAMS_MAX];
	int64_t stream_owner[API_STREAMS_MAX]; /* subscriber id, 0: the operator */
	/* what each stream was opened with, checked again at every keep-alive and when a
	 * token changes (a stream ends with its session or token: api_console_tick): the
	 * session cookie ("" for a token) and the token's digest */
	char stream_session[API_STREAMS_MAX][CP_API_SESSION_MAX + 1];
	uint8_t stream_token[API_STREAMS_MAX][32];
	bool stream_check_due;         /* a decp_subauth notification came */
	unsigned int nstreams;
	uint64_t console_listen_session; /* cp_pg.session that LISTENs decp_console */
	bool console_changed;
	uint64_t stream_push_ns, stream_ka_ns;
	struct api_auth_entry *auth;   /* API_AUTH_SLOTS entries */
	uint64_t auth_gen_seen;        /* sh->auth_gen when the cache was last checked */
	unsigned int idx;              /* the worker's number (its sh->inbox) */
	/* connections whose request waits for a session's statement in flight (api_park),
	 * in arrival order */
	struct conn *parked, **parked_tail;
};

struct api_req {
	struct api *api;
	struct lws *wsi;               /* the client connection (NULL for a deferred reply's) */
	struct api_pend *pend;         /* set by a handler that answers later (api_finish) */
	enum api_method method;
	const char *path;              /* without the query string */
	const char *query;             /* "a=1&b=2" or "" */
	int64_t id[2];                 /* numeric path parameters, in order */
	json_t *body;                  /* parsed POST body (object), or NULL */
	const char *auth;              /* the Authorization header ("" when none) */
	const char *session;           /* the console session cookie (64 hex digits) or "" */
	bool console_hdr;              /* X-Decp-Console: 1 was sent */
	const char *idem_key;          /* Idempotency-Key ("" when none) */
	bool idem_bad;                 /* an Idempotency-Key was sent but is not valid */
	bool admin;                    /* operator token */
	bool read;                     /* a GET's handler: its queries may go to pg_read */
	bool replica_auth;             /* a GET that may be authenticated on pg_read while the
					* primary's session is away (cp_api.c subscriber_of) */
	unsigned int park;             /* parked behind lane park - 1's statement (0: not) */
	bool probe;                    /* /metrics, /readyz: park API_PROBE_WAIT_MS at most */
	bool late;                     /* served again past that: a busy session is not waited
					* for, the request answers without it */
	bool rate_paid;                /* charged to the rate limit (kept when it is parked) */
	int64_t subscriber;            /* caller's subscriber id (when !admin) */
	uint8_t token_sha256[32];      /* the caller's token digest (set by authentication) */
	/* reply */
	int status;
	json_t *out;                   /* JSON body; or text when text != NULL */
	char *text;                    /* malloc'd text body (metrics) */
	const char *ctype;
	char hdrs[768];                /* extra header lines of the reply, each ending CR LF */
	bool stream;                   /* the reply is an event stream: its head and r->text,
					* then events until the connection closes */
};

struct api_route {
	enum api_method method;
	const char *pattern;           /* "/v1/subscriptions/:id/trust" */
	enum api_auth auth;
	bool body;                     /* needs a JSON object body */
	void (*fn)(struct api_req *r);
	bool primary;                  /* a GET that must read the primary, never pg_read */
};

/* The route table (cp_api_routes.c) and its length. */
extern const struct api_route cp_api_routes[];
extern const unsigned int cp_api_nroutes;

/* Reply with status and a JSON body (stolen). */
void api_reply(struct api_req *r, int status, json_t *body);
/* Reply {"code": code, "message": ...}. */
void api_error(struct api_req *r, int status, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Map a failed query (or NULL: not connected) to a reply; one place for every SQLSTATE. */
void api_pg_error(struct api_req *r, const PGresult *res);

/* A subscriber token was revoked by this process: every worker's token cache is dropped
 * before its next lookup (other processes' changes arrive by NOTIFY decp_subauth). */
void api_auth_changed(struct api_req *r);

/*
 * Whether r must wait for the statement in flight on `lane` (API_LANE_*): then r is
 * parked (r->park) and its handler returns at once, without a reply; its connection's
 * request is served again from the start (api_resume) once that statement is answered, or
 * for a probe (r->probe) API_PROBE_WAIT_MS later (r->late). So the event loop never waits
 * for the database behind a statement in flight. False when the lane is idle, or when r
 * is late (the caller answers without the session). Handlers may be served again: what
 * they do before their first statement must be free of effects (authentication and the
 * rate limit are: a request is charged once).
 */
bool api_park(struct api_req *r, unsigned int lane);
/* Serve again the parked requests whose lane is idle or whose wait is over (cp_api.c):
 * api_batch_kick, before it sends the next statement. */
void api_resume(struct api *a);

/* Query with text params; NULL when PostgreSQL is unreachable (reply already set 503), or
 * r was parked (api_park: no reply). */
PGresult *api_q(struct api_req *r, const char *sql, int n, const char *const *params);

/* api_q for a hot statement, prepared once per session (slot: enum api_stmt). */
enum api_stmt { API_STMT_TOKEN = 0, API_STMT_EVENTS, API_STMT_SUB_GET, API_STMT_SUB_OWNER };
PGresult *api_q_prep(struct api_req *r, enum api_stmt slot, const char *sql, int n,
		     const char *const *params);

/* The columns of a subscription in the API's replies. */
#define API_SUB_COLS "id, master_id, subscriber_id, state, state_reason, state_changed_at," \
		     " last_sequence_id, high_water_mark, trust_score, fee_pct, copy_policy," \
		     " copy_policy_version, created_at, updated_at"

/*
 * Deferred requests (cp_api_batch.c), all on the worker's thread.
 * api_events_defer: queue the validated, normalised events (a JSON array, stolen) of r
 *   for the next transaction; r is answered by api_finish() after the commit. 0, or
 *   -ENOMEM with r's reply set.
 * api_sub_get: defer GET /v1/subscriptions/:id (200, 404, 403): read together with the
 *   GETs waiting beside it, on the read session (falling back to the primary's session
 *   when it fails).
 * api_batch_kick: without blocking, answer finished statements, serve again the requests
 *   parked behind them (api_resume), and send the next.
 * api_batch_read_ready: the read session is connected and may be used on this thread;
 *   false while it connects on a thread of its own (started here when the backoff allows):
 *   the caller reads on the primary meanwhile.
 * api_batch_primary_ready: the same for the primary's session, which every synchronous
 *   statement uses; false (the caller answers 503) when it is down or still connecting
 *   (with grace: API_PG_GRACE_MS after the attempt began). api_batch_primary_up: whether it is up now,
 *   without starting an attempt or waiting (notifications, the console's LISTEN).
 * api_batch_join: wait for the connector threads (before the lws context is destroyed:
 *   they wake it).
 * api_batch_readable: lws callback of a session watcher. Returns what the callback
 *   returns (-1 closes a stale watcher). api_batch_closed: a watcher was closed.
 * api_batch_detach: the client of a deferred request closed its connection.
 * api_batch_free: at worker exit, after its lws context is destroyed.
 */
int api_events_defer(struct api_req *r, json_t *events);
void api_sub_get(struct api_req *r, int64_t id);
void api_batch_kick(struct api *a);
bool api_batch_read_ready(struct api *a);
bool api_batch_primary_ready(struct api *a, bool grace);
bool api_batch_primary_up(const struct api *a);
void api_batch_join(struct api *a);
int api_batch_readable(struct api *a, struct lws *wsi);
void api_batch_closed(struct api *a, struct lws *wsi);
void api_batch_detach(struct api_pend *p);
void api_batch_free(struct api *a);

/*
 * Who calls: "Bearer <token>" (hdr) -> r->admin / r->subscriber / r->token_sha256. 0, or
 * the reply (401/503) is set. The web console's requests carry no Authorization but its
 * session cookie (r->session): api_console_auth, cp_api_console.c.
 */
int api_authenticate(struct api_req *r, const char *hdr);
int api_console_auth(struct api_req *r);
/* The caller's request budget (api_rate_per_s): 0, or -EAGAIN with 429 set (cp_api.c). */
int api_rate_check(struct api_req *r);

/* The console (cp_api_console.c, docs/console.md): its files and its sessions. */
void api_console_asset(struct api_req *r);
void api_console_session(struct api_req *r);
void api_console_me(struct api_req *r);
void api_console_logout(struct api_req *r);
void api_console_link(struct api_req *r);
void api_console_stream(struct api_req *r);
/* Every wake of the worker (100 ms): notifications in, events out (cp_api_console.c). */
void api_console_tick(struct api *a);
/* A stream connection wants an event (push) or a keep-alive comment (api: cp_api.c). */
void api_stream_due(struct lws *wsi, bool push);
/* A stream whose session or token ended: closed from the service loop (cp_api.c). */
void api_stream_end(struct lws *wsi);
/* Read the session's notifications: decp_subauth sets auth_drop, decp_console
 * console_changed (cp_api.c). */
void api_notifies(struct api *a);

/* Send r's reply (set by api_reply / api_error) on wsi: the end of a deferred request
 * (cp_api.c). Takes r->out. */
void api_finish(struct api *a, struct lws *wsi, struct api_req *r);

/* n bytes as 2n lower-case hex digits + NUL into out (2n + 1 bytes). Returns out. */
char *api_hex(const uint8_t *b, size_t n, char *out);

/* Row i as a JSON object (column name -> typed value), or all rows as an array. */
json_t *api_row(const PGresult *res, int i);
json_t *api_rows(const PGresult *res);

/* Prometheus text exposition (cp_api_metrics.c). Returns a malloc'd string or NULL. */
char *cp_api_metrics_text(struct api *a);

#endif
