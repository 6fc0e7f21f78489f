/*
 * bench_tls: the dataplane's TLS cost on one core, in one process (tests/security/tls_fx.h:
 * a real worker, tables, certificates; an in-memory OpenSSL client). Only the server's
 * calls are timed (dp_tls_conn_input / dp_tls_conn_out, CLOCK_MONOTONIC around each), so the
 * figures are what one dataplane worker core spends (docs/perf.md "TLS"). Handshakes are
 * timed in thread CPU time (CLOCK_THREAD_CPUTIME_ID: preemption by other processes on a
 * shared machine is not counted), records with CLOCK_MONOTONIC (vDSO, ~20 ns).
 *
 *   full handshakes/s     ECDHE X25519 + ECDSA P-256 signature + ticket, per core
 *   resumptions/s         the same client resuming from its ticket (PSK + ECDHE)
 *   RX per signal         a record carrying K signal-sized payloads (SIG_BYTES of Heartbeat
 *                         frames each, so the session's own work is small: it decodes and
 *                         echoes them) decrypted into the session, next to the same
 *                         plaintext fed to a plaintext session; the difference / K is TLS
 *   TX per ACK            K Ack frames (one ACK ring burst) sealed as one record, / K
 *
 * usage: bench_tls [HANDSHAKES] [RECORDS]   (defaults 2000 and 20000). Build with
 * buildtype=release. Prints one line per figure: p50/p99/p99.9 of the per-operation time.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <rte_ring.h>

#include "bench_util.h"
#include "decp.pb-c.h"
#include "proto_msg.h"
#include "tls_fx.h"

#define SIG_BYTES 210u /* a SignedSignal frame as decp-master sends it */

static uint64_t *samples;

static void report(const char *what, uint64_t *v, size_t n, double div)
{
	qsort(v, n, sizeof(v[0]), bench_cmp_u64);
	double sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += (double)v[i];
	printf("%-44s n=%-6zu mean=%9.1f ns  p50=%9.1f  p99=%9.1f  p99.9=%9.1f\n", what, n,
	       sum / (double)n / div, (double)v[n / 2] / div, (double)v[(size_t)((double)(n - 1) * 0.99)] / div,
	       (double)v[(size_t)((double)(n - 1) * 0.999)] / div);
}

static uint64_t mono(void)
{
	return bench_mono_ns();
}

static int handshakes(struct tls_fx *fx, SSL_CTX *cc, size_t n, int resume)
{
	SSL_SESSION *ticket = NULL;
	struct tls_fx_conn c;
	if (resume) {
		if (tls_fx_open(fx, &c, cc, NULL) != 0 || tls_fx_handshake(&c) != 0)
			return -1;
		uint8_t b[64];
		tls_fx_client_read(&c, b, sizeof(b));
		ticket = SSL_get1_session(c.c);
		tls_fx_close(&c);
	}
	uint64_t t_all = 0;
	for (size_t i = 0; i < n; i++) {
		if (tls_fx_open(fx, &c, cc, ticket) != 0)
			return -1;
		fx->server_ns = 0;
		if (tls_fx_handshake(&c) != 0 || (resume && !SSL_session_reused(c.c)))
			return -1;
		samples[i] = fx->server_ns;
		t_all += fx->server_ns;
		if (resume) { /* the next reconnect uses the newest ticket, as decp-master does */
			uint8_t b[64];
			tls_fx_client_read(&c, b, sizeof(b));
			SSL_SESSION_free(ticket);
			ticket = SSL_get1_session(c.c);
		}
		tls_fx_close(&c);
	}
	SSL_SESSION_free(ticket);
	report(resume ? "resumption, server side" : "full handshake, server side", samples, n, 1.0);
	printf("%-44s %.0f per second per core (from the mean; %.0f from the p50)\n",
	       resume ? "resumptions" : "full handshakes", (double)n * 1e9 / (double)t_all,
	       1e9 / (double)samples[n / 2]);
	return 0;
}

/* A payload of k signal-sized pieces, each SIG_BYTES of Heartbeat frames. */
static size_t payload(uint8_t *out, size_t cap, unsigned int k)
{
	Decp__Heartbeat hb = DECP__HEARTBEAT__INIT;
	Decp__MasterFrame f = DECP__MASTER_FRAME__INIT;
	f.kind_case = DECP__MASTER_FRAME__KIND_HEARTBEAT;
	f.heartbeat = &hb;
	size_t len = 0;
	for (unsigned int s = 0; s < k; s++) {
		size_t piece = 0;
		while (piece + 20 <= SIG_BYTES) {
			hb.time_ns = 1700000000000000000ll + (int64_t)(len + piece);
			ssize_t n = proto_msg_frame_pack(&f.base, 4096, out + len + piece, cap - len - piece);
			if (n < 0)
				return 0;
			piece += (size_t)n;
		}
		len += piece;
	}
	return len;
}

static int rx(struct tls_fx *fx, SSL_CTX *cc, size_t records, unsigned int k)
{
	static uint8_t buf[64 * 1024];
	size_t len = payload(buf, sizeof(buf), k);
	struct tls_fx_conn c, p;
	if (len == 0 || tls_fx_open(fx, &c, cc, NULL) != 0 || tls_fx_handshake(&c) != 0 ||
	    tls_fx_send_hello(&c, 1, 1) != 0)
		return -1;
	uint8_t drop[512];
	tls_fx_client_read(&c, drop, sizeof(drop));
	/* The plaintext baseline: the same bytes into a session without TLS. */
	struct dp_tls *keep = fx->tls;
	fx->tls = NULL;
	if (tls_fx_open(fx, &p, NULL, NULL) != 0)
		return -1;
	fx->tls = keep;
	uint8_t hello[512];
	ssize_t hl = tls_fx_hello_frame(hello, sizeof(hello), 2, 2);
	if (hl < 0 || dp_tls_conn_input(p.t, hello, (size_t)hl, fx->now_ns, 0) != 0 ||
	    p.s->state != DP_SS_ACTIVE)
		return -1;
	const uint8_t *po;
	dp_tls_conn_out_consume(p.t, dp_tls_conn_out(p.t, &po));
	uint64_t *plain = calloc(records, sizeof(uint64_t));
	if (plain == NULL)
		return -1;
	for (size_t i = 0; i < records; i++) {
		fx->now_ns += 1000;
		if (SSL_write(c.c, buf, (int)len) != (int)len)
			return -1;
		uint8_t ct[70 * 1024];
		int n = BIO_read(c.net, ct, sizeof(ct));
		uint64_t t0 = mono();
		for (int off = 0; off < n;) {
			int m = n - off < (int)DP_SESSION_RX_CHUNK ? n - off : (int)DP_SESSION_RX_CHUNK;
			int rc = dp_tls_conn_input(c.t, ct + off, (size_t)m, fx->now_ns, (int64_t)fx->now_ns);
			if (rc != 0)
				return -1;
			off += m;
		}
		samples[i] = mono() - t0;
		t0 = mono();
		for (size_t off = 0; off < len;) {
			size_t m = len - off < DP_SESSION_RX_CHUNK ? len - off : DP_SESSION_RX_CHUNK;
			if (dp_tls_conn_input(p.t, buf + off, m, fx->now_ns, (int64_t)fx->now_ns) != 0)
				return -1;
			off += m;
		}
		plain[i] = mono() - t0;
		/* Heartbeats are echoed: take both sessions' replies (not timed here). */
		const uint8_t *o;
		size_t m;
		while ((m = dp_tls_conn_out(c.t, &o)) > 0)
			dp_tls_conn_out_consume(c.t, m);
		while ((m = dp_tls_conn_out(p.t, &o)) > 0)
			dp_tls_conn_out_consume(p.t, m);
		if (dp_tls_conn_stalled(c.t))
			return -1;
	}
	char what[96];
	snprintf(what, sizeof(what), "RX plaintext, per signal (%u per read)", k);
	report(what, plain, records, k);
	snprintf(what, sizeof(what), "RX TLS, per signal (%u per record)", k);
	report(what, samples, records, k);
	/* p50s: the means carry the shared machine's preemptions (p99.9 above). */
	printf("%-44s %.1f ns per signal (p50 TLS - p50 plaintext)\n", "  => TLS adds on RX",
	       ((double)samples[records / 2] - (double)plain[records / 2]) / k);
	free(plain);
	tls_fx_close(&p);
	tls_fx_close(&c);
	return 0;
}

static int tx(struct tls_fx *fx, SSL_CTX *cc, size_t records, unsigned int k)
{
	struct tls_fx_conn c;
	if (tls_fx_open(fx, &c, cc, NULL) != 0 || tls_fx_handshake(&c) != 0 ||
	    tls_fx_send_hello(&c, 1, 1) != 0)
		return -1;
	uint8_t drop[70 * 1024];
	tls_fx_client_read(&c, drop, sizeof(drop));
	uint64_t seq = 1;
	for (size_t i = 0; i < records; i++) {
		for (unsigned int j = 0; j < k; j++) {
			struct dp_ack_rec a = {.master_id = 1, .sequence = seq++,
					       .conn_id = c.s->conn_id, .status = DP_ACK_OK,
					       .arrival_ns = 1700000000000000000ll};
			if (rte_ring_enqueue_elem(fx->shm.ack[0], &a, sizeof(a)) != 0)
				return -1;
		}
		dp_worker_ack_poll(fx->w, k);
		const uint8_t *o;
		uint64_t t0 = mono();
		size_t n = dp_tls_conn_out(c.t, &o);
		samples[i] = mono() - t0;
		if (n == 0)
			return -1;
		dp_tls_conn_out_consume(c.t, n);
	}
	char what[96];
	snprintf(what, sizeof(what), "TX TLS seal, per ACK (%u ACKs per record)", k);
	report(what, samples, records, k);
	tls_fx_close(&c);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		printf("usage: bench_tls [HANDSHAKES] [RECORDS]\n"
		       "Server-side CPU of the dataplane's TLS 1.3 (dp_tls) on one core: full\n"
		       "handshakes and resumptions per second, RX cost per signal and TX cost per\n"
		       "ACK against plaintext. docs/perf.md \"TLS\".\n");
		return 0;
	}
	size_t nh = argc > 1 ? strtoul(argv[1], NULL, 10) : 2000;
	size_t nr = argc > 2 ? strtoul(argv[2], NULL, 10) : 20000;
	if (nh < 10 || nr < 10) {
		fprintf(stderr, "bench_tls: HANDSHAKES and RECORDS must be >= 10\n");
		return 2;
	}
	samples = calloc(nh > nr ? nh : nr, sizeof(uint64_t));
	struct tls_fx fx;
	if (samples == NULL || tls_fx_init(&fx, DP_TLS_REQUIRED, DP_TLS_CLIENT_CERT_NONE, 10000) != 0) {
		fprintf(stderr, "bench_tls: setup failed\n");
		return 1;
	}
	SSL_CTX *cc = tls_fx_client_ctx(&fx, TLS1_3_VERSION, TLS1_3_VERSION, 0);
	int rc = cc == NULL || handshakes(&fx, cc, nh, 0) != 0 || handshakes(&fx, cc, nh, 1) != 0;
	static const unsigned int ks[] = {1, 8, 64};
	for (size_t i = 0; rc == 0 && i < sizeof(ks) / sizeof(ks[0]); i++)
		rc = rx(&fx, cc, nr, ks[i]) != 0 || tx(&fx, cc, nr, ks[i]) != 0;
	if (rc != 0) {
		ERR_print_errors_fp(stderr);
		fprintf(stderr, "bench_tls: a step failed\n");
	}
	SSL_CTX_free(cc);
	tls_fx_fini(&fx);
	free(samples);
	return rc;
}
