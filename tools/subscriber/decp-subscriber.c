/*
 * decp-subscriber: subscriber EA simulator (issue 9). Many simulated subscribers share one
 * libwebsockets client context (one connection each). Each one authenticates with its
 * token, measures the server clock (TimePing), subscribes to its masters from the guard's
 * next sequence, runs guard/ on every Envelope against a simulated quote feed and wallet,
 * "executes" into a log (one line "<subscriber> <master> <sequence>" per execution),
 * reports executions and protection events back, and reconnects with backoff.
 * See docs/fanout.md "decp-subscriber".
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libwebsockets.h>

#include "decp.pb-c.h"
#include "guard.h"
#include "guard_proto.h"
#include "proto_keyann.h"
#include "proto_money.h"
#include "proto_msg.h"
#include "proto_signal.h"
#include "proto_sign.h"
#include "sub_account.h"
#include "sub_poll.h"
#include "sub_resync.h"

#define MAX_MASTERS 8
#define KEYS_MAX 1024
#define INSTRUMENTS_MAX 4096

struct outmsg {
	struct outmsg *next;
	uint64_t report_id; /* a report kept until ReportAck (unacked list), else 0 */
	size_t len;
	uint8_t buf[];
};

/* Reports kept per simulated EA until acknowledged; beyond, the oldest is forgotten
 * (counted): a bound on memory while the server cannot store reports. */
#define UNACKED_MAX 100000u

/* Verification memo for load runs (--verify-cache): many simulated EAs in one process
 * receive the very same (body, signature) bytes; Ed25519 verification is a pure function
 * of (public key, body, signature), so the first result is reused for identical bytes.
 * Direct-mapped on the signature's first 8 bytes; a hit compares all bytes. */
#define VCACHE_SLOTS 4096u

struct vslot {
	bool used;
	int result;
	size_t body_len;
	uint8_t sig[64];
	uint8_t body[192];
};

/* A master's signing key as this process trusts it. A verified key announcement
 * (ServerMessage.key_announcement, docs/protocol.md "Key announcement") makes the
 * announced key current and keeps the old one as prev until the announced overlap end;
 * every simulated subscriber of the master verifies through this one struct
 * (verify_key), so one announcement switches them all. */
struct key {
	uint64_t master;
	uint8_t pub[32];            /* the trusted (current) public key */
	struct guard_ed25519 *k;    /* pub's verifier */
	struct guard_ed25519 *prev; /* the key before the last rotation, or NULL */
	int64_t prev_until_ns;      /* prev verifies until then (wall clock) */
	struct vslot *cache; /* NULL: no memo; results of k only, cleared at a rotation */
	uint64_t hits, misses;
};

struct sim;

/* --poll: one HTTP polling connection per (subscriber, master) to the fan-out's polling
 * endpoint (sub_poll.h, docs/fanout.md "HTTP polling"), instead of the WebSocket. */
struct pconn {
	struct sim *s;
	int mi;                     /* the master's index in s */
	struct lws *wsi;
	struct sub_poll_rx rx;
	lws_sorted_usec_list_t sul; /* the next connection attempt */
	uint32_t backoff_ms;
	bool sent;                  /* a request is out, its answer not read yet */
};

struct sim {
	int idx;
	char token[160];
	int nm;
	uint64_t masters[MAX_MASTERS];
	uint64_t sub_ids[MAX_MASTERS];
	bool replaying[MAX_MASTERS]; /* between SyncStart and SyncEnd */
	struct guard_sub gs[MAX_MASTERS];
	struct guard_policy pol[MAX_MASTERS]; /* the server's CopyPolicy, else the defaults */
	struct guard_clock clk;
	struct sub_account acct;   /* the simulated broker account (sub_account.h) */
	struct sub_snap snap[MAX_MASTERS]; /* --resync: the snapshot being received */
	uint64_t resyncs;          /* snapshots reconciled */
	uint64_t snaps_refused;    /* snapshots whose signature did not verify */
	uint8_t snap_from[MAX_MASTERS]; /* the guard's state when the snapshot began */
	bool snap_open[MAX_MASTERS];    /* a snapshot began, not reconciled or refused yet */
	int64_t ask_ns[MAX_MASTERS];    /* a re-sync asked for (resync_ask) when (local_ns),
					 * no snapshot since; 0 = none */
	uint64_t ask_from[MAX_MASTERS]; /* from which sequence */
	int64_t ask_due[MAX_MASTERS];   /* a re-sync owed, not asked yet: from when (local_ns,
					 * resync_ask); 0 = none */
	uint64_t resync_asks;           /* re-syncs asked for after a stale signal */
	uint32_t refusals;         /* snapshots refused in a row: the reconnect's backoff */
	bool acct_dirty;           /* changed since the last AccountState sent */
	int64_t acct_sent_ns;      /* when the last AccountState went out */
	uint64_t margin_refused;   /* INSUFFICIENT_MARGIN verdicts */
	struct lws *wsi;
	struct lws *attempt;       /* the connection sim_connect last started (NULL: none) */
	bool retry_pending;        /* sim_retry scheduled the next attempt */
	lws_sorted_usec_list_t sul;
	lws_sorted_usec_list_t stall; /* --stop-reading-after: end of the stall */
	struct outmsg *oh, *ot;
	struct outmsg *uh, *ut;    /* reports sent, not yet acknowledged (ReportAck) */
	size_t nunacked;
	uint64_t acked, resent, unacked_dropped;
	bool connected, subscribed, stopped_reading;
	uint32_t backoff_ms;
	uint64_t envelopes, executed, rejected, reconnects, refused;
	uint64_t forge_n, forged, forgery_accepted; /* --forge-every */
	int64_t last_sync_ns;                        /* last TimePing (or local sample) */
	struct pconn pc[MAX_MASTERS];                /* --poll */
	uint8_t rx[8192];
	size_t rx_len;
};

struct opts {
	char host[256], path[512];
	int port;
	bool tls;
	int64_t skew_ns, ttl_ns;
	int64_t quote_off_pips_x100;
	uint64_t stop_reading_after;
	uint64_t expect;
	int timeout_s;
	int drop_ms;
	int stall_ms;
	bool wrong_token, report_exec, status, verify_cache;
	const char *ca;     /* --ca: verify the fan-out's certificate (wss); NULL: not verified */
	bool no_time_sync;  /* trust the (skewed) local clock: no TimePing */
	bool claim_platform; /* misbehaviour: every TTL_EXPIRED claimed PLATFORM_LATE_SEND */
	uint64_t forge_every; /* every Nth envelope: a forged copy goes through the guard first */
	char acct_ccy[4];     /* --account: the simulated broker account */
	uint32_t acct_leverage;
	int64_t acct_balance;
	int forge_kind;       /* enum forge_kind: what else the forged copy fails */
	bool resync;          /* Subscribe.snapshot: re-sync by snapshot (sub_resync.h) */
	bool poll;            /* HTTP long polling instead of the WebSocket (sub_poll.h) */
	unsigned int poll_wait_s; /* --poll-wait: each poll's wait (0..30) */
	/* --snapshot-key: the platform's public key; snapshots must verify with it */
	struct proto_ed25519_key *snap_pk;
};

static struct opts g_o;
static struct sim *g_sims;
static int g_nsims;
static struct key g_keys[KEYS_MAX];
static int g_nkeys;
static FILE *g_log;
/* --orders: what each execution sent (after the copy policy) and each policy applied */
static FILE *g_orders;
/* The instrument registry the guard's price check reads (--instruments, else guard's
 * built-in set: docs/guard.md "Instrument registry"). */
static struct guard_instrument *g_instr;
static struct guard_instruments g_reg;
/* The simulated broker's instruments: the registry's, with the contract sizes --contract
 * sets (the guard's view.spec.contract; the account's margin and P&L). */
static struct guard_instrument *g_broker_v;
static struct guard_instruments g_broker;
static struct lws_context *g_ctx;
/* The simulated market: each instrument's last price traded by a master (sub_account.h) */
static struct sub_quotes g_quotes;
static volatile sig_atomic_t g_stop; /* signal handler flag */

/* --latency: per executed signal received live (not in a replay: a replayed signal's age
 * is history, not latency), in microseconds, two samples: the master's send (its
 * master_time_ns: the same host's clock in the demo and the tests) and the edge's arrival
 * stamp, each to the guard's verdict. */
#define LAT_MAX (4u << 20)
enum { LAT_MASTER, LAT_ARRIVAL, LAT_KINDS };
static uint32_t *g_lat[LAT_KINDS];
static size_t g_nlat;

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static uint32_t lat_us(int64_t ns)
{
	int64_t us = ns / 1000;

	return us < 0 ? 0 : us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

/* Percentiles of both, and a text histogram of master -> verdict (one bar per bucket,
 * 50 '#' = the largest bucket). */
static void latency_report(void)
{
	static const uint32_t edge[] = {250, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000,
					500000};
	static const char *const name[LAT_KINDS] = {"master send -> guard verdict",
						    "edge arrival -> guard verdict"};
	size_t count[sizeof(edge) / sizeof(edge[0]) + 1] = {0}, most = 1;
	const size_t nb = sizeof(count) / sizeof(count[0]);

	if (g_lat[0] == NULL || g_nlat == 0)
		return;
	for (int k = 0; k < LAT_KINDS; k++) {
		uint32_t *l = g_lat[k];

		qsort(l, g_nlat, sizeof(*l), cmp_u32);
		fprintf(stderr, "decp-subscriber: latency %s (us): n %zu p50 %u p99 %u p99.9 %u "
			"max %u\n", name[k], g_nlat, l[g_nlat / 2], l[g_nlat * 99 / 100],
			l[g_nlat * 999 / 1000], l[g_nlat - 1]);
	}
	for (size_t i = 0, b = 0; i < g_nlat; i++) {
		while (b < nb - 1 && g_lat[LAT_MASTER][i] >= edge[b])
			b++;
		count[b]++;
	}
	for (size_t b = 0; b < nb; b++)
		most = count[b] > most ? count[b] : most;
	fprintf(stderr, "decp-subscriber: histogram, master send -> guard verdict:\n");
	for (size_t b = 0; b < nb; b++) {
		char bar[51];
		size_t w = count[b] * 50 / most;
		double lo = b == 0 ? 0 : edge[b - 1] / 1000.0;

		memset(bar, '#', w);
		bar[w] = '\0';
		if (b < nb - 1)
			fprintf(stderr, "  %7.2f - %7.2f ms %6.2f%% %s\n", lo, edge[b] / 1000.0,
				100.0 * (double)count[b] / (double)g_nlat, bar);
		else
			fprintf(stderr, "  %7.2f ms and more %6.2f%% %s\n", lo,
				100.0 * (double)count[b] / (double)g_nlat, bar);
	}
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* the simulated EA's own clock, possibly skewed on purpose */
static int64_t local_ns(void)
{
	return now_ns() + g_o.skew_ns;
}

static struct key *key_of(uint64_t master)
{
	for (int i = 0; i < g_nkeys; i++)
		if (g_keys[i].master == master)
			return &g_keys[i];
	return NULL;
}

static int verify_cached(struct key *k, const uint8_t *msg, size_t len, const uint8_t *sig,
			 size_t sig_len)
{
	struct vslot *v;
	uint64_t h = 0;

	if (k->cache == NULL || sig_len != 64 || len > sizeof(v->body))
		return guard_ed25519_verify(k->k, msg, len, sig, sig_len);
	memcpy(&h, sig, sizeof(h));
	v = &k->cache[h % VCACHE_SLOTS];
	if (v->used && v->body_len == len && memcmp(v->sig, sig, 64) == 0 &&
	    memcmp(v->body, msg, len) == 0) {
		k->hits++;
		return v->result;
	}
	k->misses++;
	v->result = guard_ed25519_verify(k->k, msg, len, sig, sig_len);
	v->used = true;
	v->body_len = len;
	memcpy(v->sig, sig, 64);
	memcpy(v->body, msg, len);
	return v->result;
}

/* The guard's verifier for master k->master (guard_verify.h): the current key, or during
 * an announced overlap the previous one. */
static int verify_key(void *arg, const uint8_t *msg, size_t len, const uint8_t *sig,
		      size_t sig_len)
{
	struct key *k = arg;
	int rc = verify_cached(k, msg, len, sig, sig_len);

	if (rc != 0 && k->prev != NULL && now_ns() < k->prev_until_ns)
		rc = guard_ed25519_verify(k->prev, msg, len, sig, sig_len);
	return rc;
}

static uint64_t g_keys_accepted, g_keys_refused;

/*
 * ServerMessage.key_announcement: a master's new signing key, signed by its old one.
 * Accepted only when it is signed by the key this process trusts for that master
 * (proto_keyann_verify); then the new key verifies that master's signals, and the old one
 * until the announced overlap end. Anything else is refused and reported, and the trusted
 * key stays. An announcement of the key already trusted (each subscriber of a master
 * gets one, and again at every subscribe) changes nothing.
 */
static void on_key_announcement(struct sim *s, const Decp__KeyAnnouncement *ka)
{
	struct key *k = key_of(ka->master_id);
	struct proto_keyann a = {.master_id = ka->master_id, .valid_from_ns = ka->valid_from_ns,
				 .overlap_until_ns = ka->overlap_until_ns};
	const char *why = NULL;
	struct guard_ed25519 *nk;
	int rc;

	if (k == NULL) {
		why = "no trusted key for that master";
	} else if (ka->old_public_key.len != 32 || ka->new_public_key.len != 32) {
		why = "malformed";
	} else if (memcmp(ka->new_public_key.data, k->pub, 32) == 0) {
		return; /* already the trusted key */
	} else {
		memcpy(a.old_pub, ka->old_public_key.data, 32);
		memcpy(a.new_pub, ka->new_public_key.data, 32);
		rc = proto_keyann_verify(&a, k->pub, ka->signature.data, ka->signature.len);
		why = rc == -EPERM	? "it names an old key that is not the trusted one"
		      : rc == -EBADMSG ? "its signature does not verify with the trusted key"
		      : rc != 0		? "malformed"
					: NULL;
	}
	if (why == NULL && (nk = guard_ed25519_new(a.new_pub)) == NULL)
		why = "cannot use the new key";
	if (why != NULL) {
		g_keys_refused++;
		fprintf(stderr, "decp-subscriber: #%d master %" PRIu64 ": key announcement REFUSED "
			"(%s): the trusted key stays\n", s->idx, ka->master_id, why);
		return;
	}
	guard_ed25519_free(k->prev);
	k->prev = k->k;
	k->prev_until_ns = a.overlap_until_ns;
	k->k = nk;
	memcpy(k->pub, a.new_pub, 32);
	if (k->cache != NULL)
		memset(k->cache, 0, VCACHE_SLOTS * sizeof(*k->cache));
	g_keys_accepted++;
	fprintf(stderr, "decp-subscriber: #%d master %" PRIu64 ": key announcement accepted "
		"(signed by the trusted key): new signing key, the old one valid %.1f s more\n",
		s->idx, ka->master_id, (double)(a.overlap_until_ns - now_ns()) / 1e9);
}

static void out_push(struct sim *s, struct outmsg *m)
{
	if (g_o.poll) { /* polling carries nothing to the server (docs/fanout.md) */
		free(m);
		return;
	}
	m->next = NULL;
	if (s->ot != NULL)
		s->ot->next = m;
	else
		s->oh = m;
	s->ot = m;
	if (s->wsi != NULL)
		lws_callback_on_writable(s->wsi);
}

static struct outmsg *out_copy(const struct outmsg *m)
{
	struct outmsg *c = malloc(sizeof(*c) + LWS_PRE + m->len);

	if (c != NULL)
		memcpy(c, m, sizeof(*c) + LWS_PRE + m->len);
	return c;
}

static void send_client(struct sim *s, const Decp__ClientMessage *cm)
{
	size_t n = decp__client_message__get_packed_size(cm);
	struct outmsg *m = malloc(sizeof(*m) + LWS_PRE + n);

	if (m == NULL)
		return;
	m->report_id = 0;
	m->len = n;
	decp__client_message__pack(cm, m->buf + LWS_PRE);
	out_push(s, m);
}

/* Report ids: unique per subscriber across runs (ExecutionReport 14, ProtectionEvent 13):
 * the start time in ms shifted left by 22 bits, plus a counter of the process (4 M ids
 * per ms of run time before the next run's range: never reached). */
static uint64_t g_report_base, g_report_n;

static uint64_t next_report_id(void)
{
	if (g_report_base == 0)
		g_report_base = (uint64_t)(now_ns() / 1000000) << 22;
	return g_report_base + ++g_report_n;
}

/* A report: sent, and kept until the server acknowledges it as durable (ReportAck); sent
 * again after a reconnect if not (the server stores each report id once). */
static void send_report(struct sim *s, const Decp__ClientMessage *cm, uint64_t report_id)
{
	struct outmsg *keep;

	send_client(s, cm);
	if (s->ot == NULL || (keep = out_copy(s->ot)) == NULL)
		return;
	keep->report_id = report_id;
	keep->next = NULL;
	if (s->ut != NULL)
		s->ut->next = keep;
	else
		s->uh = keep;
	s->ut = keep;
	if (++s->nunacked > UNACKED_MAX) {
		struct outmsg *old = s->uh;

		s->uh = old->next;
		free(old);
		s->nunacked--;
		if (s->unacked_dropped++ == 0)
			fprintf(stderr, "decp-subscriber: #%d more than %u reports unacknowledged: "
				"forgetting the oldest\n", s->idx, UNACKED_MAX);
	}
}

/* ReportAck: forget the report (acks come in sending order: the head, mostly). */
static void on_report_ack(struct sim *s, uint64_t id)
{
	for (struct outmsg **pp = &s->uh, *prev = NULL; *pp != NULL; prev = *pp, pp = &(*pp)->next) {
		struct outmsg *m = *pp;

		if (m->report_id != id)
			continue;
		*pp = m->next;
		if (s->ut == m)
			s->ut = prev;
		free(m);
		s->nunacked--;
		s->acked++;
		return;
	}
}

/* After a reconnect: every report not acknowledged goes again. */
static void resend_unacked(struct sim *s)
{
	for (struct outmsg *m = s->uh; m != NULL; m = m->next) {
		struct outmsg *c = out_copy(m);

		if (c == NULL)
			return;
		c->report_id = 0;
		out_push(s, c);
		s->resent++;
	}
}

/* Free a list of messages (the send queue, the unacknowledged reports). */
static void msgs_free(struct outmsg **head, struct outmsg **tail)
{
	while (*head != NULL) {
		struct outmsg *n = (*head)->next;

		free(*head);
		*head = n;
	}
	*tail = NULL;
}

static void out_clear(struct sim *s)
{
	msgs_free(&s->oh, &s->ot);
}

static void unacked_clear(struct sim *s)
{
	msgs_free(&s->uh, &s->ut);
	s->nunacked = 0;
}

/* --no-time-sync: the EA believes its own clock (a zero-offset sample instead of a
 * TimePing), so a skewed clock shows as stale or future signals (TTL_EXPIRED). */
static void local_sample(struct sim *s)
{
	int64_t t = local_ns();
	guard_clock_add_sample(&s->clk, t, t, t, t);
	s->last_sync_ns = now_ns();
}

/* How long after the last TimePing the next one goes: every 60 s while the clock estimate
 * is good; every second while it is none or its error bound (half its round trip) is over
 * half the TTL: the guard refuses every signal while the bound exceeds the TTL
 * (guard_check.h), so a slow exchange at connect would otherwise stop copying for a
 * minute. */
static int64_t sync_every(struct sim *s)
{
	int64_t ttl = g_o.ttl_ns > 0 ? g_o.ttl_ns : GUARD_TTL_DEFAULT_NS, est, err = 0;

	if (g_o.no_time_sync)
		return INT64_C(60000000000);
	if (guard_clock_server_now(&s->clk, local_ns(), &est, &err) != 0 || err > ttl / 2)
		return INT64_C(1000000000);
	return INT64_C(60000000000);
}

static void send_ping(struct sim *s)
{
	s->last_sync_ns = now_ns();
	Decp__ClientMessage cm = DECP__CLIENT_MESSAGE__INIT;
	Decp__TimePing p = DECP__TIME_PING__INIT;

	p.client_send_ns = local_ns();
	cm.kind_case = DECP__CLIENT_MESSAGE__KIND_TIME_PING;
	cm.time_ping = &p;
	send_client(s, &cm);
}

/* AccountState: the simulated account now, with as many positions as fit the fan-out's
 * 1,024-byte message limit (the rest only counted in position_count). */
#define ACCT_POS_MAX 12

static void send_account(struct sim *s)
{
	Decp__ClientMessage cm = DECP__CLIENT_MESSAGE__INIT;
	Decp__AccountState as = DECP__ACCOUNT_STATE__INIT;
	Decp__AccountState__Position pos[ACCT_POS_MAX], *pp[ACCT_POS_MAX];
	struct guard_account ga;

	sub_account_view(&s->acct, &g_quotes, NULL, &ga);
	as.time_ns = local_ns();
	as.currency = s->acct.currency;
	as.leverage = ga.leverage;
	as.balance = ga.balance;
	as.equity = ga.equity;
	as.margin = ga.margin;
	as.free_margin = ga.free_margin;
	as.position_count = (uint32_t)s->acct.n;
	for (size_t k = 0; k < s->acct.n && k < ACCT_POS_MAX; k++) {
		const struct sub_position *p = &s->acct.pos[k];

		decp__account_state__position__init(&pos[k]);
		pos[k].master_id = p->master;
		pos[k].master_ticket = p->ticket;
		pos[k].symbol = (char *)p->symbol;
		pos[k].type = (Decp__OrderType)p->type;
		pos[k].volume = p->volume;
		pos[k].price = p->price;
		pos[k].sl = p->sl;
		pos[k].tp = p->tp;
		pos[k].profit = sub_position_profit(&s->acct, p, &g_quotes, &g_broker);
		pp[k] = &pos[k];
		as.n_positions = k + 1;
	}
	as.positions = pp;
	cm.kind_case = DECP__CLIENT_MESSAGE__KIND_ACCOUNT_STATE;
	cm.account_state = &as;
	send_client(s, &cm);
	s->acct_dirty = false;
	s->acct_sent_ns = now_ns();
}

/* The index of master in s->masters, or -1 when s does not copy it. */
static int master_index(const struct sim *s, uint64_t master)
{
	for (int i = 0; i < s->nm; i++)
		if (s->masters[i] == master)
			return i;
	return -1;
}

static void send_subscribe(struct sim *s, uint64_t master, uint64_t from, bool snapshot)
{
	Decp__ClientMessage cm = DECP__CLIENT_MESSAGE__INIT;
	Decp__Subscribe sb = DECP__SUBSCRIBE__INIT;

	sb.master_id = master;
	sb.from_sequence = from;
	sb.snapshot = snapshot;
	cm.kind_case = DECP__CLIENT_MESSAGE__KIND_SUBSCRIBE;
	cm.subscribe = &sb;
	send_client(s, &cm);
}

static void send_subscribes(struct sim *s)
{
	for (int i = 0; i < s->nm; i++) {
		/* a re-sync asked and not answered before the connection ended is asked again
		 * (resync_ask): from the guard's next sequence the fan-out sees no gap */
		if (s->ask_ns[i] != 0) {
			s->ask_ns[i] = local_ns();
			send_subscribe(s, s->masters[i], s->ask_from[i], true);
			continue;
		}
		send_subscribe(s, s->masters[i], guard_sub_next_sequence(&s->gs[i]), g_o.resync);
	}
	s->subscribed = true;
	send_account(s);
}

/* --resync: a signal was refused as stale (TTL_EXPIRED: never executed late) and its
 * sequence is used up, so nothing after it brings the account in line with the master: a
 * position he closed would stay open, a partial close or new SL never reach the copy, a
 * position he opened is missing. The EA subscribes again from that sequence with
 * `snapshot`; older than the fan-out's 250 ms, it is answered with the master's book
 * (docs/resync.md), which the account is reconciled with under the copy policy (a missing
 * position opened only near the master's price, as a re-sync does). So it is asked only
 * once the signal is RESYNC_ASK_AGE_NS old: at once when its measured age (less the
 * clock's error bound) says so, else that long after the check (deferred, never dropped):
 * a signal from the "future" (the estimate proven wrong) or one refused for want of an
 * estimate has no known age; before, such a one asked nothing. Once until that snapshot
 * arrives, or again after RESYNC_ASK_AGAIN_NS (the fan-out may have refused the
 * Subscribe: one during a replay is an Error). Not with --poll: polling carries nothing to
 * the server. This EA's guard is never halted locally (the wallet is the server's, which
 * holds delivery while it halts the subscription: docs/fanout.md), so no signal is
 * consumed unexecuted for a halt. */
#define RESYNC_ASK_AGE_NS GUARD_RESYNC_ASK_AGE_NS /* guard_resync_ask_at */
#define RESYNC_ASK_AGAIN_NS (5 * INT64_C(1000000000))

/* Master i's owed re-sync, asked now if its time has come (resync_ask). */
static void resync_ask_due(struct sim *s, int i, int64_t t)
{
	if (s->ask_due[i] == 0 || t < s->ask_due[i] || !s->connected || !s->subscribed)
		return;
	s->ask_due[i] = 0;
	s->ask_ns[i] = t;
	s->resync_asks++;
	send_subscribe(s, s->masters[i], s->ask_from[i], true);
	if (g_log != NULL)
		fprintf(g_log, "%d %" PRIu64 " resync-asked %" PRIu64 "\n", s->idx, s->masters[i],
			s->ask_from[i]);
}

/* A re-sync owed from sequence `from` (refused stale, checked at local time t), asked
 * from local time due. */
static void resync_ask(struct sim *s, int i, uint64_t from, int64_t due, int64_t t)
{
	if (!g_o.resync || g_o.poll || s->snap_open[i] ||
	    (s->ask_ns[i] != 0 && t - s->ask_ns[i] < RESYNC_ASK_AGAIN_NS))
		return;
	if (s->ask_due[i] != 0) {
		/* owed already from an earlier sequence: it arrived first, so it is old enough
		 * whenever this one is */
		if (due < s->ask_due[i])
			s->ask_due[i] = due;
	} else {
		s->ask_from[i] = from;
		s->ask_due[i] = due;
	}
	resync_ask_due(s, i, t);
}

static void report_protection(struct sim *s, uint64_t master, const struct guard_envelope *env,
			      const struct guard_verdict *v)
{
	Decp__ClientMessage cm = DECP__CLIENT_MESSAGE__INIT;
	Decp__ProtectionEvent pe = DECP__PROTECTION_EVENT__INIT;

	pe.master_id = master;
	pe.sequence = env->sequence;
	pe.reason = (Decp__ProtectionReason)v->reason;
	pe.age_ns = v->age_ns;
	pe.price_deviation_pips_x100 = v->deviation_pips_x100;
	pe.event_time_ns = now_ns();
	pe.expected_sequence = v->expected_seq;
	pe.detail = (char *)"decp-subscriber";
	pe.attribution = (Decp__StalenessAttribution)v->attribution;
	if (g_o.claim_platform && v->reason == GUARD_REASON_TTL_EXPIRED)
		pe.attribution = DECP__STALENESS_ATTRIBUTION__STALENESS_ATTRIBUTION_PLATFORM_LATE_SEND;
	pe.fanout_send_ns = env->fanout_send_ns;
	pe.report_id = next_report_id();
	cm.kind_case = DECP__CLIENT_MESSAGE__KIND_PROTECTION_EVENT;
	cm.protection_event = &pe;
	send_report(s, &cm, pe.report_id);
}

/*
 * --forge-every N: every Nth envelope, a forged copy reaches the guard first, as if
 * injected into the feed. --forge-kind says what else the copy fails besides its
 * signature (the genuine signature of another body):
 *   price       the same sequence, the price moved by one point (the default)
 *   gap         a sequence 5 ahead                    (would be SEQUENCE_GAP)
 *   replay      the previous sequence                 (would be REPLAY)
 *   stale       its server stamp 10 s old             (would be TTL_EXPIRED)
 *   deviation   the price 100 pips off the quote      (would be PRICE_DEVIATION)
 *   instrument  on "US30", not in the registry        (would be UNKNOWN_INSTRUMENT)
 *   funds       seen with an empty wallet             (would be INSUFFICIENT_FUNDS)
 *   mixed       each of the above in turn
 * The guard must refuse every one as INVALID_SIGNATURE (docs/guard.md: whatever else a
 * forged signal fails) without touching the subscription's state, so the genuine
 * envelope that follows executes.
 */
enum forge_kind { FK_PRICE, FK_GAP, FK_REPLAY, FK_STALE, FK_DEVIATION, FK_INSTRUMENT, FK_FUNDS,
		  FK_COUNT, FK_MIXED = FK_COUNT };
static const char *const forge_kinds[] = {"price", "gap", "replay", "stale", "deviation",
					  "instrument", "funds", "mixed"};

static void forge_check(struct sim *s, int i, uint64_t master, const struct guard_envelope *env,
			const struct guard_policy *pol, const struct guard_view *view)
{
	Decp__Signal *sg = proto_signal_decode(env->body, env->body_len, NULL);
	uint8_t buf[2048];
	struct guard_verdict v;
	struct guard_view fv = *view;
	int kind = g_o.forge_kind == FK_MIXED ? (int)(s->forged % FK_COUNT) : g_o.forge_kind;
	int64_t arrival = env->server_arrival_ns;
	char *symbol;

	if (sg == NULL)
		return;
	symbol = sg->symbol;
	switch (kind) {
	case FK_GAP: sg->sequence += 5; break;
	case FK_REPLAY: sg->sequence -= sg->sequence > 1 ? 1 : 0; break;
	case FK_STALE: arrival -= INT64_C(10) * 1000000000; break;
	case FK_DEVIATION: sg->price += 100 * guard_symbol_pip(env->symbol); break;
	case FK_INSTRUMENT: sg->symbol = (char *)"US30"; break;
	case FK_FUNDS: fv.wallet.balance = 0; break;
	default: break;
	}
	if (sg->price > 0)
		sg->price += 1; /* the body always differs from the signed one */
	else
		sg->master_time_ns += 1;
	size_t n = protobuf_c_message_get_packed_size(&sg->base);
	if (n <= sizeof(buf)) {
		struct guard_envelope f = *env;

		protobuf_c_message_pack(&sg->base, buf);
		f.body = buf;
		f.body_len = n;
		f.price = sg->price;
		f.sequence = sg->sequence;
		f.master_time_ns = sg->master_time_ns;
		f.server_arrival_ns = arrival;
		snprintf(f.symbol, sizeof(f.symbol), "%s", sg->symbol);
		guard_signal_check(&s->gs[i], pol, &s->clk, &f, &fv, &v);
		s->forged++;
		if (v.reason == GUARD_REASON_NONE) {
			s->forgery_accepted++;
			fprintf(stderr, "decp-subscriber: #%d EXECUTED A FORGED SIGNAL (master %" PRIu64
				" sequence %" PRIu64 ")\n", s->idx, master, env->sequence);
		} else {
			report_protection(s, master, &f, &v);
		}
	}
	sg->symbol = symbol; /* the decoded one, which proto_msg_free frees */
	proto_msg_free(&sg->base, NULL);
}

/* The report's status for an executed order; its realized P&L is what the simulated
 * account booked for it (sub_account_apply). */
static Decp__ExecutionReport__Status exec_status(const struct guard_verdict *v)
{
	switch (v->order.type) {
	case GUARD_ORDER_BUY:
	case GUARD_ORDER_SELL:
		return DECP__EXECUTION_REPORT__STATUS__STATUS_FILLED;
	case GUARD_ORDER_CLOSE:
	case GUARD_ORDER_CLOSE_PARTIAL:
		return DECP__EXECUTION_REPORT__STATUS__STATUS_CLOSED;
	case GUARD_ORDER_MODIFY:
		return DECP__EXECUTION_REPORT__STATUS__STATUS_MODIFIED;
	default:
		return DECP__EXECUTION_REPORT__STATUS__STATUS_PLACED;
	}
}

/* The simulated broker's contract of instrument (a registry name): volumes 0.01 to
 * 1,000.00 lots in steps of 0.01, 10.0000 of money per pip per lot, the contract size of
 * --contract or the registry's (0 when the registry lacks it). */
static void broker_spec(struct guard_symbol_spec *spec, const char *instrument)
{
	const struct guard_instrument *in = guard_instrument_find(&g_broker, instrument);

	spec->vol_min = 1;
	spec->vol_max = 100000;
	spec->vol_step = 1;
	spec->pip_value = 100000;
	spec->contract = in != NULL ? in->contract_size * GUARD_CONTRACT_SCALE : 0;
}

static void on_envelope(struct sim *s, const Decp__Envelope *e)
{
	struct guard_envelope env;
	struct guard_policy pol;
	struct guard_view view;
	struct guard_verdict v;
	char instrument[GUARD_SYMBOL_MAX];
	const struct sub_position *held;
	int64_t realized = 0, clk_err = 0, srv_now;
	int i;

	s->envelopes++;
	if ((i = master_index(s, e->master_id)) < 0)
		return;
	pol = s->pol[i];
	memset(&view, 0, sizeof(view));
	if (guard_envelope_from_proto(e, NULL, &env) != 0) {
		s->rejected++;
		return;
	}
	sub_instrument_of(&g_reg, env.symbol, instrument, sizeof(instrument));
	/* the market is where the master traded (replayed history moves it too) */
	sub_quotes_set(&g_quotes, instrument, env.price);
	view.local_now_ns = local_ns();
	view.instruments = &g_reg;
	/* simulated quote feed: the market is where the master traded, plus an optional
	 * deliberate offset (lagging/bad quotes) */
	{
		int64_t pip = guard_symbol_pip(env.symbol); /* price units (1e-5) per pip */
		int64_t off = g_o.quote_off_pips_x100 * (pip > 0 ? pip : 10) / 100;

		view.quote.bid = env.price + off - 1;
		view.quote.ask = env.price + off + 1;
	}
	broker_spec(&view.spec, instrument);
	/* The platform wallet (seed user_wallets) is the server's: an empty one locks the
	 * subscription there (LOCKED_NO_FUNDS arrives as StateChange), so the simulator
	 * holds no copy and never refuses on it locally. */
	view.wallet.balance = INT64_C(1000000000);
	/* the broker account: margin check, equity protection, sizing by equity */
	sub_account_view(&s->acct, &g_quotes, instrument, &view.account);
	view.equity = view.account.equity;
	if (guard_account_update(&s->gs[i], &pol, &view.account) == 1 && pol.close_all_on_trip) {
		size_t n = sub_account_close_all(&s->acct, e->master_id, &g_quotes, &g_broker);

		fprintf(stderr, "decp-subscriber: #%d master %" PRIu64 ": equity protection "
			"tripped, %zu positions closed\n", s->idx, e->master_id, n);
		s->acct_dirty = true;
		sub_account_view(&s->acct, &g_quotes, instrument, &view.account);
		view.equity = view.account.equity;
	}
	/* the copied position, if this account holds one (CLOSE, MODIFY, CLOSE_PARTIAL) */
	held = sub_account_find(&s->acct, e->master_id, env.position_ticket);
	view.position.open = held != NULL;
	view.position.volume = held != NULL ? held->volume : 0;
	view.position.master_volume = held != NULL ? held->master_volume : 0;
	if (g_o.forge_every != 0 && ++s->forge_n % g_o.forge_every == 0 && !s->replaying[i])
		forge_check(s, i, e->master_id, &env, &pol, &view);
	/* the estimate's error bound: a stale signal's measured age is at least age - err */
	if (guard_clock_server_now(&s->clk, view.local_now_ns, &srv_now, &clk_err) != 0)
		clk_err = 0;
	guard_signal_check(&s->gs[i], &pol, &s->clk, &env, &view, &v);
	if (v.reason == GUARD_REASON_NONE) {
		s->executed++;
		if (v.order.price <= 0 && held != NULL)
			v.order.price = sub_quotes_get(&g_quotes, instrument);
		if (sub_account_apply(&s->acct, &env, instrument, &v.order, &g_quotes, &g_broker,
				      &realized) == -ENOMEM)
			fprintf(stderr, "decp-subscriber: #%d: out of memory booking a position\n",
				s->idx);
		s->acct_dirty = true;
		if (g_lat[0] != NULL && g_nlat < LAT_MAX && !s->replaying[i]) {
			int64_t t = now_ns();

			g_lat[LAT_MASTER][g_nlat] = lat_us(t - env.master_time_ns);
			g_lat[LAT_ARRIVAL][g_nlat++] = lat_us(t - env.server_arrival_ns);
		}
		if (g_log != NULL)
			fprintf(g_log, "%d %" PRIu64 " %" PRIu64 "\n", s->idx, e->master_id, env.sequence);
		if (g_orders != NULL)
			fprintf(g_orders, "%d %" PRIu64 " %" PRIu64 " order %s %s %" PRId64 " %" PRIu64
				" %" PRId64 "\n", s->idx, e->master_id, env.sequence,
				guard_order_type_name((enum guard_order_type)v.order.type),
				v.order.symbol, v.order.volume, pol.version, env.server_arrival_ns);
		if (g_o.report_exec) {
			Decp__ClientMessage cm = DECP__CLIENT_MESSAGE__INIT;
			Decp__ExecutionReport r = DECP__EXECUTION_REPORT__INIT;

			r.master_id = e->master_id;
			r.sequence = env.sequence;
			r.symbol = v.order.symbol;
			r.volume = v.order.volume;
			r.price = env.price;
			r.broker_ticket = env.position_ticket;
			r.status = exec_status(&v);
			r.realized_profit = realized;
			r.exec_time_ns = now_ns();
			r.report_id = next_report_id();
			cm.kind_case = DECP__CLIENT_MESSAGE__KIND_EXECUTION_REPORT;
			cm.execution_report = &r;
			send_report(s, &cm, r.report_id);
		}
	} else {
		s->rejected++;
		s->margin_refused += v.reason == GUARD_REASON_INSUFFICIENT_MARGIN;
		if (g_orders != NULL && v.reason == GUARD_REASON_INSUFFICIENT_MARGIN)
			fprintf(g_orders, "%d %" PRIu64 " %" PRIu64 " margin %" PRId64 " free %" PRId64
				"\n", s->idx, e->master_id, env.sequence, v.margin_needed,
				view.account.free_margin);
		/* Every refusal is reported, REPLAY included: the fan-out never sends a sequence
		 * below Subscribe.from_sequence (docs/fanout.md), so a replayed signal did not
		 * come from the platform's normal resume. */
		/* (the signal a re-sync was asked from comes back if the fan-out replays
		 * instead: it was refused already, no second report) */
		if (!(v.reason == GUARD_REASON_REPLAY && s->ask_ns[i] != 0 &&
		      env.sequence == s->ask_from[i]))
			report_protection(s, e->master_id, &env, &v);
		if (v.reason == GUARD_REASON_TTL_EXPIRED)
			resync_ask(s, i, env.sequence,
				   guard_resync_ask_at(&v, clk_err, view.local_now_ns),
				   view.local_now_ns);
	}
	/* a signal from the "future": the clock estimate is wrong (docs/guard.md "A signal
	 * from the future"); drop it and measure again now (--no-time-sync: the EA believes
	 * its own clock by design) */
	if (v.clock_suspect && !g_o.no_time_sync) {
		guard_clock_distrust(&s->clk);
		send_ping(s);
	}
}

/* The subscription's copy policy from the server (on Subscribe and on every change): the
 * guard uses it from the next envelope on; an older or repeated version changes nothing,
 * an invalid one is refused and the policy in force kept. */
static void on_policy(struct sim *s, const Decp__CopyPolicy *cp)
{
	struct guard_policy next;
	int i, rc;

	if ((i = master_index(s, cp->master_id)) < 0)
		return;
	if (guard_policy_from_proto(cp, &next) != 0) {
		fprintf(stderr, "decp-subscriber: #%d master %" PRIu64 ": invalid CopyPolicy version %"
			PRIu64 " refused\n", s->idx, cp->master_id, cp->version);
		return;
	}
	rc = guard_policy_apply(&s->pol[i], &next);
	s->sub_ids[i] = cp->subscription_id;
	if (rc == 1 && g_orders != NULL)
		fprintf(g_orders, "%d %" PRIu64 " policy %" PRIu64 " %" PRId64 "\n", s->idx,
			cp->master_id, cp->version, now_ns());
}

/* The subscriber's view of a master symbol for the re-sync plan: the simulated market's last
 * price (plus --quote-off-pips), the broker spec and account, as on_envelope builds them. */
struct resync_view {
	struct sim *s;
};

static void resync_view_of(void *ctx, const char *sym, struct guard_view *v)
{
	struct resync_view *rv = ctx;
	char instrument[GUARD_SYMBOL_MAX];
	int64_t px, pip = guard_symbol_pip(sym);

	sub_instrument_of(&g_reg, sym, instrument, sizeof(instrument));
	px = sub_quotes_get(&g_quotes, instrument);
	if (px > 0) {
		px += g_o.quote_off_pips_x100 * (pip > 0 ? pip : 10) / 100;
		v->quote.bid = px - 1;
		v->quote.ask = px + 1;
	}
	v->local_now_ns = local_ns();
	v->instruments = &g_reg;
	broker_spec(&v->spec, instrument);
	v->wallet.balance = INT64_C(1000000000);
	sub_account_view(&rv->s->acct, &g_quotes, instrument, &v->account);
	v->equity = v->account.equity;
}

/* The wait before the next connection attempt after one that waited prev ms: 50 ms doubling
 * to 2 s; after a refused snapshot 1 s doubling to 30 s per refusal in a row, since another
 * snapshot through the same path may well be refused too and each costs the fan-out a
 * book. */
static uint32_t sim_backoff_ms(const struct sim *s, uint32_t prev)
{
	if (s->refusals > 0)
		return s->refusals > 5 ? 30000 : 1000u << (s->refusals - 1);
	return prev == 0 ? 50 : (prev * 2 > 2000 ? 2000 : prev * 2);
}

/* The snapshot of master i did not reconcile (refused, or cut off by the connection's end):
 * the guard back in the state it had when the snapshot began (its sequence never moved), so
 * that what the next connection brings is judged from there: a new snapshot, or a replay
 * from the next sequence that executes in order. Left DEGRADED_GAP, a replay from another
 * fan-out process (which may not know yet of the re-sync) would be refused signal by
 * signal, each a SEQUENCE_GAP report. */
static void snapshot_unwind(struct sim *s, int i)
{
	if (s->gs[i].st.state == GUARD_STATE_DEGRADED_GAP &&
	    s->snap_from[i] != GUARD_STATE_DEGRADED_GAP)
		(void)guard_sub_set_state(&s->gs[i], (enum guard_state)s->snap_from[i]);
	s->snap[i].active = false;
	s->snap_open[i] = false;
}

/* A snapshot of master i refused: nothing of it reconciled, and the account lacks what it
 * was to bring, so no later signal of that master may execute on this connection. The
 * SyncEnd that follows would take the guard to SYNCED at the stream's end, and without it
 * every live envelope would be refused as SEQUENCE_GAP and reported (-20 each, scored
 * against this subscriber for what is not its doing); so the connection is closed (-1)
 * before anything after the SnapshotEnd is read, and the guard unwound. The reconnect
 * subscribes from the same sequence and is sent a new snapshot (or a fresh replay, which
 * then executes in order). With restore false (the account may have been partly changed)
 * the guard stays DEGRADED_GAP. */
static int snapshot_refused(struct sim *s, int i, bool restore)
{
	if (restore)
		snapshot_unwind(s, i);
	else
		s->snap_open[i] = false; /* left DEGRADED_GAP on purpose */
	s->refusals++;
	fprintf(stderr, "decp-subscriber: #%d master %" PRIu64 ": nothing executes until a "
		"snapshot is reconciled: reconnecting in %u ms (%u refused in a row)\n", s->idx,
		s->masters[i], sim_backoff_ms(s, 0), s->refusals);
	return -1;
}

/* SnapshotBegin/Part/End (only after a Subscribe with `snapshot`): the guard leaves SYNCED
 * while the snapshot arrives (no envelope of that master comes meanwhile), the account is
 * reconciled with it (sub_resync.h), the guard continues from S + 1 (a sync never executes
 * history: guard_sub_sync_complete), and ResyncDone tells the server. */
static int on_snapshot(struct sim *s, const Decp__ServerMessage *sm)
{
	uint64_t master = sm->kind_case == DECP__SERVER_MESSAGE__KIND_SNAPSHOT_BEGIN
				  ? sm->snapshot_begin->master_id
			  : sm->kind_case == DECP__SERVER_MESSAGE__KIND_SNAPSHOT_PART
				  ? sm->snapshot_part->master_id
				  : sm->snapshot_end->master_id;
	struct sub_resync_counts c;
	struct resync_view rv = {s};
	int i, end;

	if ((i = master_index(s, master)) < 0)
		return 0;
	if (sm->kind_case == DECP__SERVER_MESSAGE__KIND_SNAPSHOT_BEGIN) {
		sub_snap_begin(&s->snap[i], sm->snapshot_begin);
		s->ask_ns[i] = 0;
		s->ask_due[i] = 0; /* answers an owed re-sync too */
		s->snap_from[i] = (uint8_t)s->gs[i].st.state;
		s->snap_open[i] = true;
		if (s->gs[i].st.state == GUARD_STATE_SYNCED)
			(void)guard_sub_set_state(&s->gs[i], GUARD_STATE_DEGRADED_GAP);
		return 0;
	}
	if (sm->kind_case == DECP__SERVER_MESSAGE__KIND_SNAPSHOT_PART) {
		if (sub_snap_part(&s->snap[i], sm->snapshot_part) != 0)
			fprintf(stderr, "decp-subscriber: #%d master %" PRIu64 ": snapshot part "
				"refused\n", s->idx, master);
		return 0;
	}
	end = sub_snap_end(&s->snap[i], sm->snapshot_end);
	if (end == 0 && g_o.snap_pk != NULL &&
	    sub_snap_verify(&s->snap[i], sm->snapshot_end, g_o.snap_pk) != 0) {
		/* altered on the way, or not signed by the platform: nothing of it executes */
		s->snaps_refused++;
		fprintf(stderr, "decp-subscriber: #%d master %" PRIu64 ": snapshot at %" PRIu64
			" REFUSED: its signature does not verify with --snapshot-key\n", s->idx,
			master, s->snap[i].seq);
		return snapshot_refused(s, i, true);
	}
	if (end != 0 || s->snap[i].seq < s->gs[i].st.last_seq) {
		/* incomplete or older than what we executed: not reconciled, no ResyncDone */
		fprintf(stderr, "decp-subscriber: #%d master %" PRIu64 ": snapshot refused\n", s->idx,
			master);
		return snapshot_refused(s, i, true);
	}
	if (sub_resync_apply(&s->acct, &s->snap[i], &s->pol[i], s->gs[i].st.equity_tripped != 0,
			     resync_view_of, &rv, &g_quotes, &g_broker, g_orders, s->idx, &c) != 0) {
		fprintf(stderr, "decp-subscriber: #%d: out of memory reconciling\n", s->idx);
		return snapshot_refused(s, i, false);
	}
	s->acct_dirty = true;
	s->resyncs++;
	s->refusals = 0;
	s->snap_open[i] = false;
	if (s->gs[i].st.state == GUARD_STATE_DEGRADED_GAP)
		(void)guard_sub_sync_complete(&s->gs[i], s->snap[i].seq);
	if (g_log != NULL)
		fprintf(g_log, "%d %" PRIu64 " resync %" PRIu64 " opened %u closed %u reduced %u "
			"modified %u skipped %u at %" PRId64 "\n", s->idx, master, s->snap[i].seq,
			c.opened, c.closed, c.reduced, c.modified, c.skipped, now_ns());
	{
		Decp__ClientMessage cm = DECP__CLIENT_MESSAGE__INIT;
		Decp__ResyncDone d = DECP__RESYNC_DONE__INIT;

		d.master_id = master;
		d.sequence = s->snap[i].seq;
		d.opened = c.opened;
		d.closed = c.closed;
		d.reduced = c.reduced;
		d.modified = c.modified;
		d.skipped = c.skipped;
		cm.kind_case = DECP__CLIENT_MESSAGE__KIND_RESYNC_DONE;
		cm.resync_done = &d;
		send_client(s, &cm);
	}
	return 0;
}

static void stall_end(lws_sorted_usec_list_t *sul)
{
	struct sim *s = lws_container_of(sul, struct sim, stall);

	if (s->wsi != NULL)
		lws_rx_flow_control(s->wsi, 1);
}

/* Error{CODE_RANGE}: the resume point of a master is no longer retained (docs/protocol.md:
 * "range not retained: master=<id> from=<seq> first_available=<seq>"), and the replay
 * ended there. What was trimmed can never come, so waiting (or asking again from the same
 * point, as a reconnect would) leaves that master silent for good. Without --resync (with
 * it the fan-out answers with a snapshot when it can) the EA goes on live: the guard
 * leaves SYNCED (the signals from the resume point on are history it never gets), and
 * Subscribe{from 0} makes the SyncEnd that follows continue it at the stream's end. Said
 * on stderr: the account may differ from the master's by what was lost. */
static void on_range_lost(struct sim *s, const char *msg)
{
	unsigned long long master, from, first;
	int i;

	if (sscanf(msg, "range not retained: master=%llu from=%llu first_available=%llu",
		   &master, &from, &first) != 3)
		return;
	if ((i = master_index(s, master)) < 0)
		return;
	if (s->gs[i].st.state == GUARD_STATE_SYNCED)
		(void)guard_sub_set_state(&s->gs[i], GUARD_STATE_DEGRADED_GAP);
	fprintf(stderr, "decp-subscriber: #%d master %llu: signals %llu..%llu no longer retained: "
		"live from the stream's end; the account may differ from the master's by them\n",
		s->idx, master, from, first > from ? first - 1 : from);
	send_subscribe(s, master, 0, g_o.resync);
	if (g_log != NULL)
		fprintf(g_log, "%d %llu range-lost %llu\n", s->idx, master, from);
}

/* One message from the fan-out. Returns 0, or -1: close the connection now (a refused
 * snapshot: snapshot_refused). */
static int on_server(struct sim *s, const uint8_t *p, size_t len)
{
	Decp__ServerMessage *sm = proto_server_message_decode(p, len, NULL);
	int rc = 0;

	if (sm == NULL)
		return 0;
	switch (sm->kind_case) {
	case DECP__SERVER_MESSAGE__KIND_ENVELOPE:
		on_envelope(s, sm->envelope);
		if (g_o.stop_reading_after != 0 && s->envelopes >= g_o.stop_reading_after &&
		    !s->stopped_reading) {
			/* a stalled EA: stop reading for --stall-ms, then go on (by then the server
			 * has dropped us; we reconnect and resume from the guard's next sequence) */
			s->stopped_reading = true;
			lws_rx_flow_control(s->wsi, 0);
			lws_sul_schedule(g_ctx, 0, &s->stall, stall_end,
					 (lws_usec_t)g_o.stall_ms * LWS_US_PER_MS);
		}
		break;
	case DECP__SERVER_MESSAGE__KIND_COPY_POLICY:
		on_policy(s, sm->copy_policy);
		break;
	case DECP__SERVER_MESSAGE__KIND_SNAPSHOT_BEGIN:
	case DECP__SERVER_MESSAGE__KIND_SNAPSHOT_PART:
	case DECP__SERVER_MESSAGE__KIND_SNAPSHOT_END:
		rc = on_snapshot(s, sm);
		break;
	case DECP__SERVER_MESSAGE__KIND_TIME_PONG:
		guard_clock_add_pong(&s->clk, sm->time_pong, local_ns());
		if (!s->subscribed)
			send_subscribes(s);
		break;
	case DECP__SERVER_MESSAGE__KIND_SYNC_START:
		for (int i = 0; i < s->nm; i++)
			if (s->masters[i] == sm->sync_start->master_id)
				s->replaying[i] = sm->sync_start->from_sequence != 0;
		break;
	case DECP__SERVER_MESSAGE__KIND_SYNC_END:
		for (int i = 0; i < s->nm; i++)
			if (s->masters[i] == sm->sync_end->master_id)
				s->replaying[i] = false;
		if (g_orders != NULL)
			fprintf(g_orders, "%d %" PRIu64 " live %" PRIu64 " %" PRId64 "\n", s->idx,
				sm->sync_end->master_id, sm->sync_end->last_sequence, now_ns());
		for (int i = 0; i < s->nm; i++)
			if (s->masters[i] == sm->sync_end->master_id &&
			    s->gs[i].st.state == GUARD_STATE_DEGRADED_GAP)
				guard_sub_sync_complete(&s->gs[i], sm->sync_end->last_sequence);
		break;
	case DECP__SERVER_MESSAGE__KIND_STATE_CHANGE:
		fprintf(stderr, "decp-subscriber: #%d master %" PRIu64 " state %d -> %d\n", s->idx,
			sm->state_change->master_id, sm->state_change->old_state,
			sm->state_change->new_state);
		if (g_log != NULL)
			fprintf(g_log, "%d %" PRIu64 " state %d\n", s->idx, sm->state_change->master_id,
				sm->state_change->new_state);
		break;
	case DECP__SERVER_MESSAGE__KIND_KEY_ANNOUNCEMENT:
		on_key_announcement(s, sm->key_announcement);
		break;
	case DECP__SERVER_MESSAGE__KIND_REPORT_ACK:
		on_report_ack(s, sm->report_ack->report_id);
		break;
	case DECP__SERVER_MESSAGE__KIND_ERROR:
		s->refused++;
		fprintf(stderr, "decp-subscriber: #%d error %d: %s\n", s->idx, sm->error->code,
			sm->error->message ? sm->error->message : "");
		if (g_log != NULL)
			fprintf(g_log, "%d 0 error %d\n", s->idx, sm->error->code);
		if (sm->error->code == DECP__ERROR__CODE__CODE_RANGE && sm->error->message != NULL)
			on_range_lost(s, sm->error->message);
		break;
	default:
		break;
	}
	proto_msg_free(&sm->base, NULL);
	return rc;
}

static void sim_connect(lws_sorted_usec_list_t *sul);

static void sim_retry(struct sim *s)
{
	/* a snapshot cut off by the connection's end: the guard as it was when it began (the
	 * next connection may be answered by a replay, which executes in order from there) */
	for (int i = 0; i < s->nm; i++)
		if (s->snap_open[i])
			snapshot_unwind(s, i);
	s->wsi = NULL;
	s->attempt = NULL;
	s->connected = false;
	s->subscribed = false;
	out_clear(s);
	if (g_stop)
		return;
	s->retry_pending = true;
	s->backoff_ms = sim_backoff_ms(s, s->backoff_ms);
	lws_sul_schedule(g_ctx, 0, &s->sul, sim_connect, (lws_usec_t)s->backoff_ms * 1000);
}

/* A connection to the fan-out (the WebSocket's, or --poll's) for userdata, its wsi kept in
 * *pwsi. */
static void client_info(struct lws_client_connect_info *ci, void *userdata, struct lws **pwsi)
{
	memset(ci, 0, sizeof(*ci));
	ci->context = g_ctx;
	ci->address = g_o.host;
	ci->port = g_o.port;
	ci->path = g_o.path;
	ci->host = g_o.host;
	ci->origin = g_o.host;
	/* wss: with --ca the certificate must chain to it and name the host (an impostor
	 * fan-out is refused); without, anything is taken (tests with throw-away certs). */
	ci->ssl_connection = !g_o.tls ? 0
			     : g_o.ca != NULL ? LCCSCF_USE_SSL
					      : LCCSCF_USE_SSL | LCCSCF_ALLOW_SELFSIGNED |
							LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK;
	ci->userdata = userdata;
	ci->pwsi = pwsi;
}

static void sim_connect(lws_sorted_usec_list_t *sul)
{
	struct sim *s = lws_container_of(sul, struct sim, sul);
	struct lws_client_connect_info ci;

	client_info(&ci, s, &s->wsi);
	ci.protocol = "decp";
	s->retry_pending = false;
	s->attempt = lws_client_connect_via_info(&ci);
	if (s->attempt == NULL && !s->retry_pending)
		sim_retry(s);
}

static int cb_client(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		     size_t len)
{
	struct sim *s = user;
	int rc;

	switch (reason) {
	case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
		unsigned char **p = in, *end = (*p) + len;
		char h[200];

		if (s == NULL || s->token[0] == '\0')
			break;
		snprintf(h, sizeof(h), "Bearer %s%s", s->token, g_o.wrong_token ? "x" : "");
		if (lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_AUTHORIZATION,
						 (unsigned char *)h, (int)strlen(h), p, end))
			return -1;
		break;
	}
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		s->connected = true;
		s->backoff_ms = 0;
		if (g_log != NULL && g_o.resync) /* --resync: time from a reconnect to its re-sync */
			fprintf(g_log, "%d 0 connected at %" PRId64 "\n", s->idx, now_ns());
		s->rx_len = 0;
		guard_clock_init(&s->clk, 0);
		if (g_o.no_time_sync) {
			local_sample(s);
			send_subscribes(s);
		} else {
			send_ping(s);
		}
		resend_unacked(s);
		break;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		if (lws_is_first_fragment(wsi))
			s->rx_len = 0;
		if (s->rx_len + len > sizeof(s->rx))
			return -1;
		memcpy(s->rx + s->rx_len, in, len);
		s->rx_len += len;
		if (lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0) {
			rc = on_server(s, s->rx, s->rx_len);
			s->rx_len = 0;
			if (rc != 0)
				return -1;
		}
		break;
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		for (int burst = 0; s->oh != NULL && burst < 64 && !lws_send_pipe_choked(wsi);
		     burst++) {
			struct outmsg *m = s->oh;

			s->oh = m->next;
			if (s->oh == NULL)
				s->ot = NULL;
			if (lws_write(wsi, m->buf + LWS_PRE, m->len, LWS_WRITE_BINARY) < (int)m->len) {
				free(m);
				return -1;
			}
			free(m);
		}
		if (s->oh != NULL)
			lws_callback_on_writable(wsi);
		break;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		s->refused++;
		if (g_log != NULL)
			fprintf(g_log, "%d 0 refused\n", s->idx);
		s->reconnects++;
		sim_retry(s);
		break;
	case LWS_CALLBACK_WSI_DESTROY:
		/* an attempt that ended with neither CONNECTION_ERROR nor CLIENT_CLOSED (seen
		 * once in 1,000 EAs while the fan-out restarted: that EA never tried again) */
		if (s != NULL && wsi == s->attempt && !s->retry_pending) {
			if (g_log != NULL)
				fprintf(g_log, "%d 0 lost\n", s->idx);
			s->reconnects++;
			sim_retry(s);
		}
		break;
	case LWS_CALLBACK_CLIENT_CLOSED:
		if (g_log != NULL)
			fprintf(g_log, "%d 0 closed\n", s->idx);
		s->reconnects++;
		sim_retry(s);
		break;
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		if (g_log != NULL && len >= 2)
			fprintf(g_log, "%d 0 close-code %d\n", s->idx,
				((const uint8_t *)in)[0] << 8 | ((const uint8_t *)in)[1]);
		break;
	default:
		break;
	}
	return 0;
}

/* ------------------------------------------------------------------ --poll -- */

static void pc_connect(lws_sorted_usec_list_t *sul);

static void pc_retry(struct pconn *c)
{
	if (c->s->snap_open[c->mi])
		snapshot_unwind(c->s, c->mi); /* as sim_retry */
	c->wsi = NULL;
	c->sent = false;
	sub_poll_rx_next(&c->rx);
	if (g_stop)
		return;
	c->backoff_ms = sim_backoff_ms(c->s, c->backoff_ms);
	lws_sul_schedule(g_ctx, 0, &c->sul, pc_connect, (lws_usec_t)c->backoff_ms * 1000);
}

static void pc_connect(lws_sorted_usec_list_t *sul)
{
	struct pconn *c = lws_container_of(sul, struct pconn, sul);
	struct lws_client_connect_info ci;

	client_info(&ci, c, &c->wsi);
	ci.method = "RAW"; /* our own HTTP/1.1 (sub_poll.h) on lws's socket */
	ci.local_protocol_name = "decp-poll";
	if (lws_client_connect_via_info(&ci) == NULL && c->wsi == NULL)
		pc_retry(c);
}

/* The next request: the guard's next sequence, the policy version it holds. */
static int pc_send(struct pconn *c)
{
	struct sim *s = c->s;
	char b[LWS_PRE + 1024];
	uint64_t next = guard_sub_next_sequence(&s->gs[c->mi]);
	int n = sub_poll_request(b + LWS_PRE, sizeof(b) - LWS_PRE, g_o.host, s->masters[c->mi],
				 next > 0 ? next - 1 : 0, g_o.poll_wait_s, s->pol[c->mi].version,
				 g_o.wrong_token ? "x" : s->token);

	if (n < 0 || lws_write(c->wsi, (uint8_t *)b + LWS_PRE, (size_t)n, LWS_WRITE_RAW) < n)
		return -1;
	c->sent = true;
	return 0;
}

/* A complete answer: its messages go through on_server, as a WebSocket's do. -1: close
 * (refused, malformed), the connection is made again with backoff. */
static int pc_answer(struct pconn *c)
{
	struct sim *s = c->s;
	const uint8_t *msg;
	size_t off = 0, len;
	int rc;

	c->sent = false;
	if (c->rx.status != 200) {
		s->refused++;
		fprintf(stderr, "decp-subscriber: #%d master %" PRIu64 ": poll answered %d: %.*s\n",
			s->idx, s->masters[c->mi], c->rx.status, (int)c->rx.body_len,
			(const char *)c->rx.buf + c->rx.head_len);
		if (g_log != NULL)
			fprintf(g_log, "%d 0 poll-status %d\n", s->idx, c->rx.status);
		return -1;
	}
	while ((rc = sub_poll_msg(&c->rx, &off, &msg, &len)) == 1)
		if (on_server(s, msg, len) != 0)
			return -1;
	if (rc < 0 || c->rx.close)
		return -1;
	sub_poll_rx_next(&c->rx);
	lws_callback_on_writable(c->wsi);
	return 0;
}

static int cb_poll(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		   size_t len)
{
	struct pconn *c = user;
	size_t used;
	int rc;

	switch (reason) {
	case LWS_CALLBACK_RAW_CONNECTED:
		c->backoff_ms = 0;
		if (!c->s->connected) {
			/* no TimePing over HTTP: the guard trusts the local clock */
			c->s->connected = true;
			guard_clock_init(&c->s->clk, 0);
			local_sample(c->s);
		}
		lws_callback_on_writable(wsi);
		break;
	case LWS_CALLBACK_RAW_WRITEABLE:
		if (!c->sent && pc_send(c) != 0)
			return -1;
		break;
	case LWS_CALLBACK_RAW_RX:
		while (len > 0) {
			rc = sub_poll_rx_feed(&c->rx, in, len, &used);
			if (rc < 0)
				return -1;
			in = (uint8_t *)in + used;
			len -= used;
			if (rc == 1 && pc_answer(c) != 0)
				return -1;
			if (rc == 0)
				break;
		}
		break;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		c->s->refused++;
		c->s->reconnects++;
		pc_retry(c);
		break;
	case LWS_CALLBACK_RAW_CLOSE:
		if (c != NULL) {
			c->s->reconnects++;
			pc_retry(c);
		}
		break;
	default:
		break;
	}
	return 0;
}

static const struct lws_protocols client_protocols[] = {
	{"decp", cb_client, 0, 8192, 0, NULL, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0}
};

/* --poll: lws hands some events of a connection (WSI_DESTROY, a connection error) to the
 * first protocol, whatever the connection's: so with --poll it is the only one. */
static const struct lws_protocols poll_protocols[] = {
	{"decp-poll", cb_poll, 0, 8192, 0, NULL, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0}
};

static void usage(FILE *o)
{
	fprintf(o,
		"usage: decp-subscriber --url ws://HOST:PORT/ --keys FILE (--subs FILE | --token T --master M...)\n"
		"  --keys FILE          lines \"<master id> <ed25519 public key, 64 hex>\"\n"
		"  --ca FILE            wss: the fan-out's certificate must chain to FILE (PEM) and\n"
		"                       name the URL's host; without it nothing is verified\n"
		"  --subs FILE          one simulated subscriber per line: \"<token> <master>[,<master>...]\"\n"
		"  --token T --master M a single subscriber (repeat --master)\n"
		"  --log FILE           execution log: \"<subscriber> <master> <sequence>\" per execution\n"
		"                       (--resync: \"<subscriber> <master> resync <S> opened N closed N\n"
		"                       reduced N modified N skipped N at <wall ns>\" per snapshot,\n"
		"                       \"<subscriber> 0 connected at <wall ns>\" per connection)\n"
		"  --expect N           exit 0 once every subscription consumed sequence N\n"
		"                       (--resync: and no re-sync is asked or snapshot open)\n"
		"  --timeout S          stop after S seconds, 1..86400 (default 60): exit 1 when\n"
		"                       --expect was not reached, else 0\n"
		"  --ttl-ms N           guard TTL (default 500)\n"
		"  --report-exec        send an ExecutionReport per execution\n"
		"  --status             live status line on stderr\n"
		"  --latency            at exit: latency percentiles from the master's send and from\n"
		"                       the edge's arrival to the guard's verdict, and a histogram\n"
		"  --orders FILE        per execution \"<subscriber> <master> <sequence> order <type>\n"
		"                       <symbol> <volume> <policy version> <arrival ns>\" (the order\n"
		"                       after the copy policy), per CopyPolicy applied \"<subscriber>\n"
		"                       <master> policy <version> <time ns>\", per SyncEnd (the\n"
		"                       subscription is live) \"<subscriber> <master> live <last\n"
		"                       sequence> <time ns>\"\n"
		"  --account B[:L[:C]]  the simulated broker account: balance B (money, e.g. 10000.00),\n"
		"                       leverage 1:L, currency C (default 10000:100:USD); its margin\n"
		"                       and P&L come from the masters' prices (docs/fanout.md)\n"
		"  --instruments FILE   instrument registry (`decpctl instrument list` output);\n"
		"                       default: guard's built-in set (docs/guard.md)\n"
		"  --contract SYM=UNITS[,SYM=UNITS...]  the simulated broker's contract size of a\n"
		"                       registry instrument (whole base units per 1.00 lot; default\n"
		"                       the registry's, which is what the master's lots mean): the\n"
		"                       guard sizes copies in its lots (XAUUSD=1: a master's 1.00 lot\n"
		"                       of 100 oz is 100.00 lots), margin and P&L count its units\n"
		"  --resync             re-sync by snapshot (Subscribe.snapshot): a resume that cannot\n"
		"                       be replayed fresh gets the master's positions, reconciled\n"
		"                       into the account under the copy policy, then ResyncDone;\n"
		"                       a snapshot refused (below, or incomplete) closes the\n"
		"                       connection before any later signal of it is read, and the\n"
		"                       EA asks again after 1 s, doubling to 30 s while refused;\n"
		"                       a signal refused as stale (over 300 ms old) makes the EA\n"
		"                       subscribe again from it with snapshot (a re-sync; at most\n"
		"                       once per 5 s per master)\n"
		"  --snapshot-key HEX   the platform's Ed25519 public key (the fan-out logs it):\n"
		"                       a snapshot whose SnapshotEnd.signature does not verify\n"
		"                       with it is refused (nothing reconciled, said on stderr)\n"
		"  --positions FILE     at exit, the account's positions and pending orders, one a\n"
		"                       line: \"<subscriber> <master> <ticket> <symbol> <type>\n"
		"                       <volume> <sl> <tp>\"\n"
		"  --poll               HTTP long polling (GET /v1/masters/{id}/signals, one connection\n"
		"                       per subscription) instead of the WebSocket: the same guard\n"
		"                       path; no TimePing (local clock), no reports (nothing goes to\n"
		"                       the server); with --resync for snapshots\n"
		"  --poll-wait S        each poll waits up to S seconds for a signal (0..30, default 10)\n"
		"                       (ws:// only: lws 4.1's raw client cannot do TLS)\n"
		"  --verify-cache       load runs: verify identical (body, signature) bytes once per\n"
		"                       process instead of once per simulated subscriber\n"
		"misbehaviour: --skew-ms N (clock), --no-time-sync (trust the local clock: no\n"
		"  TimePing), --quote-off-pips N (lagging quotes), --forge-every N (every Nth\n"
		"  signal, a forged copy with the price moved reaches the guard first;\n"
		"  --forge-kind price|gap|replay|stale|deviation|instrument|funds|mixed: what else\n"
		"  the copy fails),\n"
		"  --wrong-token, --stop-reading-after N (envelopes; stall --stall-ms, default 5000),\n"
		"  --drop-ms N (close a random\n"
		"  connection every N ms; it reconnects and resumes), --claim-platform (report every\n"
		"  TTL_EXPIRED as the platform's late send, whatever the guard said: a false claim\n"
		"  the server must refute and score)\n");
}

/* --account BALANCE[:LEVERAGE[:CURRENCY]] into g_o. 0 or -EINVAL. */
static int parse_account(const char *arg)
{
	const char *c1 = strchr(arg, ':'), *c2 = c1 != NULL ? strchr(c1 + 1, ':') : NULL;
	size_t blen = c1 != NULL ? (size_t)(c1 - arg) : strlen(arg);
	char *end = NULL;
	unsigned long lev = 100;

	if (proto_decimal_parse(arg, blen, PROTO_MONEY_DECIMALS, &g_o.acct_balance) != 0 ||
	    g_o.acct_balance < 0)
		return -EINVAL;
	if (c1 != NULL) {
		lev = strtoul(c1 + 1, &end, 10);
		if (end == c1 + 1 || (*end != '\0' && *end != ':') || lev < 1 || lev > 100000)
			return -EINVAL;
	}
	g_o.acct_leverage = (uint32_t)lev;
	if (c2 != NULL) {
		if (strlen(c2 + 1) != 3)
			return -EINVAL;
		for (int k = 0; k < 3; k++)
			if (c2[1 + k] < 'A' || c2[1 + k] > 'Z')
				return -EINVAL;
		memcpy(g_o.acct_ccy, c2 + 1, 4);
	}
	return 0;
}

/* A whole decimal number lo..hi for option NAME (no sign unless lo < 0, no trailing text,
 * no overflow); prints what is wrong and returns -1. */
static int parse_num(const char *name, const char *s, long long lo, long long hi, long long *out)
{
	char *end = NULL;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || !(isdigit((unsigned char)s[0]) ||
							   (s[0] == '-' && lo < 0)) ||
	    v < lo || v > hi) {
		fprintf(stderr, "decp-subscriber: %s: '%s' is not a number in %lld..%lld\n", name, s,
			lo, hi);
		return -1;
	}
	*out = v;
	return 0;
}

static int parse_url(const char *u)
{
	const char *p;
	const char *slash;
	const char *colon;

	if (strncmp(u, "ws://", 5) == 0)
		p = u + 5;
	else if (strncmp(u, "wss://", 6) == 0) {
		p = u + 6;
		g_o.tls = true;
	} else
		return -EINVAL;
	slash = strchr(p, '/');
	colon = strchr(p, ':');
	if (colon == NULL || (slash != NULL && colon > slash))
		return -EINVAL;
	if ((size_t)(colon - p) >= sizeof(g_o.host))
		return -EINVAL;
	memcpy(g_o.host, p, (size_t)(colon - p));
	g_o.host[colon - p] = '\0';
	/* the port: digits only, up to the path */
	size_t plen = slash != NULL ? (size_t)(slash - colon - 1) : strlen(colon + 1);
	if (plen == 0 || plen > 5 || strspn(colon + 1, "0123456789") != plen)
		return -EINVAL;
	g_o.port = atoi(colon + 1);
	snprintf(g_o.path, sizeof(g_o.path), "%s", slash != NULL ? slash : "/");
	return g_o.port > 0 && g_o.port < 65536 ? 0 : -EINVAL;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int load_keys(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[256];

	if (f == NULL)
		return -errno;
	while (fgets(line, sizeof(line), f) != NULL && g_nkeys < KEYS_MAX) {
		uint64_t m;
		char hex[80];
		uint8_t pub[32];

		if (sscanf(line, "%" SCNu64 " %79s", &m, hex) != 2 || strlen(hex) != 64)
			continue;
		for (int i = 0; i < 32; i++) {
			int a = hexval(hex[2 * i]), b = hexval(hex[2 * i + 1]);

			if (a < 0 || b < 0) {
				fclose(f);
				return -EINVAL;
			}
			pub[i] = (uint8_t)(a << 4 | b);
		}
		if (g_o.verify_cache &&
		    (g_keys[g_nkeys].cache = calloc(VCACHE_SLOTS, sizeof(struct vslot))) == NULL) {
			fclose(f);
			return -ENOMEM;
		}
		g_keys[g_nkeys].master = m;
		memcpy(g_keys[g_nkeys].pub, pub, sizeof(pub));
		g_keys[g_nkeys].k = guard_ed25519_new(pub);
		if (g_keys[g_nkeys].k == NULL) {
			fclose(f);
			return -EINVAL;
		}
		g_nkeys++;
	}
	fclose(f);
	return 0;
}

/*
 * --instruments FILE: the output of `decpctl instrument list` (docs/decpctl.md), one
 * instrument a line, "symbol digits point pip_size contract_size" (decimals), a header
 * line and '#' comments skipped. Every row must pass guard_instrument_valid().
 * Returns the number loaded, or -errno / -EINVAL with line set.
 */
static int load_instruments(const char *path, int *line_no)
{
	FILE *f = fopen(path, "r");
	char line[256];
	int n = 0;

	*line_no = 0;
	if (f == NULL)
		return -errno;
	g_instr = calloc(INSTRUMENTS_MAX, sizeof(*g_instr));
	if (g_instr == NULL) {
		fclose(f);
		return -ENOMEM;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		char sym[64], point[32], pip[32];
		unsigned int digits;
		long long contract;
		struct guard_instrument *in = &g_instr[n];

		++*line_no;
		if (line[0] == '#' || line[0] == '\n' || strncmp(line, "symbol", 6) == 0)
			continue;
		if (n == INSTRUMENTS_MAX || sscanf(line, "%63s %u %31s %31s %lld", sym, &digits,
						   point, pip, &contract) != 5 ||
		    strlen(sym) >= sizeof(in->symbol) ||
		    proto_decimal_parse(point, strlen(point), PROTO_PRICE_DECIMALS, &in->point) != 0 ||
		    proto_decimal_parse(pip, strlen(pip), PROTO_PRICE_DECIMALS, &in->pip) != 0) {
			fclose(f);
			return -EINVAL;
		}
		memcpy(in->symbol, sym, strlen(sym) + 1);
		in->digits = digits;
		in->contract_size = contract;
		if (guard_instrument_valid(in) != 0) {
			fclose(f);
			return -EINVAL;
		}
		n++;
	}
	fclose(f);
	g_reg.v = g_instr;
	g_reg.n = (size_t)n;
	return n;
}

/*
 * The simulated broker's instruments (g_broker): the registry's, with the contract sizes
 * of --contract "SYMBOL=UNITS[,SYMBOL=UNITS...]" (a registry instrument, whole base units
 * per 1.00 lot, > 0). Returns 0, -ENOMEM, or -EINVAL with the item at fault in bad.
 */
static int broker_contracts(const char *list, char *bad, size_t cap)
{
	char copy[512], *save = NULL;

	g_broker_v = calloc(g_reg.n > 0 ? g_reg.n : 1, sizeof(*g_broker_v));
	if (g_broker_v == NULL)
		return -ENOMEM;
	memcpy(g_broker_v, g_reg.v, g_reg.n * sizeof(*g_broker_v));
	g_broker.v = g_broker_v;
	g_broker.n = g_reg.n;
	if (list == NULL)
		return 0;
	if (snprintf(copy, sizeof(copy), "%s", list) >= (int)sizeof(copy)) {
		snprintf(bad, cap, "%.40s...", list);
		return -EINVAL;
	}
	for (char *it = strtok_r(copy, ",", &save); it != NULL; it = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(it, '='), *end = NULL;
		const struct guard_instrument *in;
		long long units;

		snprintf(bad, cap, "%s", it);
		if (eq == NULL)
			return -EINVAL;
		*eq = '\0';
		errno = 0;
		units = strtoll(eq + 1, &end, 10);
		in = guard_instrument_find(&g_broker, it);
		if (in == NULL || eq[1] == '\0' || *end != '\0' || errno != 0 || units <= 0 ||
		    units > INT64_MAX / GUARD_CONTRACT_SCALE)
			return -EINVAL;
		g_broker_v[in - g_broker_v].contract_size = units;
	}
	bad[0] = '\0';
	return 0;
}

static int sim_add(const char *token, const char *masters)
{
	struct sim *s;
	struct sim *n = realloc(g_sims, (size_t)(g_nsims + 1) * sizeof(*g_sims));
	char buf[256], *save = NULL, *tok;

	if (n == NULL)
		return -ENOMEM;
	g_sims = n;
	s = &g_sims[g_nsims];
	memset(s, 0, sizeof(*s));
	s->idx = g_nsims;
	if (sub_account_init(&s->acct, g_o.acct_ccy, g_o.acct_leverage, g_o.acct_balance) != 0)
		return -EINVAL; /* parse_account() admitted only valid ones */
	snprintf(s->token, sizeof(s->token), "%s", token);
	snprintf(buf, sizeof(buf), "%s", masters);
	for (tok = strtok_r(buf, ",", &save); tok != NULL && s->nm < MAX_MASTERS;
	     tok = strtok_r(NULL, ",", &save)) {
		struct guard_verifier v;
		struct key *k;

		s->masters[s->nm] = strtoull(tok, NULL, 10);
		k = key_of(s->masters[s->nm]);
		if (k == NULL) {
			fprintf(stderr, "decp-subscriber: no key for master %s\n", tok);
			return -ENOENT;
		}
		v.verify = verify_key; /* through the key struct: a rotation switches all */
		v.key = k;
		guard_sub_init(&s->gs[s->nm], s->masters[s->nm], &v, g_o.ttl_ns, 0);
		guard_policy_init(&s->pol[s->nm]); /* until the server's CopyPolicy arrives */
		s->nm++;
	}
	if (s->nm == 0)
		return -EINVAL;
	g_nsims++;
	return 0;
}

/* lws_service() sleeps until the next event or timer: this timer bounds the sleep so that
 * --timeout, --expect and the status line are checked at least every 100 ms. */
static lws_sorted_usec_list_t g_tick;

static void tick(lws_sorted_usec_list_t *sul)
{
	if (g_log != NULL)
		fflush(g_log);
	if (g_orders != NULL)
		fflush(g_orders);
	/* Re-measure the server clock every 60 s: samples age out after 300 s, and then the
	 * guard fails closed (TTL) on every signal. */
	int64_t now = now_ns();
	for (int i = 0; i < g_nsims; i++) {
		struct sim *s = &g_sims[i];
		/* the account after executions (at most every 500 ms), else every 5 s */
		if (s->connected && s->subscribed &&
		    now - s->acct_sent_ns > (s->acct_dirty ? INT64_C(500000000) : INT64_C(5000000000)))
			send_account(s);
		/* a re-sync owed whose signal is old enough now is asked (resync_ask); one asked
		 * and not answered (no SnapshotBegin) is asked again: the fan-out may have
		 * refused or replayed it */
		for (int j = 0; j < s->nm; j++)
			resync_ask_due(s, j, local_ns());
		for (int j = 0; j < s->nm; j++)
			if (s->connected && s->subscribed && s->ask_ns[j] != 0 &&
			    local_ns() - s->ask_ns[j] >= RESYNC_ASK_AGAIN_NS) {
				s->ask_ns[j] = local_ns();
				s->resync_asks++;
				send_subscribe(s, s->masters[j], s->ask_from[j], true);
				if (g_log != NULL)
					fprintf(g_log, "%d %" PRIu64 " resync-asked-again %" PRIu64 "\n",
						s->idx, s->masters[j], s->ask_from[j]);
			}
		if (s->connected && s->subscribed && now - s->last_sync_ns > sync_every(s)) {
			if (g_o.no_time_sync)
				local_sample(s);
			else
				send_ping(s);
		}
	}
	lws_sul_schedule(g_ctx, 0, sul, tick, 100 * LWS_US_PER_MS);
}

static void on_signal(int sig)
{
	(void)sig;
	g_stop = 1;
}

/* --positions: what every simulated account holds at exit. 0, or -1 after a message. */
static int write_positions(const char *path)
{
	FILE *f = fopen(path, "w");

	if (f == NULL) {
		fprintf(stderr, "decp-subscriber: cannot open %s: %s\n", path, strerror(errno));
		return -1;
	}
	for (int i = 0; i < g_nsims; i++)
		for (size_t k = 0; k < g_sims[i].acct.n; k++) {
			const struct sub_position *p = &g_sims[i].acct.pos[k];

			fprintf(f, "%d %" PRIu64 " %" PRIu64 " %s %s %" PRId64 " %" PRId64 " %" PRId64
				"\n", g_sims[i].idx, p->master, p->ticket, p->symbol,
				guard_order_type_name((enum guard_order_type)p->type), p->volume, p->sl,
				p->tp);
		}
	return fclose(f) == 0 ? 0 : -1;
}

static bool all_done(void)
{
	if (g_o.expect == 0)
		return false;
	/* every guard at --expect, and no re-sync asked or snapshot under way: an account
	 * that refused its last signals as stale is right only once its snapshot came */
	for (int i = 0; i < g_nsims; i++)
		for (int j = 0; j < g_sims[i].nm; j++)
			if (g_sims[i].gs[j].st.last_seq < g_o.expect || g_sims[i].ask_ns[j] != 0 ||
			    g_sims[i].ask_due[j] != 0 ||
			    g_sims[i].snap_open[j])
				return false;
	return true;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{"url", required_argument, NULL, 'u'},     {"keys", required_argument, NULL, 'k'},
		{"subs", required_argument, NULL, 's'},    {"token", required_argument, NULL, 't'},
		{"master", required_argument, NULL, 'm'},  {"log", required_argument, NULL, 'l'},
		{"expect", required_argument, NULL, 'e'},  {"timeout", required_argument, NULL, 'T'},
		{"ttl-ms", required_argument, NULL, 'L'},  {"report-exec", no_argument, NULL, 'r'},
		{"status", no_argument, NULL, 'S'},        {"skew-ms", required_argument, NULL, 'K'},
		{"quote-off-pips", required_argument, NULL, 'Q'},
		{"wrong-token", no_argument, NULL, 'W'},
		{"no-time-sync", no_argument, NULL, 'N'},
		{"forge-every", required_argument, NULL, 'F'},
		{"forge-kind", required_argument, NULL, 'G'},
		{"stop-reading-after", required_argument, NULL, 'R'},
		{"drop-ms", required_argument, NULL, 'D'}, {"help", no_argument, NULL, 'h'},
		{"verify-cache", no_argument, NULL, 'V'},
		{"stall-ms", required_argument, NULL, 'X'},
		{"latency", no_argument, NULL, 'Y'},
		{"claim-platform", no_argument, NULL, 'P'},
		{"instruments", required_argument, NULL, 'I'},
		{"ca", required_argument, NULL, 'C'},
		{"orders", required_argument, NULL, 'O'},
		{"account", required_argument, NULL, 'A'},
		{"resync", no_argument, NULL, 'Z'},
		{"snapshot-key", required_argument, NULL, 1201},
		{"contract", required_argument, NULL, 1202},
		{"positions", required_argument, NULL, 'p'},
		{"poll", no_argument, NULL, 'o'},
		{"poll-wait", required_argument, NULL, 'w'},
		{NULL, 0, NULL, 0}};
	const char *url = NULL, *keys = NULL, *subs = NULL, *token = NULL, *logp = NULL;
	const char *ordersp = NULL, *positionsp = NULL;
	const char *instr = NULL, *contracts = NULL;
	char masters[256] = "";
	struct lws_context_creation_info info;
	int64_t t_end, t_drop = 0, t_status = 0;
	uint64_t tot_exec = 0, tot_rej = 0, tot_rec = 0, tot_ref = 0, tot_margin = 0;
	int o, rc = 1;
	long long num;

	g_o.timeout_s = 60;
	g_o.stall_ms = 5000;
	g_o.poll_wait_s = 10;
	memcpy(g_o.acct_ccy, "USD", 4); /* --account default: 10,000.00 USD at 1:100 */
	g_o.acct_leverage = 100;
	g_o.acct_balance = INT64_C(10000) * GUARD_MONEY_SCALE;
	while ((o = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (o) {
		case 'u': url = optarg; break;
		case 'k': keys = optarg; break;
		case 's': subs = optarg; break;
		case 't': token = optarg; break;
		case 'm':
			if (strlen(masters) + strlen(optarg) + 2 < sizeof(masters)) {
				if (masters[0] != '\0')
					strncat(masters, ",", sizeof(masters) - strlen(masters) - 1);
				strncat(masters, optarg, sizeof(masters) - strlen(masters) - 1);
			}
			break;
		case 'l': logp = optarg; break;
		case 'e':
			if (parse_num("--expect", optarg, 0, INT64_MAX, &num) != 0)
				return 2;
			g_o.expect = (uint64_t)num;
			break;
		case 'T':
			if (parse_num("--timeout", optarg, 1, 86400, &num) != 0)
				return 2;
			g_o.timeout_s = (int)num;
			break;
		case 'L':
			if (parse_num("--ttl-ms", optarg, 1, 3600000, &num) != 0)
				return 2;
			g_o.ttl_ns = num * 1000000;
			break;
		case 'r': g_o.report_exec = true; break;
		case 'S': g_o.status = true; break;
		case 'K':
			if (parse_num("--skew-ms", optarg, -86400000, 86400000, &num) != 0)
				return 2;
			g_o.skew_ns = num * 1000000;
			break;
		case 'Q':
			if (parse_num("--quote-off-pips", optarg, -1000000, 1000000, &num) != 0)
				return 2;
			g_o.quote_off_pips_x100 = num * 100;
			break;
		case 'W': g_o.wrong_token = true; break;
		case 'N': g_o.no_time_sync = true; break;
		case 'P': g_o.claim_platform = true; break;
		case 'F': {
			char *end = NULL;
			long long v = strtoll(optarg, &end, 10);
			if (end == optarg || *end != '\0' || v < 1) {
				fprintf(stderr, "decp-subscriber: --forge-every: '%s' is not a positive "
					"number\n", optarg);
				return 2;
			}
			g_o.forge_every = (uint64_t)v;
			break;
		}
		case 'G': {
			int k = 0;

			while (k <= FK_MIXED && strcmp(forge_kinds[k], optarg) != 0)
				k++;
			if (k > FK_MIXED) {
				fprintf(stderr, "decp-subscriber: --forge-kind: '%s' is none of price, "
					"gap, replay, stale, deviation, instrument, funds, mixed\n", optarg);
				return 2;
			}
			g_o.forge_kind = k;
			break;
		}
		case 'R':
			if (parse_num("--stop-reading-after", optarg, 0, INT64_MAX, &num) != 0)
				return 2;
			g_o.stop_reading_after = (uint64_t)num;
			break;
		case 'D':
			if (parse_num("--drop-ms", optarg, 1, 86400000, &num) != 0)
				return 2;
			g_o.drop_ms = (int)num;
			break;
		case 'V': g_o.verify_cache = true; break;
		case 'C': g_o.ca = optarg; break;
		case 'X':
			if (parse_num("--stall-ms", optarg, 0, 86400000, &num) != 0)
				return 2;
			g_o.stall_ms = (int)num;
			break;
		case 'Y':
			for (int k = 0; k < LAT_KINDS; k++)
				if (g_lat[k] == NULL && (g_lat[k] = malloc(LAT_MAX * sizeof(uint32_t))) == NULL) {
					fprintf(stderr, "decp-subscriber: --latency: out of memory\n");
					return 2;
				}
			break;
		case 'I': instr = optarg; break;
		case 'O': ordersp = optarg; break;
		case 'Z': g_o.resync = true; break;
		case 1202: contracts = optarg; break;
		case 1201: {
			uint8_t pub[32];
			size_t k = 0;

			for (; k < 32 && strlen(optarg) == 64; k++) {
				int a = hexval(optarg[2 * k]), b = hexval(optarg[2 * k + 1]);

				if (a < 0 || b < 0)
					break;
				pub[k] = (uint8_t)(a << 4 | b);
			}
			if (k != 32 || (g_o.snap_pk = proto_ed25519_key_new_public(pub)) == NULL) {
				fprintf(stderr, "decp-subscriber: --snapshot-key '%s': the platform's "
						"Ed25519 public key, 64 hex characters\n", optarg);
				return 2;
			}
			break;
		}
		case 'p': positionsp = optarg; break;
		case 'o': g_o.poll = true; break;
		case 'w': {
			char *end = NULL;
			unsigned long v = strtoul(optarg, &end, 10);

			if (end == optarg || *end != '\0' || v > 30) {
				fprintf(stderr, "decp-subscriber: --poll-wait: '%s' is not 0..30 "
					"seconds\n", optarg);
				return 2;
			}
			g_o.poll_wait_s = (unsigned int)v;
			break;
		}
		case 'A':
			if (parse_account(optarg) != 0) {
				fprintf(stderr, "decp-subscriber: --account: '%s' is not BALANCE[:LEVERAGE"
					"[:CURRENCY]] (e.g. 10000.00:100:USD; leverage >= 1)\n", optarg);
				return 2;
			}
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "decp-subscriber: unexpected argument '%s' (see --help)\n",
			argv[optind]);
		return 2;
	}
	if (url == NULL || keys == NULL || parse_url(url) != 0 || (subs == NULL && token == NULL) ||
	    (token != NULL && masters[0] == '\0')) {
		fprintf(stderr, "decp-subscriber: need --url ws://HOST:PORT/, --keys and "
				"--subs or --token with --master\n");
		usage(stderr);
		return 2;
	}
	if (g_o.resync && g_o.ttl_ns < RESYNC_ASK_AGE_NS) {
		/* a signal refused stale younger than that asks no re-sync (the fan-out would
		 * answer a replay, which cannot undo it): its CLOSE would be lost for good */
		fprintf(stderr, "decp-subscriber: --resync needs --ttl-ms of at least %lld: a signal "
			"refused as stale at a younger age could not be re-synced\n",
			(long long)(RESYNC_ASK_AGE_NS / 1000000));
		return 2;
	}
	if (g_o.poll && (g_o.report_exec || g_o.stop_reading_after != 0 || g_o.forge_every != 0)) {
		fprintf(stderr, "decp-subscriber: --poll carries no reports: not with --report-exec, "
			"--stop-reading-after or --forge-every\n");
		return 2;
	}
	if (g_o.poll && g_o.tls) {
		/* lws 4.1's raw client never completes a TLS connection (libwebsockets issue
		 * 2916, fixed upstream after 4.3); the fan-out itself serves polling over wss */
		fprintf(stderr, "decp-subscriber: --poll needs a ws:// URL (plain): this build's "
			"libwebsockets cannot run TLS on a raw client connection\n");
		return 2;
	}
	if (g_o.ca != NULL && !g_o.tls) {
		fprintf(stderr, "decp-subscriber: --ca needs a wss:// URL\n");
		return 2;
	}
	if (g_o.ca != NULL && access(g_o.ca, R_OK) != 0) {
		fprintf(stderr, "decp-subscriber: --ca %s: %s\n", g_o.ca, strerror(errno));
		return 2;
	}
	if (g_o.tls && g_o.ca == NULL)
		fprintf(stderr, "decp-subscriber: wss without --ca: the fan-out's certificate is "
				"NOT verified (tests only)\n");
	g_reg = *guard_instruments_builtin();
	sub_quotes_seed(&g_quotes); /* crosses convertible before a master trades the majors */
	if (instr != NULL) {
		int line_no, n = load_instruments(instr, &line_no);

		if (n < 0) {
			fprintf(stderr, "decp-subscriber: --instruments %s: %s (line %d: expected "
				"\"symbol digits point pip_size contract_size\", as decpctl "
				"instrument list prints)\n", instr, strerror(-n), line_no);
			free(g_instr);
			return 2;
		}
	}
	{
		char bad[64] = "";

		int rc = broker_contracts(contracts, bad, sizeof(bad));

		if (rc != 0) {
			if (rc == -ENOMEM)
				fprintf(stderr, "decp-subscriber: out of memory\n");
			else
				fprintf(stderr, "decp-subscriber: --contract: '%s' is not SYMBOL=UNITS "
					"with a symbol of the instrument registry and whole units per "
					"1.00 lot > 0 (e.g. XAUUSD=1,BTCUSD=5)\n", bad);
			free(g_instr);
			free(g_broker_v);
			return 2;
		}
	}
	if (load_keys(keys) != 0 || g_nkeys == 0) {
		fprintf(stderr, "decp-subscriber: cannot read keys from %s\n", keys);
		return 2;
	}
	if (token != NULL && sim_add(token, masters) != 0)
		return 2;
	if (subs != NULL) {
		FILE *f = fopen(subs, "r");
		char line[512], t[200], m[256];

		if (f == NULL) {
			fprintf(stderr, "decp-subscriber: cannot open %s: %s\n", subs, strerror(errno));
			return 2;
		}
		while (fgets(line, sizeof(line), f) != NULL)
			if (sscanf(line, "%199s %255s", t, m) == 2 && sim_add(t, m) != 0) {
				fclose(f);
				return 2;
			}
		fclose(f);
	}
	if (logp != NULL && (g_log = fopen(logp, "w")) == NULL) {
		fprintf(stderr, "decp-subscriber: cannot open %s\n", logp);
		return 2;
	}
	if (ordersp != NULL && (g_orders = fopen(ordersp, "w")) == NULL) {
		fprintf(stderr, "decp-subscriber: cannot open %s: %s\n", ordersp, strerror(errno));
		return 2;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	lws_set_log_level(LLL_ERR, NULL);
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = g_o.poll ? poll_protocols : client_protocols;

	info.max_http_header_pool2 = (unsigned)g_nsims + 16; /* all may be connecting at once */
	if (g_o.tls)
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	info.client_ssl_ca_filepath = g_o.ca;
	g_ctx = lws_create_context(&info);
	if (g_ctx == NULL) {
		fprintf(stderr, "decp-subscriber: lws context failed\n");
		return 1;
	}
	srand((unsigned)getpid());
	for (int i = 0; i < g_nsims; i++) {
		struct sim *s = &g_sims[i];

		if (!g_o.poll) {
			lws_sul_schedule(g_ctx, 0, &s->sul, sim_connect, (lws_usec_t)(i % 100) * 1000);
			continue;
		}
		for (int j = 0; j < s->nm; j++) {
			s->pc[j].s = s;
			s->pc[j].mi = j;
			sub_poll_rx_init(&s->pc[j].rx);
			lws_sul_schedule(g_ctx, 0, &s->pc[j].sul, pc_connect,
					 (lws_usec_t)(i % 100) * 1000);
		}
	}
	lws_sul_schedule(g_ctx, 0, &g_tick, tick, 100 * LWS_US_PER_MS);
	t_end = now_ns() + (int64_t)g_o.timeout_s * 1000000000;
	while (!g_stop) {
		int64_t t = now_ns();

		lws_service(g_ctx, 0);
		if (all_done()) {
			/* let the reports still queued reach the server and be acknowledged,
			 * reconnecting if need be (bounded: 10 s) */
			int64_t t_drain = t + 10 * INT64_C(1000000000);
			bool pending = true;

			while (pending && now_ns() < t_drain && !g_stop) {
				pending = false;
				for (int i = 0; i < g_nsims && !pending; i++)
					pending = (g_sims[i].oh != NULL && g_sims[i].wsi != NULL) ||
						  g_sims[i].uh != NULL;
				if (pending)
					lws_service(g_ctx, 0);
			}
			rc = 0;
			break;
		}
		if (t > t_end)
			break;
		if (g_o.drop_ms > 0 && t > t_drop) {
			struct sim *s = &g_sims[rand() % g_nsims];

			t_drop = t + (int64_t)g_o.drop_ms * 1000000;
			if (s->wsi != NULL && s->connected)
				lws_set_timeout(s->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
		}
		if (g_o.status && t > t_status) {
			uint64_t ex = 0, rj = 0, cn = 0;

			t_status = t + 500000000;
			for (int i = 0; i < g_nsims; i++) {
				ex += g_sims[i].executed;
				rj += g_sims[i].rejected;
				cn += g_sims[i].connected;
			}
			fprintf(stderr, "\rdecp-subscriber: %" PRIu64 "/%d connected, executed %" PRIu64
					", rejected %" PRIu64 "   ", cn, g_nsims, ex, rj);
		}
	}
	if (g_o.expect == 0)
		rc = 0; /* ran for --timeout (or until stopped) as asked */
	uint64_t tot_snap_refused = 0, tot_resyncs = 0, tot_asks = 0;
	for (int i = 0; i < g_nsims; i++) {
		tot_snap_refused += g_sims[i].snaps_refused;
		tot_asks += g_sims[i].resync_asks;
		tot_resyncs += g_sims[i].resyncs;
		tot_exec += g_sims[i].executed;
		tot_rej += g_sims[i].rejected;
		tot_rec += g_sims[i].reconnects;
		tot_ref += g_sims[i].refused;
		tot_margin += g_sims[i].margin_refused;
	}
	fprintf(stderr, "%sdecp-subscriber: subscribers %d executed %" PRIu64 " rejected %" PRIu64
			" reconnects %" PRIu64 " refused %" PRIu64 " margin %" PRIu64 "%s\n",
		g_o.status ? "\n" : "", g_nsims, tot_exec, tot_rej, tot_rec, tot_ref, tot_margin,
		rc == 0 ? "" : " (timeout)");
	if (g_o.snap_pk != NULL)
		fprintf(stderr, "decp-subscriber: snapshots reconciled %" PRIu64 ", refused (bad "
			"signature) %" PRIu64 "\n", tot_resyncs, tot_snap_refused);
	if (g_o.resync)
		fprintf(stderr, "decp-subscriber: re-syncs asked after a stale signal %" PRIu64 "\n",
			tot_asks);
	if (g_o.forge_every != 0) {
		uint64_t forged = 0, accepted = 0;
		for (int i = 0; i < g_nsims; i++) {
			forged += g_sims[i].forged;
			accepted += g_sims[i].forgery_accepted;
		}
		fprintf(stderr, "decp-subscriber: forged copies %" PRIu64 ", executed %" PRIu64
			" (must be 0)\n", forged, accepted);
		if (accepted != 0)
			rc = 1;
	}
	if (g_keys_accepted != 0 || g_keys_refused != 0)
		fprintf(stderr, "decp-subscriber: key announcements accepted %" PRIu64
			", refused %" PRIu64 "\n", g_keys_accepted, g_keys_refused);
	latency_report();
	for (int k = 0; k < LAT_KINDS; k++)
		free(g_lat[k]);
	g_stop = 1;
	lws_context_destroy(g_ctx);
	{
		uint64_t acked = 0, unacked = 0, resent = 0, forgot = 0;

		for (int i = 0; i < g_nsims; i++) {
			acked += g_sims[i].acked;
			unacked += g_sims[i].nunacked;
			resent += g_sims[i].resent;
			forgot += g_sims[i].unacked_dropped;
		}
		if (acked + unacked + resent + forgot > 0)
			fprintf(stderr, "decp-subscriber: reports acknowledged %" PRIu64 ", resent %"
				PRIu64 ", unacknowledged %" PRIu64 ", forgotten %" PRIu64 "\n", acked,
				resent, unacked, forgot);
	}
	if (positionsp != NULL && write_positions(positionsp) != 0)
		rc = 1;
	for (int i = 0; i < g_nsims; i++) {
		out_clear(&g_sims[i]);
		unacked_clear(&g_sims[i]);
		sub_account_free(&g_sims[i].acct);
		for (int j = 0; j < MAX_MASTERS; j++) {
			sub_snap_free(&g_sims[i].snap[j]);
			sub_poll_rx_fini(&g_sims[i].pc[j].rx);
		}
	}
	free(g_sims);
	proto_ed25519_key_free(g_o.snap_pk);
	for (int i = 0; i < g_nkeys; i++) {
		guard_ed25519_free(g_keys[i].k);
		guard_ed25519_free(g_keys[i].prev);
		free(g_keys[i].cache);
	}
	if (g_log != NULL)
		fclose(g_log);
	if (g_orders != NULL)
		fclose(g_orders);
	free(g_instr);
	free(g_broker_v);
	return rc;
}
