/*
 * decp-master: master EA simulator and ingest load generator (SPEC.md §3, issue 5).
 *
 * Each simulated master connects, logs in (Hello, then a LoginProof answering ingest's
 * challenge: the license token never leaves the process), and sends its
 * signals 1..N (from a trade file or a synthetic generator), HMAC-SHA256 + Ed25519 signed,
 * keeping at most --window unacknowledged. It follows the ingest protocol's recovery rules:
 *   Ack(seq)            seq is durable: forget it, record its ACK latency (from the
 *                       signal's first send, also when it was resent or its
 *                       durability came with a HelloAck: a stall that made the master
 *                       reconnect shows in the percentiles and the max)
 *   Nack BUSY(seq)      back off (1 ms, doubling per BUSY round up to 256 ms; any ACK resets
 *                       it), resend from seq
 *   Nack GAP(expected)  resend from expected
 *   HelloAck(expected)  everything below expected is durable; resend from expected
 *   no ACK for --ack-timeout-ms, EOF, Nack UNAVAILABLE: reconnect (then HelloAck rules);
 *                       the abandoned connection is reset, so none of its bytes arrive late;
 *                       with several --connect endpoints, to the next one (failover), at once
 *                       (a connect that fails or takes --connect-timeout-ms tries the next)
 *   Error REPLACED      a newer login of this master took the session: log in again (a
 *                       master replaced 10 times gives up: another instance is running)
 *   Nack BAD_TOKEN / BAD_SIGNATURE / MASTER_MISMATCH / STATE / MALFORMED, Error:
 *                       print why and give up on that master (exit status 3)
 * Masters are spread over --threads threads, each with one epoll set.
 * SIGTERM/SIGINT stops cleanly: no new signals, what was sent is drained (ACKed, or resent
 * after a reconnect) for up to max(10 s, 3 ACK timeouts); a second signal stops at once.
 *
 * TLS (SPEC §3, docs/ingest.md "TLS"): with --ca FILE (or --tls on) every connection is
 * TLS 1.3, the dataplane's certificate verified against FILE and its address (or
 * --server-name); --cert/--key present a client certificate (mTLS). The handshake runs
 * blocking right after connect (bounded by --ack-timeout-ms); a reconnect resumes the
 * previous TLS session from its ticket. The LoginProof binds the connection's TLS exporter
 * (channel binding, docs/protocol.md "Login"). Without --ca the connection is plaintext, which a
 * dataplane with tls = required refuses (a hint is printed).
 *
 * Exit status: 0 every signal ACKed (after a stop: every signal sent); 1 time limit reached
 * first (or the drain's bound); 2 usage or input error; 3 a login or signal was refused.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "proto_creds.h"
#include "dp_addr.h"
#include "decp-master-positions.h"
#include "decp-master-trades.h"
#include "proto_frame.h"
#include "proto_hmac.h"
#include "proto_login.h"
#include "proto_msg.h"
#include "proto_sign.h"
#include "proto_signal.h"

#define OUT_CAP (256u * 1024u)

enum mstate { M_IDLE, M_CONNECTING, M_HELLO, M_ACTIVE, M_DONE, M_FAILED };

#define DM_EPS_MAX 8u

/* One ingest endpoint (--connect ADDR:PORT). */
struct dm_ep {
	char addr[64];
	uint16_t port;
};

struct dm_cfg {
	struct dm_ep eps[DM_EPS_MAX]; /* --connect, in order: failover goes to the next */
	uint32_t n_eps;
	uint64_t connect_timeout_ns;
	uint64_t retry_ns;      /* --reconnect-ms: before reconnecting to the same endpoint */
	FILE *failover_log;     /* --failover-log: one line per failover, NULL = none */
	uint32_t n_masters;
	uint64_t base;
	const char *seed;
	const char *hmac_seed;  /* NULL = seed's */
	const char *ed_seed;    /* --ed25519-seed: signing key of that seed; NULL = seed's */
	uint64_t signals;
	struct dm_trade *trades;
	size_t n_trades;
	uint64_t rate;          /* signals/s over all masters, 0 = as fast as possible */
	uint32_t window;
	uint32_t threads;
	uint64_t ack_timeout_ns;
	uint64_t heartbeat_ns;
	uint64_t time_limit_ns;
	int fake_ed25519;
	int quiet;
	SSL_CTX *tls;           /* NULL: plaintext */
	const char *server_name; /* verify this DNS name instead of the address */
	uint64_t positions_every_ns; /* --positions-every-ms: the master's own positions, 0 = off */
	int positions_at_end;    /* --positions-at-end: once every signal is ACKed */
	int positions_wrong;     /* --positions-wrong: altered positions (alert test) */
	int resend_in_session;   /* --resend-in-session: ACK timeout resends, no reconnect */
};

/* The master's positions at the end (--positions-at-end): taken, parts sent, then a
 * Heartbeat whose answer proves ingest read every part before the master leaves. */
enum pos_final { PF_NONE, PF_SENDING, PF_FENCE, PF_DONE };

struct master {
	uint64_t id;
	struct proto_creds k;
	struct proto_hmac_key hk;
	struct proto_ed25519_key *sk;
	int fd;
	SSL *ssl;               /* TLS connection, NULL when plaintext */
	/* The login's channel binding: this connection's TLS exporter (docs/protocol.md
	 * "Login"); unused (zero binding) when plaintext. */
	uint8_t binding[PROTO_LOGIN_BINDING_LEN];
	SSL_SESSION *sess;      /* last TLS session: resumed on reconnect */
	enum mstate state;
	uint64_t connect_at;    /* M_IDLE: when to connect; M_CONNECTING: when to give up */
	uint32_t ep;            /* index into cfg->eps of the current / next connection */
	uint32_t ep_cycle;      /* endpoints tried since the last login (all failed: back off) */
	int64_t lost_wall_ns;   /* a session was lost at this CLOCK_REALTIME, 0 = none */
	uint32_t lost_ep;       /* ... on this endpoint */
	uint64_t next_send;
	uint64_t low_unacked;
	uint64_t high_sent;     /* highest sequence sent so far */
	uint64_t last_seq;      /* the last sequence to send: --signals, or high_sent once a
				 * SIGTERM/SIGINT asked for a stop (what was sent is drained) */
	uint32_t replaced;      /* sessions taken over by a newer login of this master */
	uint64_t busy_until;
	uint64_t busy_backoff;  /* ns; 0 after an ACK. Doubles per BUSY round while ingest stays
				 * full (e.g. decp-control down), so resends do not spin */
	uint64_t last_tx;
	uint64_t active_since;  /* HelloAck time: ACK timeouts count from here at the earliest */
	uint64_t *sent_ns;      /* [seq], the last send (ACK timeouts); 0 = never sent */
	uint64_t *first_ns;     /* [seq], the first send (ACK latency) */
	uint8_t *acked;         /* [seq] */
	struct proto_frame_decoder dec;
	uint8_t decbuf[PROTO_FRAME_MAX_DEFAULT];
	uint8_t *out;
	size_t out_len;
	int want_out;
	struct dm_positions pos; /* its own positions (decp-master-positions.h) */
	uint64_t pos_due;        /* monotonic: next periodic snapshot */
	int pos_asked;           /* SIGUSR1 requests seen */
	enum pos_final pos_final;
};

struct dm_stats {
	uint64_t acked, acked_by_hello, dup_acks, resent, busy, gaps, reconnects, unavailable;
	uint64_t server_lost;   /* ACKed signals the server no longer had: sent again */
	uint64_t ack_timeouts, replaced, failovers;
	uint64_t sent;
	uint64_t tls_full, tls_resumed, tls_failed;
};

struct dm_thread {
	pthread_t th;
	const struct dm_cfg *cfg;
	struct master *m;
	uint32_t n;
	int ep;
	uint64_t rate;          /* this thread's share */
	uint64_t t0;
	uint64_t *lat;
	size_t n_lat;
	size_t cap_lat;
	struct dm_stats st;
	int refused;
	uint64_t first_tx, last_ack;
	uint64_t rounds;        /* poll rounds: the first master served rotates */
};

/* SIGTERM/SIGINT: the first stops new signals and drains (what was sent is ACKed, bounded by
 * DRAIN_NS); a second stops at once. */
static atomic_int stop_flag;
static atomic_int positions_asked; /* SIGUSR1: every master sends its positions */
#define DRAIN_MIN_NS 10000000000ull     /* at least 10 s, or 3 ACK timeouts */
#define REPLACED_MAX 10                 /* takeovers before "another instance is running" */

static void on_signal(int sig)
{
	if (sig == SIGUSR1)
		atomic_fetch_add(&positions_asked, 1);
	else
		atomic_fetch_add(&stop_flag, 1);
}

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int64_t wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000ll + (int64_t)ts.tv_nsec;
}

/* ------------------------------------------------------------------ frames out */

/* Room for one more frame of any kind in the output buffer. */
static uint8_t *out_room(struct master *m)
{
	return OUT_CAP - m->out_len < PROTO_FRAME_MAX_DEFAULT + 4 ? NULL : m->out + m->out_len;
}

static int out_frame(struct master *m, const ProtobufCMessage *msg)
{
	if (OUT_CAP - m->out_len < PROTO_FRAME_MAX_DEFAULT + 4)
		return -ENOBUFS;
	ssize_t n = proto_msg_frame_pack(msg, PROTO_FRAME_MAX_DEFAULT, m->out + m->out_len,
					 OUT_CAP - m->out_len);
	if (n < 0)
		return (int)n;
	m->out_len += (size_t)n;
	return 0;
}

/* The trade of signal seq (the same for every master). */
static void trade_of(const struct dm_cfg *cfg, uint64_t seq, struct dm_trade *t)
{
	if (cfg->trades != NULL)
		*t = cfg->trades[(seq - 1) % cfg->n_trades];
	else
		dm_trade_synthetic(seq - 1, t);
}

static int build_signal(const struct dm_cfg *cfg, struct master *m, uint64_t seq)
{
	struct dm_trade t;
	trade_of(cfg, seq, &t);
	Decp__Signal s = DECP__SIGNAL__INIT;
	s.master_id = m->id;
	s.sequence = seq;
	s.symbol = t.symbol;
	s.order_type = t.order_type;
	s.volume = t.volume;
	s.price = t.price;
	s.sl = t.sl;
	s.tp = t.tp;
	s.position_ticket = t.ticket;
	s.master_time_ns = wall_ns();
	struct proto_sealed_signal sealed;
	/* --fake-ed25519: an all-zero signature (ingest-only loads; receivers would refuse it) */
	int rc = cfg->fake_ed25519 ? proto_signal_seal_unsigned(&m->hk, &s, &sealed)
				   : proto_signal_seal(&m->hk, m->sk, &s, &sealed);
	if (rc != 0)
		return rc;
	Decp__SignedSignal ss;
	proto_sealed_signal_view(&sealed, &ss);
	Decp__MasterFrame f = DECP__MASTER_FRAME__INIT;
	f.kind_case = DECP__MASTER_FRAME__KIND_SIGNAL;
	f.signal = &ss;
	return out_frame(m, &f.base);
}

static void flush_out(struct dm_thread *t, struct master *m);

/* A connection we abandon is reset, not closed gracefully: after a graceful close the kernel
 * keeps retransmitting what the peer has not acknowledged, and a Hello of ours delivered
 * late (a lossy or congested path) would log in over our newer session, which ingest then
 * closes as REPLACED. */
static void close_abort(int fd)
{
	struct linger l = {.l_onoff = 1, .l_linger = 0};
	(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	close(fd);
}

/* Close the connection (reset it when abandoned, see close_abort); keep its TLS session
 * (ticket) for the next connect. */
static void conn_end(struct master *m, int abandon)
{
	if (m->ssl != NULL) {
		SSL_SESSION *ss = SSL_get1_session(m->ssl);
		if (ss != NULL && SSL_SESSION_is_resumable(ss)) {
			SSL_SESSION_free(m->sess);
			m->sess = ss;
		} else {
			SSL_SESSION_free(ss);
		}
		SSL_shutdown(m->ssl); /* close_notify, not waiting for the reply */
		SSL_free(m->ssl);
		m->ssl = NULL;
		ERR_clear_error();
	}
	if (m->fd >= 0) {
		if (abandon)
			close_abort(m->fd);
		else
			close(m->fd);
		m->fd = -1;
	}
}

/* TLS 1.3 handshake on the still-blocking socket, bounded by the ACK timeout. */
static int tls_handshake(struct dm_thread *t, struct master *m, int fd)
{
	const struct dm_cfg *cfg = t->cfg;
	struct timeval tv = {.tv_sec = (time_t)(cfg->ack_timeout_ns / 1000000000ull),
			     .tv_usec = (suseconds_t)(cfg->ack_timeout_ns % 1000000000ull / 1000u)};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	SSL *ssl = SSL_new(cfg->tls);
	if (ssl == NULL || SSL_set_fd(ssl, fd) != 1)
		goto fail;
	if (cfg->server_name != NULL) {
		SSL_set_tlsext_host_name(ssl, cfg->server_name);
		if (SSL_set1_host(ssl, cfg->server_name) != 1)
			goto fail;
	} else if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), cfg->eps[m->ep].addr) != 1) {
		goto fail;
	}
	if (m->sess != NULL)
		SSL_set_session(ssl, m->sess);
	if (SSL_connect(ssl) != 1) {
		if (!cfg->quiet || t->st.tls_failed == 0) {
			char why[256];
			ERR_error_string_n(ERR_peek_error(), why, sizeof(why));
			long vr = SSL_get_verify_result(ssl);
			fprintf(stderr, "decp-master: master %" PRIu64 ": TLS handshake failed: %s%s%s\n",
				m->id, why, vr != X509_V_OK ? ": " : "",
				vr != X509_V_OK ? X509_verify_cert_error_string(vr) : "");
		}
		t->st.tls_failed++;
		goto fail;
	}
	if (SSL_export_keying_material(ssl, m->binding, sizeof(m->binding),
				       PROTO_LOGIN_EXPORTER_LABEL,
				       sizeof(PROTO_LOGIN_EXPORTER_LABEL) - 1, NULL, 0, 0) != 1) {
		fprintf(stderr, "decp-master: master %" PRIu64 ": no TLS exporter\n", m->id);
		t->st.tls_failed++;
		goto fail;
	}
	if (SSL_session_reused(ssl))
		t->st.tls_resumed++;
	else
		t->st.tls_full++;
	struct timeval zero = {0, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &zero, sizeof(zero));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &zero, sizeof(zero));
	m->ssl = ssl;
	return 0;
fail:
	SSL_free(ssl);
	ERR_clear_error();
	return -1;
}

static void drop_conn(struct dm_thread *t, struct master *m, uint64_t retry_ns)
{
	if (m->state == M_HELLO && m->ssl == NULL && t->cfg->tls == NULL && t->st.reconnects == 0)
		fprintf(stderr, "decp-master: master %" PRIu64 ": the connection closed before "
				"HelloAck (reconnecting); if the dataplane has tls = required, give "
				"--ca FILE\n", m->id);
	conn_end(m, 1);
	m->out_len = 0;
	m->want_out = 0;
	/* parts of a snapshot not all sent: the book role expires it; a new one follows */
	dm_positions_abort(&m->pos);
	if (m->pos_final != PF_DONE)
		m->pos_final = PF_NONE;
	if (m->state == M_HELLO || m->state == M_ACTIVE) {
		m->state = M_IDLE;
		m->connect_at = mono_ns() + retry_ns;
		t->st.reconnects++;
	}
}

/* The session or connection is lost (EOF, error, Nack UNAVAILABLE, SHUTDOWN, ACK timeout):
 * with several endpoints go on with the next one at once (its edge claims the master's
 * session and answers HelloAck from Redis's durable sequence); with one, reconnect to it
 * after retry_ns. */
static void drop_failover(struct dm_thread *t, struct master *m, uint64_t retry_ns)
{
	const struct dm_cfg *cfg = t->cfg;
	int live = m->state == M_HELLO || m->state == M_ACTIVE;

	if (live && m->state == M_ACTIVE && m->lost_wall_ns == 0) {
		m->lost_wall_ns = wall_ns();
		m->lost_ep = m->ep;
	}
	if (cfg->n_eps < 2 || !live) {
		drop_conn(t, m, retry_ns);
		return;
	}
	m->ep = (m->ep + 1) % cfg->n_eps;
	m->ep_cycle++;
	drop_conn(t, m, m->ep_cycle < cfg->n_eps ? 0 : cfg->retry_ns);
	if (m->ep_cycle >= cfg->n_eps)
		m->ep_cycle = 0;
}

static void fail_master(struct dm_thread *t, struct master *m, const char *why)
{
	fprintf(stderr, "decp-master: master %" PRIu64 ": %s\n", m->id, why);
	conn_end(m, 0);
	m->state = M_FAILED;
	t->refused = 1;
}

/* connect (or the TLS handshake) failed: the next endpoint at once, or after retry_ns
 * (100 ms by default) once every endpoint failed in a row. */
static void connect_failed(struct dm_thread *t, struct master *m)
{
	const struct dm_cfg *cfg = t->cfg;

	m->ep = (m->ep + 1) % cfg->n_eps;
	m->ep_cycle++;
	if (m->ep_cycle >= cfg->n_eps) {
		m->ep_cycle = 0;
		m->connect_at = mono_ns() + cfg->retry_ns;
	} else {
		m->connect_at = mono_ns();
	}
}

/* A connect that did not complete: closed, and the next endpoint (connect_failed). */
static void connect_abort(struct dm_thread *t, struct master *m)
{
	close(m->fd);
	m->fd = -1;
	m->state = M_IDLE;
	connect_failed(t, m);
}

/*
 * Start a connect without blocking the thread: its other masters keep sending and reading
 * their ACKs meanwhile (a connect that blocked the thread for --connect-timeout-ms, to a
 * host that answers nothing, made every other master of the thread miss its ACK timeout
 * and fail over in turn). The socket waits in the epoll set for EPOLLOUT (connect_finish);
 * the loop gives up at connect_at.
 */
static void do_connect(struct dm_thread *t, struct master *m)
{
	const struct dm_cfg *cfg = t->cfg;
	const struct dm_ep *ep = &cfg->eps[m->ep];
	struct sockaddr_storage ss;
	socklen_t sl;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, ep->addr, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons(ep->port);
		sl = sizeof(*a4);
	} else {
		inet_pton(AF_INET6, ep->addr, &a6->sin6_addr);
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons(ep->port);
		sl = sizeof(*a6);
	}
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		connect_failed(t, m);
		return;
	}
	m->fd = fd;
	m->state = M_CONNECTING;
	m->connect_at = mono_ns() + cfg->connect_timeout_ns;
	if (connect(fd, (struct sockaddr *)&ss, sl) != 0 && errno != EINPROGRESS) {
		connect_abort(t, m);
		return;
	}
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET, .data.u32 = (uint32_t)(m - t->m)};
	if (epoll_ctl(t->ep, EPOLL_CTL_ADD, fd, &ev) != 0)
		connect_abort(t, m);
}

/* The socket of an M_CONNECTING master became writable (or failed): the TLS handshake (on
 * the socket made blocking for it, bounded by the ACK timeout), then Hello. */
static void connect_finish(struct dm_thread *t, struct master *m)
{
	const struct dm_cfg *cfg = t->cfg;
	int fd = m->fd, err = 0;
	socklen_t el = sizeof(err);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err != 0) {
		connect_abort(t, m);
		return;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	int flags = fcntl(fd, F_GETFL);
	if (cfg->tls != NULL) {
		if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0 ||
		    tls_handshake(t, m, fd) != 0 || fcntl(fd, F_SETFL, flags) != 0) {
			connect_abort(t, m);
			return;
		}
	}
	proto_frame_decoder_reset(&m->dec);
	m->out_len = 0;
	/* Protocol 2: Hello names the master only; the token proves itself in LoginProof,
	 * after ingest's challenge (proto_login.h). */
	ssize_t hn = proto_login_hello_frame(m->id, "decp-master/0.2.0", m->out, OUT_CAP);
	if (hn > 0)
		m->out_len = (size_t)hn;
	m->state = M_HELLO;
	m->last_tx = mono_ns();
	flush_out(t, m);
}

static void flush_out(struct dm_thread *t, struct master *m)
{
	size_t off = 0;
	while (off < m->out_len) {
		if (m->ssl != NULL) {
			/* Partial writes on, moving buffer allowed: a retry passes the same first
			 * unsent byte (and at least as many bytes). */
			int n = SSL_write(m->ssl, m->out + off, (int)(m->out_len - off));
			if (n > 0) {
				off += (size_t)n;
				continue;
			}
			int e = SSL_get_error(m->ssl, n);
			if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ)
				break;
			drop_failover(t, m, t->cfg->retry_ns);
			return;
		}
		ssize_t n = send(m->fd, m->out + off, m->out_len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		drop_failover(t, m, t->cfg->retry_ns);
		return;
	}
	if (off > 0) {
		memmove(m->out, m->out + off, m->out_len - off);
		m->out_len -= off;
	}
	m->want_out = m->out_len > 0;
}

/* ------------------------------------------------------------------ frames in */

/* Moves past the ACKed prefix; each signal passed goes into the master's own positions
 * (in sequence, as the control plane's book takes them). */
static void advance_low(const struct dm_cfg *cfg, struct master *m, uint64_t total)
{
	while (m->low_unacked <= total && m->acked[m->low_unacked]) {
		struct dm_trade t;
		trade_of(cfg, m->low_unacked, &t);
		(void)dm_positions_apply(&m->pos, m->low_unacked, &t); /* anomalies as the book's */
		m->low_unacked++;
	}
}

static void mark_acked(struct dm_thread *t, struct master *m, uint64_t seq, uint64_t now,
		       int record)
{
	if (m->acked[seq])
		return;
	m->acked[seq] = 1;
	t->st.acked++;
	t->last_ack = now;
	if (record && m->first_ns[seq] != 0 && t->n_lat < t->cap_lat)
		t->lat[t->n_lat++] = now - m->first_ns[seq];
}

/*
 * The server's next expected sequence e lies below what it ACKed: its Redis lost ACKed
 * signals (docs/operations.md "Redis host lost": HelloAck from the archive's end). They are
 * this master's trades to send again (made again from their sequences, the same bytes).
 * Before, next_send fell below low_unacked, the window's unsigned difference wrapped and
 * the master sent nothing more, with no timeout to end it.
 */
static void resend_from(struct dm_thread *t, struct master *m, uint64_t e)
{
	if (e == 0 || e >= m->low_unacked)
		return;
	for (uint64_t s = e; s < m->low_unacked; s++)
		if (m->acked[s]) {
			m->acked[s] = 0;
			t->st.acked--;
			t->st.server_lost++;
		}
	m->low_unacked = e; /* the positions model ignores their second application */
}

static void handle_frame(struct dm_thread *t, struct master *m, const uint8_t *p, size_t len)
{
	const struct dm_cfg *cfg = t->cfg;
	uint64_t now = mono_ns();
	Decp__IngestFrame *f = proto_ingest_frame_decode(p, len, NULL);
	if (f == NULL) {
		fail_master(t, m, "undecodable frame from ingest");
		return;
	}
	switch (f->kind_case) {
	case DECP__INGEST_FRAME__KIND_CHALLENGE: {
		uint8_t *room = out_room(m);
		ssize_t n = -EPROTO;
		if (m->state == M_HELLO && room != NULL)
			n = proto_login_proof_frame(m->k.token, strlen(m->k.token),
						    f->challenge->nonce.data, f->challenge->nonce.len,
						    m->id, m->ssl != NULL ? m->binding : NULL, room,
						    PROTO_FRAME_MAX_DEFAULT + 4);
		if (n < 0) {
			fail_master(t, m, "unusable ServerChallenge from ingest (nonce must be 32 "
					  "bytes, once, after Hello)");
			break;
		}
		m->out_len += (size_t)n;
		m->last_tx = now;
		flush_out(t, m);
		break;
	}
	case DECP__INGEST_FRAME__KIND_HELLO_ACK: {
		uint64_t e = f->hello_ack->next_expected_sequence;
		if (e == 0) {
			fail_master(t, m, "HelloAck with next expected sequence 0");
			break;
		}
		resend_from(t, m, e);
		for (uint64_t s = m->low_unacked; s < e && s <= cfg->signals; s++)
			if (!m->acked[s]) {
				mark_acked(t, m, s, now, 1);
				t->st.acked_by_hello++;
			}
		advance_low(cfg, m, cfg->signals);
		m->next_send = e > m->low_unacked ? e : m->low_unacked;
		m->state = M_ACTIVE;
		m->active_since = now;
		m->ep_cycle = 0;
		if (m->lost_wall_ns != 0 && m->ep != m->lost_ep) {
			t->st.failovers++;
			if (cfg->failover_log != NULL) /* one fprintf: one line, whole */
				fprintf(cfg->failover_log, "%" PRIu64 " %s:%u %s:%u %" PRId64 " %" PRId64
					"\n", m->id, cfg->eps[m->lost_ep].addr,
					cfg->eps[m->lost_ep].port, cfg->eps[m->ep].addr,
					cfg->eps[m->ep].port, m->lost_wall_ns, wall_ns());
		}
		m->lost_wall_ns = 0;
		break;
	}
	case DECP__INGEST_FRAME__KIND_ACK: {
		uint64_t s = f->ack->sequence;
		if (s >= 1 && s <= cfg->signals) {
			if (f->ack->status == DECP__ACK__STATUS__STATUS_DUPLICATE)
				t->st.dup_acks++;
			mark_acked(t, m, s, now, 1);
			advance_low(cfg, m, cfg->signals);
			m->busy_backoff = 0;
		}
		break;
	}
	case DECP__INGEST_FRAME__KIND_NACK: {
		const Decp__Nack *n = f->nack;
		switch (n->reason) {
		case DECP__NACK__REASON__REASON_GAP:
			t->st.gaps++;
			if (n->expected_sequence >= 1 && n->expected_sequence < m->next_send) {
				resend_from(t, m, n->expected_sequence);
				m->next_send = n->expected_sequence;
			}
			break;
		case DECP__NACK__REASON__REASON_BUSY:
			t->st.busy++;
			if (n->sequence >= 1 && n->sequence < m->next_send)
				m->next_send = n->sequence;
			/* Every in-flight signal of one round is Nacked: double once per round
			 * (the Nacks of a round arrive before its back-off has expired). */
			if (now >= m->busy_until)
				m->busy_backoff = m->busy_backoff == 0 ? 1000000ull
					: m->busy_backoff >= 128000000ull ? 256000000ull
					: m->busy_backoff * 2;
			m->busy_until = now + m->busy_backoff;
			break;
		case DECP__NACK__REASON__REASON_UNAVAILABLE:
			t->st.unavailable++;
			drop_failover(t, m, 200000000ull);
			break;
		case DECP__NACK__REASON__REASON_BAD_TOKEN:
			fail_master(t, m, "login refused: bad or revoked license token (check "
					  "--key-seed / --master-base)");
			break;
		case DECP__NACK__REASON__REASON_BAD_SIGNATURE:
			fail_master(t, m, "signal refused: HMAC does not verify (wrong secret?)");
			break;
		case DECP__NACK__REASON__REASON_MASTER_MISMATCH:
			fail_master(t, m, "refused: master id does not match the license token");
			break;
		default: {
			char why[96];
			snprintf(why, sizeof(why), "refused by ingest: Nack reason %d for sequence %" PRIu64,
				 (int)n->reason, n->sequence);
			fail_master(t, m, why);
			break;
		}
		}
		break;
	}
	case DECP__INGEST_FRAME__KIND_HEARTBEAT:
		if (m->pos_final == PF_FENCE)
			m->pos_final = PF_DONE; /* every part before it was read */
		break;
	case DECP__INGEST_FRAME__KIND_ERROR:
		if (f->error->code == DECP__ERROR__CODE__CODE_SHUTDOWN) {
			drop_failover(t, m, 200000000ull);
		} else if (f->error->code == DECP__ERROR__CODE__CODE_REPLACED &&
			   m->replaced < REPLACED_MAX) {
			/* A login of this master took the session over: one of our own older
			 * connections whose Hello arrived late, or somebody else. Log in again; a
			 * master replaced again and again has a twin running somewhere. */
			m->replaced++;
			t->st.replaced++;
			drop_conn(t, m, 200000000ull);
		} else if (f->error->code == DECP__ERROR__CODE__CODE_REPLACED) {
			fail_master(t, m, "replaced by a newer login 10 times: is another instance "
					  "of this master running?");
		} else if (m->state != M_FAILED) {
			char why[320];
			snprintf(why, sizeof(why), "ingest closed the session: Error code %d%s%s",
				 (int)f->error->code, f->error->message[0] != '\0' ? ": " : "",
				 f->error->message);
			fail_master(t, m, why);
		}
		break;
	default:
		break;
	}
	proto_msg_free(&f->base, NULL);
}

static void read_in(struct dm_thread *t, struct master *m)
{
	uint8_t buf[16384];
	while (m->fd >= 0) {
		ssize_t n;
		if (m->ssl != NULL) {
			int r = SSL_read(m->ssl, buf, sizeof(buf));
			if (r <= 0) {
				int e = SSL_get_error(m->ssl, r);
				if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
					return;
				ERR_clear_error();
				drop_failover(t, m, t->cfg->retry_ns); /* close_notify, EOF, bad record */
				return;
			}
			n = r;
		} else {
			n = recv(m->fd, buf, sizeof(buf), MSG_DONTWAIT);
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			drop_failover(t, m, t->cfg->retry_ns);
			return;
		}
		const uint8_t *p = buf;
		size_t len = (size_t)n;
		while (len > 0 && m->fd >= 0) {
			struct proto_frame fr;
			ssize_t k = proto_frame_decoder_feed(&m->dec, p, len, &fr);
			if (k < 0) {
				fail_master(t, m, "bad framing from ingest");
				return;
			}
			p += k;
			len -= (size_t)k;
			if (fr.data != NULL)
				handle_frame(t, m, fr.data, fr.len);
		}
	}
}

/* ------------------------------------------------------------------ thread */

static int pump(struct dm_thread *t, struct master *m, uint64_t now)
{
	const struct dm_cfg *cfg = t->cfg;
	int sent = 0;
	if (m->state != M_ACTIVE || now < m->busy_until || m->want_out)
		return 0;
	while (m->next_send <= m->last_seq && m->next_send - m->low_unacked < cfg->window &&
	       sent < 64) {
		if (t->rate != 0 &&
		    t->st.sent >= (uint64_t)((double)(now - t->t0) * (double)t->rate / 1e9) + 1)
			break;
		if (m->acked[m->next_send]) {
			m->next_send++;
			continue;
		}
		if (build_signal(cfg, m, m->next_send) != 0)
			break;
		if (m->sent_ns[m->next_send] != 0)
			t->st.resent++; /* its latency still counts from the first send */
		else if (t->first_tx == 0)
			t->first_tx = now;
		if (m->first_ns[m->next_send] == 0)
			m->first_ns[m->next_send] = now;
		m->sent_ns[m->next_send] = now;
		if (m->next_send > m->high_sent)
			m->high_sent = m->next_send;
		m->next_send++;
		t->st.sent++;
		sent++;
	}
	if (sent > 0) {
		m->last_tx = now;
		flush_out(t, m);
	}
	return sent;
}

static void send_heartbeat(struct dm_thread *t, struct master *m, uint64_t now)
{
	Decp__Heartbeat hb = DECP__HEARTBEAT__INIT;
	hb.time_ns = wall_ns();
	Decp__MasterFrame f = DECP__MASTER_FRAME__INIT;
	f.kind_case = DECP__MASTER_FRAME__KIND_HEARTBEAT;
	f.heartbeat = &hb;
	out_frame(m, &f.base);
	m->last_tx = now;
	flush_out(t, m);
}

/* The master's own positions (issue 19): a snapshot taken when due (--positions-every-ms,
 * SIGUSR1, or --positions-at-end once everything is ACKed), its parts sent as output room
 * allows. The book is at low_unacked - 1: every signal up to it ACKed (durable). */
static int pump_positions(struct dm_thread *t, struct master *m, uint64_t now)
{
	const struct dm_cfg *cfg = t->cfg;
	int asked = atomic_load(&positions_asked), sent = 0;
	bool due = (cfg->positions_every_ns != 0 && now >= m->pos_due) || asked != m->pos_asked;

	if (m->state != M_ACTIVE || m->want_out)
		return 0;
	if (cfg->positions_at_end && m->pos_final == PF_NONE && m->low_unacked > m->last_seq) {
		due = true;
		m->pos_final = PF_SENDING;
	}
	if (due && !dm_positions_sending(&m->pos)) {
		m->pos_asked = asked;
		m->pos_due = now + cfg->positions_every_ns;
		long parts = dm_positions_take(&m->pos, cfg->positions_wrong, (uint64_t)wall_ns(),
					       wall_ns());
		if (parts < 0)
			fprintf(stderr, "decp-master: master %" PRIu64 ": positions not sent: %s\n",
				m->id, strerror((int)-parts));
	}
	while (dm_positions_sending(&m->pos) && out_room(m) != NULL) {
		struct proto_sealed_positions sp;
		if (dm_positions_next(&m->pos, &m->hk, &sp) != 1)
			break;
		Decp__SignedPositions msg = DECP__SIGNED_POSITIONS__INIT;
		msg.body.data = sp.body;
		msg.body.len = sp.body_len;
		msg.hmac.data = sp.hmac;
		msg.hmac.len = sizeof(sp.hmac);
		Decp__MasterFrame f = DECP__MASTER_FRAME__INIT;
		f.kind_case = DECP__MASTER_FRAME__KIND_POSITIONS;
		f.positions = &msg;
		if (out_frame(m, &f.base) != 0)
			break;
		sent++;
	}
	if (sent > 0) {
		m->last_tx = now;
		flush_out(t, m);
	}
	if (m->pos_final == PF_SENDING && !dm_positions_sending(&m->pos) && !m->want_out) {
		m->pos_final = PF_FENCE;
		send_heartbeat(t, m, now);
	}
	return sent;
}

static void *thread_main(void *arg)
{
	struct dm_thread *t = arg;
	const struct dm_cfg *cfg = t->cfg;
	struct epoll_event evs[128];
	uint64_t deadline = mono_ns() + cfg->time_limit_ns;
	uint64_t drain = 3 * cfg->ack_timeout_ns > DRAIN_MIN_NS ? 3 * cfg->ack_timeout_ns : DRAIN_MIN_NS;
	int draining = 0;
	t->t0 = mono_ns();
	for (;;) {
		uint64_t now = mono_ns();
		uint32_t active = 0;
		int work = 0;
		if (!draining && atomic_load(&stop_flag) > 0) {
			draining = 1;
			for (uint32_t i = 0; i < t->n; i++)
				t->m[i].last_seq = t->m[i].high_sent;
			if (now + drain < deadline)
				deadline = now + drain;
		}
		/* Start each round at the next master: with --rate the round's budget is spread
		 * over the masters instead of going to the first ones until they are done. */
		uint32_t first = t->n > 0 ? (uint32_t)(t->rounds++ % t->n) : 0;
		for (uint32_t j = 0; j < t->n; j++) {
			struct master *m = &t->m[(first + j) % t->n];
			if (m->state == M_DONE || m->state == M_FAILED)
				continue;
			if (m->low_unacked > m->last_seq &&
			    (!cfg->positions_at_end || m->pos_final == PF_DONE || draining)) {
				conn_end(m, 0);
				m->state = M_DONE;
				continue;
			}
			active++;
			if (m->state == M_IDLE && now >= m->connect_at)
				do_connect(t, m);
			if (m->state == M_CONNECTING && now >= m->connect_at)
				connect_abort(t, m); /* --connect-timeout-ms: nothing answered */
			if (m->state != M_ACTIVE && m->state != M_HELLO)
				continue;
			work += pump(t, m, now);
			work += pump_positions(t, m, now);
			uint64_t oldest = m->sent_ns[m->low_unacked] > m->active_since
						  ? m->sent_ns[m->low_unacked]
						  : m->active_since;
			/* No HelloAck, no ACK for the oldest signal, or output stuck for the ACK
			 * timeout: lost in a crashed consumer, or the session died silently. Log in
			 * again; HelloAck says where durable storage stands. */
			uint64_t quiet = now > m->last_tx ? now - m->last_tx : 0;
			if ((m->state == M_HELLO && quiet > cfg->ack_timeout_ns) ||
			    (m->state == M_ACTIVE && m->low_unacked < m->next_send && oldest != 0 &&
			     now > oldest && now - oldest > cfg->ack_timeout_ns) ||
			    (m->want_out && quiet > cfg->ack_timeout_ns)) {
				t->st.ack_timeouts++;
				if (cfg->resend_in_session && m->state == M_ACTIVE && !m->want_out) {
					/* the unACKed signals again on this session (the dataplane
					 * takes a resend of what it enqueued: dp_session.c) */
					m->next_send = m->low_unacked;
					m->sent_ns[m->low_unacked] = now;
					continue;
				}
				drop_failover(t, m, 0);
				continue;
			}
			if (m->state == M_ACTIVE && !m->want_out && quiet > cfg->heartbeat_ns)
				send_heartbeat(t, m, now);
		}
		if (active == 0 || atomic_load(&stop_flag) > 1 || now > deadline)
			break;
		int n = epoll_wait(t->ep, evs, 128, work > 0 ? 0 : 1);
		for (int i = 0; i < n; i++) {
			struct master *m = &t->m[evs[i].data.u32];
			if (m->fd < 0)
				continue;
			if (m->state == M_CONNECTING) {
				connect_finish(t, m);
				continue;
			}
			if (evs[i].events & EPOLLOUT)
				flush_out(t, m);
			if (m->fd >= 0 && (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
				read_in(t, m);
		}
	}
	return NULL;
}

/* ------------------------------------------------------------------ main */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: decp-master --connect ADDR:PORT[,ADDR:PORT...] [options]\n"
		"\n"
		"Master EA simulator and ingest load generator. Every master logs in with its\n"
		"license token and sends signals 1..N, HMAC + Ed25519 signed, resending what ingest\n"
		"has not ACKed after BUSY/GAP/reconnect. Prints ACK latency percentiles, each\n"
		"signal's from its first send to the ACK or HelloAck that made it durable.\n"
		"\n"
		"  --connect ADDR:PORT[,ADDR:PORT...]  ingest endpoints (numeric; [v6]:port\n"
		"                         allowed; repeatable, at most 8 in all): the first is used\n"
		"                         first; a lost session (EOF, Nack UNAVAILABLE, ACK timeout)\n"
		"                         or a failed connect goes on with the next one at once\n"
		"  --connect-timeout-ms MS  bound of one connect (default 1000)\n"
		"  --reconnect-ms MS      pause before reconnecting to the same endpoint, and after\n"
		"                         every endpoint failed in a row (default 100)\n"
		"  --failover-log FILE    one line per failover: MASTER FROM TO LOST_NS HELLOACK_NS\n"
		"                         (CLOCK_REALTIME ns: session lost on FROM, HelloAck on TO)\n"
		"  --masters N            simulated masters (default 1)\n"
		"  --master-base ID       first master id (default 1): ids ID..ID+N-1\n"
		"  --key-seed S           test credential seed (default \"decp-test\"); tokens and\n"
		"                         keys are derived as documented in docs/ingest.md\n"
		"  --hmac-seed S          the HMAC secret of seed S instead (after `decpctl master\n"
		"                         rotate-hmac --key-seed S`: the master's new secret)\n"
		"  --ed25519-seed S       the Ed25519 signing key of seed S instead (after `decpctl\n"
		"                         master rotate-signing-key --key-seed S`)\n"
		"  --signals N            signals per master (default 1000)\n"
		"  --trades FILE          replay trades from FILE (.csv or .jsonl, see docs/ingest.md)\n"
		"                         instead of the synthetic generator, cycling as needed\n"
		"  --rate R               total signals/s over all masters (default 0 = max)\n"
		"  --window W             unACKed signals in flight per master (default 256)\n"
		"  --threads T            sender threads (default 1)\n"
		"  --ack-timeout-ms MS    reconnect when the oldest signal waits longer (default 3000)\n"
		"  --heartbeat-ms MS      heartbeat when idle this long (default 1000)\n"
		"  --resend-in-session    at the ACK timeout resend the unACKed signals on the same\n"
		"                         session instead of reconnecting (tests)\n"
		"  --time-limit-s S       give up after S seconds (default 600)\n"
		"  --fake-ed25519         all-zero Ed25519 signatures: ingest-only load runs (ingest\n"
		"                         checks only the HMAC; receivers would refuse these)\n"
		"  --quiet                no summary unless something failed\n"
		"  --acked-file FILE      at exit, every ACKed sequence as lines MASTER FIRST LAST\n"
		"                         (ranges; also those HelloAck declared durable)\n"
		"  --ca FILE              TLS 1.3: verify the dataplane's certificate against this\n"
		"                         CA (decpctl tls init writes ca.crt); implies --tls on\n"
		"  --tls on|off           TLS (default: on with --ca, else off; a dataplane with\n"
		"                         tls = required refuses plaintext)\n"
		"  --cert FILE --key FILE client certificate (mTLS; decpctl tls init --master ID)\n"
		"  --server-name NAME     verify this DNS name in the dataplane's certificate\n"
		"                         (default: the --connect address)\n"
		"  --positions-every-ms MS  send the master's own positions (MasterFrame.positions:\n"
		"                         what its ACKed signals hold) every MS; SIGUSR1 sends them\n"
		"                         once at once (docs/ingest.md \"The master's positions\")\n"
		"  --positions-at-end     send them once every signal is ACKed, before leaving\n"
		"  --positions-wrong      send altered positions (one volume + 0.01 lot and a ticket\n"
		"                         never opened): tests the control plane's mismatch alert\n"
		"  --help\n"
		"SIGTERM/SIGINT: stop sending and drain (every signal sent is ACKed, up to\n"
		"max(10 s, 3 ACK timeouts)); a second one stops at once. The summary says stopped=1.\n"
		"Exit status: 0 all ACKed (after a stop: all sent), 1 time limit, 2 usage/input\n"
		"error, 3 refused.\n");
}

static int parse_u64(const char *name, const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi || s[0] == '-') {
		fprintf(stderr, "decp-master: %s: '%s' is not a number in %" PRIu64 "..%" PRIu64 "\n",
			name, s, lo, hi);
		return -1;
	}
	*out = v;
	return 0;
}

/* --connect: one or more ADDR:PORT separated by commas, appended to c->eps. */
static int parse_connect(const char *s, struct dm_cfg *c)
{
	const char *p = s;
	for (;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
		char one[96];
		const char *why;
		if (len == 0 || len >= sizeof(one)) {
			fprintf(stderr, "decp-master: --connect '%s': empty or overlong endpoint\n", s);
			return -1;
		}
		if (c->n_eps == DM_EPS_MAX) {
			fprintf(stderr, "decp-master: --connect: at most %u endpoints\n", DM_EPS_MAX);
			return -1;
		}
		memcpy(one, p, len);
		one[len] = '\0';
		struct dm_ep *ep = &c->eps[c->n_eps];
		if (dp_hostport_parse(one, ep->addr, sizeof(ep->addr), &ep->port, 1, &why) != 0) {
			fprintf(stderr, "decp-master: --connect '%s': %s\n", one, why);
			return -1;
		}
		c->n_eps++;
		if (comma == NULL)
			return 0;
		p = comma + 1;
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* --acked-file: every sequence ingest ACKed (or HelloAck declared durable), per master,
 * as ranges "MASTER FIRST LAST", one per line: what a durability test holds the platform
 * to after a failover. 0, or -1 (said on stderr). */
static int write_acked(const char *path, const struct master *ms, uint32_t n)
{
	FILE *f = fopen(path, "w");

	if (f == NULL) {
		fprintf(stderr, "decp-master: --acked-file %s: %s\n", path, strerror(errno));
		return -1;
	}
	for (uint32_t i = 0; i < n; i++) {
		const struct master *m = &ms[i];

		for (uint64_t s = 1; s <= m->high_sent; s++) {
			uint64_t first = s;

			if (!m->acked[s])
				continue;
			while (s + 1 <= m->high_sent && m->acked[s + 1])
				s++;
			fprintf(f, "%" PRIu64 " %" PRIu64 " %" PRIu64 "\n", m->id, first, s);
		}
	}
	if (fclose(f) != 0) {
		fprintf(stderr, "decp-master: --acked-file %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{"connect", required_argument, NULL, 'c'},
		{"connect-timeout-ms", required_argument, NULL, 1006},
		{"reconnect-ms", required_argument, NULL, 1007},
		{"failover-log", required_argument, NULL, 1008},
		{"masters", required_argument, NULL, 'n'},
		{"master-base", required_argument, NULL, 'b'},
		{"key-seed", required_argument, NULL, 'k'},
		{"hmac-seed", required_argument, NULL, 1001},
		{"ed25519-seed", required_argument, NULL, 1002},
		{"signals", required_argument, NULL, 's'},
		{"trades", required_argument, NULL, 'T'},
		{"acked-file", required_argument, NULL, 'Z'},
		{"rate", required_argument, NULL, 'r'},
		{"window", required_argument, NULL, 'w'},
		{"threads", required_argument, NULL, 't'},
		{"ack-timeout-ms", required_argument, NULL, 'a'},
		{"heartbeat-ms", required_argument, NULL, 'H'},
		{"time-limit-s", required_argument, NULL, 'L'},
		{"fake-ed25519", no_argument, NULL, 'F'},
		{"quiet", no_argument, NULL, 'q'},
		{"ca", required_argument, NULL, 'A'},
		{"tls", required_argument, NULL, 'S'},
		{"cert", required_argument, NULL, 'C'},
		{"key", required_argument, NULL, 'K'},
		{"server-name", required_argument, NULL, 'N'},
		{"positions-every-ms", required_argument, NULL, 1003},
		{"positions-at-end", no_argument, NULL, 1004},
		{"positions-wrong", no_argument, NULL, 1005},
		{"resend-in-session", no_argument, NULL, 1020},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct dm_cfg cfg;
	memset(&cfg, 0, sizeof(cfg));
	cfg.n_masters = 1;
	cfg.base = 1;
	cfg.seed = "decp-test";
	cfg.signals = 1000;
	cfg.window = 256;
	cfg.threads = 1;
	cfg.ack_timeout_ns = 3000000000ull;
	cfg.connect_timeout_ns = 1000000000ull;
	cfg.retry_ns = 100000000ull;
	const char *failover_log = NULL;
	cfg.heartbeat_ns = 1000000000ull;
	cfg.time_limit_ns = 600000000000ull;
	const char *trades = NULL, *acked_file = NULL;
	const char *ca = NULL, *cert = NULL, *key = NULL;
	int tls_opt = -1; /* -1: on iff --ca */
	int have_connect = 0;
	int c;
	uint64_t v;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		int rc = 0;
		switch (c) {
		case 'c': rc = parse_connect(optarg, &cfg); have_connect = 1; break;
		case 1006: rc = parse_u64("--connect-timeout-ms", optarg, 1, 600000, &v); cfg.connect_timeout_ns = v * 1000000ull; break;
		case 1007: rc = parse_u64("--reconnect-ms", optarg, 0, 600000, &v); cfg.retry_ns = v * 1000000ull; break;
		case 1008: failover_log = optarg; break;
		case 'n': rc = parse_u64("--masters", optarg, 1, 100000, &v); cfg.n_masters = (uint32_t)v; break;
		case 'b': rc = parse_u64("--master-base", optarg, 1, UINT64_MAX / 2, &cfg.base); break;
		case 'k': cfg.seed = optarg; break;
		case 1001: cfg.hmac_seed = optarg; break; /* --hmac-seed: long only */
		case 1002: cfg.ed_seed = optarg; break;   /* --ed25519-seed: long only */
		case 's': rc = parse_u64("--signals", optarg, 1, 100000000, &cfg.signals); break;
		case 'T': trades = optarg; break;
		case 'Z': acked_file = optarg; break;
		case 'r': rc = parse_u64("--rate", optarg, 0, 100000000, &cfg.rate); break;
		case 'w': rc = parse_u64("--window", optarg, 1, 100000, &v); cfg.window = (uint32_t)v; break;
		case 't': rc = parse_u64("--threads", optarg, 1, 64, &v); cfg.threads = (uint32_t)v; break;
		case 'a': rc = parse_u64("--ack-timeout-ms", optarg, 1, 3600000, &v); cfg.ack_timeout_ns = v * 1000000ull; break;
		case 'H': rc = parse_u64("--heartbeat-ms", optarg, 1, 3600000, &v); cfg.heartbeat_ns = v * 1000000ull; break;
		case 'L': rc = parse_u64("--time-limit-s", optarg, 1, 86400, &v); cfg.time_limit_ns = v * 1000000000ull; break;
		case 'F': cfg.fake_ed25519 = 1; break;
		case 1003: rc = parse_u64("--positions-every-ms", optarg, 1, 3600000, &v); cfg.positions_every_ns = v * 1000000ull; break;
		case 1004: cfg.positions_at_end = 1; break;
		case 1005: cfg.positions_wrong = 1; break;
		case 1020: cfg.resend_in_session = 1; break;
		case 'q': cfg.quiet = 1; break;
		case 'A': ca = optarg; break;
		case 'C': cert = optarg; break;
		case 'K': key = optarg; break;
		case 'N': cfg.server_name = optarg; break;
		case 'S':
			if (strcmp(optarg, "on") != 0 && strcmp(optarg, "off") != 0) {
				fprintf(stderr, "decp-master: --tls '%s': on or off\n", optarg);
				return 2;
			}
			tls_opt = optarg[1] == 'n';
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
		if (rc != 0)
			return 2;
	}
	if (optind < argc) {
		fprintf(stderr, "decp-master: unexpected argument '%s' (see --help)\n", argv[optind]);
		return 2;
	}
	if (!have_connect) {
		fprintf(stderr, "decp-master: --connect ADDR:PORT is required (see --help)\n");
		return 2;
	}
	if (trades != NULL && dm_trades_load(trades, &cfg.trades, &cfg.n_trades) != 0)
		return 2;
	if (failover_log != NULL) {
		cfg.failover_log = fopen(failover_log, "w");
		if (cfg.failover_log == NULL) {
			fprintf(stderr, "decp-master: --failover-log %s: %s\n", failover_log,
				strerror(errno));
			return 2;
		}
		setvbuf(cfg.failover_log, NULL, _IOLBF, 0);
	}
	if (cfg.base - 1 > (uint64_t)INT64_MAX - cfg.n_masters) {
		fprintf(stderr, "decp-master: --master-base %" PRIu64 " with --masters %u: the last "
				"id passes %" PRId64 " (the largest master id)\n", cfg.base,
			(unsigned)cfg.n_masters, INT64_MAX);
		return 2;
	}
	if (tls_opt == -1)
		tls_opt = ca != NULL;
	if ((cert != NULL) != (key != NULL) || (!tls_opt && (ca != NULL || cert != NULL))) {
		fprintf(stderr, "decp-master: --cert and --key go together, and with TLS on\n");
		return 2;
	}
	if (tls_opt && ca == NULL) {
		fprintf(stderr, "decp-master: --tls on needs --ca FILE (the CA of the dataplane's "
				"certificate)\n");
		return 2;
	}
	if (tls_opt) {
		cfg.tls = SSL_CTX_new(TLS_client_method());
		if (cfg.tls == NULL || SSL_CTX_set_min_proto_version(cfg.tls, TLS1_3_VERSION) != 1 ||
		    SSL_CTX_load_verify_locations(cfg.tls, ca, NULL) != 1 ||
		    (cert != NULL && (SSL_CTX_use_certificate_chain_file(cfg.tls, cert) != 1 ||
				      SSL_CTX_use_PrivateKey_file(cfg.tls, key, SSL_FILETYPE_PEM) != 1))) {
			char why[256];
			ERR_error_string_n(ERR_get_error(), why, sizeof(why));
			fprintf(stderr, "decp-master: TLS setup (--ca %s%s%s): %s\n", ca,
				cert != NULL ? ", --cert " : "", cert != NULL ? cert : "", why);
			return 2;
		}
		SSL_CTX_set_verify(cfg.tls, SSL_VERIFY_PEER, NULL);
		SSL_CTX_set_mode(cfg.tls, SSL_MODE_ENABLE_PARTIAL_WRITE |
						  SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
		SSL_CTX_set_session_cache_mode(cfg.tls, SSL_SESS_CACHE_CLIENT);
	}
	if (cfg.threads > cfg.n_masters)
		cfg.threads = cfg.n_masters;
	signal(SIGPIPE, SIG_IGN);
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);

	struct master *ms = calloc(cfg.n_masters, sizeof(*ms));
	struct dm_thread *ts = calloc(cfg.threads, sizeof(*ts));
	if (ms == NULL || ts == NULL)
		return 1;
	for (uint32_t i = 0; i < cfg.n_masters; i++) {
		struct master *m = &ms[i];
		m->id = cfg.base + i;
		m->fd = -1;
		m->next_send = 1;
		m->low_unacked = 1;
		m->last_seq = cfg.signals;
		dm_positions_init(&m->pos, m->id);
		struct proto_creds hk, ek;
		if (proto_creds_derive(cfg.seed, m->id, &m->k) != 0 ||
		    proto_creds_derive(cfg.hmac_seed != NULL ? cfg.hmac_seed : cfg.seed, m->id,
				       &hk) != 0 ||
		    proto_creds_derive(cfg.ed_seed != NULL ? cfg.ed_seed : cfg.seed, m->id,
				       &ek) != 0 ||
		    proto_hmac_key_init(&m->hk, hk.secret, sizeof(hk.secret)) != 0 ||
		    (m->sk = proto_ed25519_key_new_private(ek.ed_seed)) == NULL) {
			fprintf(stderr, "decp-master: cannot derive keys (OpenSSL)\n");
			return 1;
		}
		m->sent_ns = calloc(cfg.signals + 2, sizeof(uint64_t));
		m->first_ns = calloc(cfg.signals + 2, sizeof(uint64_t));
		m->acked = calloc(cfg.signals + 2, 1);
		m->out = malloc(OUT_CAP);
		if (m->sent_ns == NULL || m->first_ns == NULL || m->acked == NULL || m->out == NULL) {
			fprintf(stderr, "decp-master: out of memory\n");
			return 1;
		}
		proto_frame_decoder_init(&m->dec, m->decbuf, sizeof(m->decbuf), PROTO_FRAME_MAX_DEFAULT);
	}
	uint32_t per = cfg.n_masters / cfg.threads, extra = cfg.n_masters % cfg.threads, at = 0;
	for (uint32_t i = 0; i < cfg.threads; i++) {
		struct dm_thread *t = &ts[i];
		t->cfg = &cfg;
		t->m = &ms[at];
		t->n = per + (i < extra ? 1 : 0);
		at += t->n;
		t->rate = cfg.rate == 0 ? 0 : (cfg.rate * t->n + cfg.n_masters - 1) / cfg.n_masters;
		t->cap_lat = (size_t)t->n * cfg.signals;
		t->lat = malloc(t->cap_lat * sizeof(uint64_t));
		t->ep = epoll_create1(EPOLL_CLOEXEC);
		if (t->lat == NULL || t->ep < 0) {
			fprintf(stderr, "decp-master: out of memory\n");
			return 1;
		}
	}
	struct timespec c0, c1;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
	uint64_t t_start = mono_ns();
	for (uint32_t i = 0; i < cfg.threads; i++)
		if (pthread_create(&ts[i].th, NULL, thread_main, &ts[i]) != 0) {
			fprintf(stderr, "decp-master: cannot start threads\n");
			return 1;
		}
	struct dm_stats tot;
	memset(&tot, 0, sizeof(tot));
	size_t n_lat = 0;
	int refused = 0;
	uint64_t first_tx = UINT64_MAX, last_ack = 0;
	for (uint32_t i = 0; i < cfg.threads; i++) {
		pthread_join(ts[i].th, NULL);
		struct dm_stats *s = &ts[i].st;
		tot.acked += s->acked;
		tot.acked_by_hello += s->acked_by_hello;
		tot.dup_acks += s->dup_acks;
		tot.resent += s->resent;
		tot.busy += s->busy;
		tot.gaps += s->gaps;
		tot.server_lost += s->server_lost;
		tot.reconnects += s->reconnects;
		tot.ack_timeouts += s->ack_timeouts;
		tot.replaced += s->replaced;
		tot.failovers += s->failovers;
		tot.unavailable += s->unavailable;
		tot.sent += s->sent;
		tot.tls_full += s->tls_full;
		tot.tls_resumed += s->tls_resumed;
		tot.tls_failed += s->tls_failed;
		n_lat += ts[i].n_lat;
		refused |= ts[i].refused;
		if (ts[i].first_tx != 0 && ts[i].first_tx < first_tx)
			first_tx = ts[i].first_tx;
		if (ts[i].last_ack > last_ack)
			last_ack = ts[i].last_ack;
	}
	uint64_t t_end = mono_ns();
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
	uint64_t *lat = malloc((n_lat + 1) * sizeof(uint64_t));
	size_t k = 0;
	for (uint32_t i = 0; lat != NULL && i < cfg.threads; i++) {
		memcpy(lat + k, ts[i].lat, ts[i].n_lat * sizeof(uint64_t));
		k += ts[i].n_lat;
	}
	if (lat != NULL)
		qsort(lat, n_lat, sizeof(uint64_t), cmp_u64);
#define PCT(q) (n_lat == 0 || lat == NULL ? 0.0 : (double)lat[(size_t)((double)(n_lat - 1) * (q))] / 1000.0)
	uint64_t want = 0;     /* --signals per master, or what was sent before a stop */
	for (uint32_t i = 0; i < cfg.n_masters; i++)
		want += ms[i].last_seq;
	int stopped = atomic_load(&stop_flag) > 0;
	double secs = last_ack > first_tx && first_tx != UINT64_MAX ? (double)(last_ack - first_tx) / 1e9
								      : (double)(t_end - t_start) / 1e9;
	double cpu = (double)(c1.tv_sec - c0.tv_sec) + (double)(c1.tv_nsec - c0.tv_nsec) / 1e9;
	int status = refused ? 3 : tot.acked == want ? 0 : 1;
	if (!cfg.quiet || status != 0)
		printf("decp-master: masters=%u signals=%" PRIu64 " acked=%" PRIu64
		       " acked_by_helloack=%" PRIu64 " dup_acks=%" PRIu64 " sent=%" PRIu64
		       " resent=%" PRIu64 " nack_busy=%" PRIu64 " nack_gap=%" PRIu64
		       " server_lost=%" PRIu64 " reconnects=%" PRIu64 " ack_timeouts=%" PRIu64 " unavailable=%" PRIu64
		       " replaced=%" PRIu64 " failovers=%" PRIu64 " stopped=%d"
		       " tls_full=%" PRIu64 " tls_resumed=%" PRIu64 " tls_failed=%" PRIu64
		       " seconds=%.3f rate=%.0f/s"
		       " ack_p50_us=%.1f ack_p99_us=%.1f ack_p999_us=%.1f ack_max_us=%.1f"
		       " cpu_s=%.3f\n",
		       cfg.n_masters, want, tot.acked, tot.acked_by_hello, tot.dup_acks, tot.sent,
		       tot.resent, tot.busy, tot.gaps, tot.server_lost, tot.reconnects, tot.ack_timeouts,
		       tot.unavailable, tot.replaced, tot.failovers, stopped, tot.tls_full, tot.tls_resumed,
		       tot.tls_failed, secs,
		       secs > 0 ? (double)tot.acked / secs : 0.0, PCT(0.50), PCT(0.99), PCT(0.999),
		       PCT(1.0), cpu);
	fflush(stdout);
	free(lat);
	if (acked_file != NULL && write_acked(acked_file, ms, cfg.n_masters) != 0 && status == 0)
		status = 1;
	for (uint32_t i = 0; i < cfg.n_masters; i++) {
		proto_ed25519_key_free(ms[i].sk);
		free(ms[i].sent_ns);
		free(ms[i].first_ns);
		free(ms[i].acked);
		free(ms[i].out);
		dm_positions_free(&ms[i].pos);
		conn_end(&ms[i], 0);
		SSL_SESSION_free(ms[i].sess);
	}
	for (uint32_t i = 0; i < cfg.threads; i++) {
		free(ts[i].lat);
		close(ts[i].ep);
	}
	free(ms);
	free(ts);
	free(cfg.trades);
	SSL_CTX_free(cfg.tls);
	if (cfg.failover_log != NULL)
		fclose(cfg.failover_log);
	return status;
}
