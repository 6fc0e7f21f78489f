/*
 * decp.dll's exports; the ABI contract is decp_dll.h. This file only adapts: MQL5 types
 * in, proto_wire / proto_frame / guard / decp_crypto / decp_ws calls, status codes out.
 */
#include "decp_dll.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _WIN32
#include <windows.h>
#endif

#include "decp_crypto.h"
#include "decp_dll_pvt.h"
#include "decp_resync.h"
#include "decp_ws.h"
#include "guard.h"
#include "guard_wire.h"
#include "proto_frame.h"
#include "proto_keyann_msg.h"
#include "proto_login_msg.h"
#include "proto_wire.h"

/* ------------------------------------------------------------------ handles -- */

/*
 * Handles index a fixed table; a handle is (kind << 40 | generation << 16 | slot), so a
 * stale or forged number is recognised (generation or kind mismatch) and never
 * dereferenced. Slots are claimed with a CAS: EAs in one terminal run in different
 * threads.
 */
struct slot {
	atomic_int kind;
	uint32_t gen;
	void *obj;
};

static struct slot table[SLOTS];

static int64_t handle_new(enum kind k, void *obj)
{
	for (int i = 0; i < SLOTS; i++) {
		int expected = K_FREE;

		if (atomic_compare_exchange_strong(&table[i].kind, &expected, K_BUSY)) {
			table[i].gen = (table[i].gen + 1) & 0xffffff;
			table[i].obj = obj;
			atomic_store(&table[i].kind, (int)k);
			return (int64_t)k << 40 | (int64_t)table[i].gen << 16 | i;
		}
	}
	return DECP_E_NOMEM;
}

void *decp_handle_get(int64_t h, enum kind k)
{
	int64_t slot = h & 0xffff;

	if (h <= 0 || slot >= SLOTS || (h >> 40) != k ||
	    atomic_load(&table[slot].kind) != (int)k ||
	    ((h >> 16) & 0xffffff) != (int64_t)table[slot].gen)
		return NULL;
	return table[slot].obj;
}

static void master_free(struct master *m)
{
	decp_ed25519_free(m->key);
	memset(m, 0, sizeof(*m)); /* the HMAC secret */
	free(m);
}

static void rx_free(struct rx *r)
{
	decp_resync_free(r->rs);
	decp_ed25519_free(r->key);
	decp_ed25519_free(r->prev);
	free(r);
}

static void obj_free(int k, void *obj)
{
	if (k == K_MASTER)
		master_free(obj);
	else
		rx_free(obj);
}

/* A new handle for obj; obj is freed when there is none. Returns the handle or the code. */
static int64_t handle_or_free(enum kind k, void *obj)
{
	int64_t h = handle_new(k, obj);

	if (h < 0)
		obj_free(k, obj);
	return h;
}

int32_t decp_handle_free(int64_t h)
{
	void *obj;
	int64_t slot = h & 0xffff;
	int k;

	if ((obj = decp_handle_get(h, K_MASTER)) != NULL)
		k = K_MASTER;
	else if ((obj = decp_handle_get(h, K_RX)) != NULL)
		k = K_RX;
	else
		return DECP_E_HANDLE;
	if (!atomic_compare_exchange_strong(&table[slot].kind, &k, K_BUSY))
		return DECP_E_HANDLE;
	obj_free(k, obj);
	table[slot].obj = NULL;
	atomic_store(&table[slot].kind, K_FREE);
	return DECP_OK;
}

/* ----------------------------------------------------------------- helpers -- */

/* Maps a negative errno of the modules below to a DECP_E_* code. */
int32_t decp_status_of(long rc)
{
	switch (rc) {
	case -ENOBUFS: return DECP_E_NOBUFS;
	case -EMSGSIZE: return DECP_E_MSGSIZE;
	case -EBADMSG: return DECP_E_BADSIG;
	case -EPROTO: return DECP_E_MALFORMED;
	case -ENOMEM: return DECP_E_NOMEM;
	case -EIO: return DECP_E_CRYPTO;
	case -ECONNREFUSED: return DECP_E_HANDSHAKE;
	default: return rc >= 0 ? (int32_t)rc : DECP_E_INVAL;
	}
}

/* A buffer argument: non-NULL with 0 <= len (NULL allowed only when len == 0). */
bool decp_buf_ok(const void *p, int32_t len)
{
	return len >= 0 && (p != NULL || len == 0);
}

/* MQL5 string (UTF-16) -> ASCII: printable characters only (0x20..0x7e when spaces are
 * allowed, else 0x21..0x7e), 0..cap-1 of them, NUL-terminated. Returns the length or -1. */
int decp_ascii_of(const wchar_t *w, char *out, size_t cap, bool spaces)
{
	size_t n = 0;

	if (w == NULL)
		return -1;
	for (; w[n] != 0; n++) {
		if (n + 1 >= cap || w[n] > 0x7e || w[n] < (spaces ? 0x20 : 0x21))
			return -1;
		out[n] = (char)w[n];
	}
	out[n] = '\0';
	return (int)n;
}

/* Frames a payload with the 4-byte length prefix (proto_frame) into out. */
int32_t decp_tcp_frame(const uint8_t *payload, int n, uint8_t *out, int32_t cap)
{
	if (n < 0)
		return decp_status_of(n);
	return decp_status_of(proto_frame_encode(out, (size_t)cap, payload, (size_t)n));
}

/* Wraps a ClientMessage payload into a masked binary WebSocket frame. */
int32_t decp_ws_frame(const uint8_t *payload, int n, uint8_t *out, int32_t cap)
{
	uint8_t mask[4];

	if (n < 0)
		return decp_status_of(n);
	decp_random(mask, sizeof(mask));
	return decp_status_of(decp_ws_frame_encode(2, payload, (size_t)n, mask, out, (size_t)cap));
}

static int32_t copy_name(const char *s, uint8_t *out, int32_t cap)
{
	size_t n = strlen(s);

	if (!decp_buf_ok(out, cap) || out == NULL)
		return DECP_E_INVAL;
	if ((size_t)cap < n + 1)
		return DECP_E_NOBUFS;
	memcpy(out, s, n + 1);
	return (int32_t)n;
}

/* ------------------------------------------------------------------ general -- */

int32_t decp_version(void)
{
	return DECP_DLL_VERSION;
}

int64_t decp_guard_pip(const char *master_symbol)
{
	const struct guard_instrument *in =
		guard_instrument_find(guard_instruments_builtin(), master_symbol);

	return in != NULL ? in->pip : 0;
}

int64_t decp_pip(const wchar_t *symbol)
{
	char sym[GUARD_SYMBOL_MAX];

	if (decp_ascii_of(symbol, sym, sizeof(sym), false) < 1)
		return DECP_E_INVAL;
	return decp_guard_pip(sym);
}

int64_t decp_now_ns(void)
{
#ifdef _WIN32
	FILETIME ft;
	ULARGE_INTEGER u;

	GetSystemTimePreciseAsFileTime(&ft);
	u.LowPart = ft.dwLowDateTime;
	u.HighPart = ft.dwHighDateTime;
	/* 100 ns ticks since 1601 -> ns since 1970 */
	return ((int64_t)u.QuadPart - INT64_C(116444736000000000)) * 100;
#else
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
#endif
}

int32_t decp_strerror(int32_t code, uint8_t *out, int32_t out_cap)
{
	static const char *const names[] = {
		"OK", "DECP_E_INVAL", "DECP_E_NOBUFS", "DECP_E_MSGSIZE", "DECP_E_MALFORMED",
		"DECP_E_BADSIG", "DECP_E_HANDLE", "DECP_E_NOMEM", "DECP_E_CRYPTO", "DECP_E_STATE",
		"DECP_E_HANDSHAKE", "DECP_E_SNAPSHOT",
	};

	if (code > 0 || code < -(int32_t)(sizeof(names) / sizeof(names[0]) - 1))
		return copy_name("?", out, out_cap);
	return copy_name(names[-code], out, out_cap);
}

/* ------------------------------------------------------------------- crypto -- */

int32_t decp_hmac_sha256(const uint8_t *key, int32_t key_len, const uint8_t *msg,
			 int32_t msg_len, uint8_t *mac, int32_t mac_cap)
{
	if (!decp_buf_ok(key, key_len) || !decp_buf_ok(msg, msg_len) || mac == NULL || mac_cap < 0)
		return DECP_E_INVAL;
	if (mac_cap < DECP_HMAC_LEN)
		return DECP_E_NOBUFS;
	if (decp_hmac_sha256_compute(key, (size_t)key_len, msg, (size_t)msg_len, mac) != 0)
		return key_len > (int32_t)DECP_CRYPTO_HMAC_KEY_MAX ? DECP_E_INVAL : DECP_E_CRYPTO;
	return DECP_HMAC_LEN;
}

int32_t decp_ed25519_public(const uint8_t *seed, int32_t seed_len, uint8_t *pub,
			    int32_t pub_cap)
{
	struct decp_ed25519 *k;

	if (seed == NULL || seed_len != DECP_ED25519_SEED_LEN || pub == NULL || pub_cap < 0)
		return DECP_E_INVAL;
	if (pub_cap < DECP_ED25519_PUB_LEN)
		return DECP_E_NOBUFS;
	if ((k = decp_ed25519_from_seed(seed)) == NULL)
		return DECP_E_CRYPTO;
	decp_ed25519_pub(k, pub);
	decp_ed25519_free(k);
	return DECP_ED25519_PUB_LEN;
}

int32_t decp_ed25519_sign(const uint8_t *seed, int32_t seed_len, const uint8_t *msg,
			  int32_t msg_len, uint8_t *sig, int32_t sig_cap)
{
	struct decp_ed25519 *k;
	int rc;

	if (seed == NULL || seed_len != DECP_ED25519_SEED_LEN || !decp_buf_ok(msg, msg_len) ||
	    sig == NULL || sig_cap < 0)
		return DECP_E_INVAL;
	if (sig_cap < DECP_ED25519_SIG_LEN)
		return DECP_E_NOBUFS;
	if ((k = decp_ed25519_from_seed(seed)) == NULL)
		return DECP_E_CRYPTO;
	rc = decp_ed25519_sign_msg(k, msg, (size_t)msg_len, sig);
	decp_ed25519_free(k);
	return rc == 0 ? DECP_ED25519_SIG_LEN : DECP_E_CRYPTO;
}

int32_t decp_ed25519_verify(const uint8_t *pub, int32_t pub_len, const uint8_t *msg,
			    int32_t msg_len, const uint8_t *sig, int32_t sig_len)
{
	struct decp_ed25519 *k;
	int rc;

	if (pub == NULL || pub_len != DECP_ED25519_PUB_LEN || !decp_buf_ok(msg, msg_len) ||
	    !decp_buf_ok(sig, sig_len))
		return DECP_E_INVAL;
	if ((k = decp_ed25519_from_public(pub)) == NULL)
		return DECP_E_BADSIG;
	rc = decp_ed25519_verify_msg(k, msg, (size_t)msg_len, sig, (size_t)sig_len);
	decp_ed25519_free(k);
	return rc == 0 ? DECP_OK : DECP_E_BADSIG;
}

/* ----------------------------------------------------------------- master -- */

int32_t decp_frame_split(const uint8_t *buf, int32_t len, int32_t max_payload)
{
	uint32_t n;

	if (!decp_buf_ok(buf, len) || max_payload < 1 || max_payload > DECP_FRAME_MAX)
		return DECP_E_INVAL;
	if (len < (int32_t)PROTO_FRAME_HDR_LEN)
		return 0;
	n = (uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 | (uint32_t)buf[2] << 8 | buf[3];
	if (n == 0 || n > (uint32_t)max_payload)
		return DECP_E_MSGSIZE;
	return len - (int32_t)PROTO_FRAME_HDR_LEN >= (int32_t)n ? (int32_t)(n + PROTO_FRAME_HDR_LEN)
								   : 0;
}

int64_t decp_master_new(int64_t master_id, const uint8_t *hmac_key, int32_t key_len,
			const uint8_t *seed, int32_t seed_len)
{
	struct master *m;

	if (master_id <= 0 || hmac_key == NULL || key_len < 1 ||
	    key_len > (int32_t)DECP_CRYPTO_HMAC_KEY_MAX || seed == NULL ||
	    seed_len != DECP_ED25519_SEED_LEN)
		return DECP_E_INVAL;
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return DECP_E_NOMEM;
	m->id = (uint64_t)master_id;
	memcpy(m->hmac_key, hmac_key, (size_t)key_len);
	m->hmac_len = (size_t)key_len;
	if ((m->key = decp_ed25519_from_seed(seed)) == NULL) {
		master_free(m);
		return DECP_E_CRYPTO;
	}
	return handle_or_free(K_MASTER, m);
}

int32_t decp_master_hello(int64_t master, const wchar_t *client_version, uint8_t *out,
			  int32_t out_cap)
{
	struct master *m = decp_handle_get(master, K_MASTER);
	char ver[PROTO_WIRE_TEXT_MAX + 1];
	uint8_t p[PROTO_WIRE_TEXT_MAX + 32];

	if (m == NULL)
		return DECP_E_HANDLE;
	if (decp_ascii_of(client_version, ver, sizeof(ver), true) < 0 || !decp_buf_ok(out, out_cap) ||
	    out == NULL)
		return DECP_E_INVAL;
	/* the login is proto/'s; this wrapper only converts the string */
	return decp_tcp_frame(p, proto_wire_hello_encode(m->id, ver, PROTO_PROTOCOL_VERSION, p,
						    sizeof(p)), out, out_cap);
}

int32_t decp_master_login_proof(int64_t master, const wchar_t *token, const uint8_t *challenge,
				int32_t len, uint8_t *out, int32_t out_cap)
{
	struct master *m = decp_handle_get(master, K_MASTER);
	struct proto_wire_msg c;
	char tok[PROTO_WIRE_TEXT_MAX + 1];
	uint8_t key[PROTO_LOGIN_KEY_LEN], msg[PROTO_LOGIN_MSG_LEN], proof[PROTO_LOGIN_PROOF_LEN];
	uint8_t p[PROTO_LOGIN_PROOF_LEN + 8];
	int tl;
	int32_t rc;

	if (m == NULL)
		return DECP_E_HANDLE;
	if (!decp_buf_ok(challenge, len) || !decp_buf_ok(out, out_cap) || out == NULL)
		return DECP_E_INVAL;
	tl = decp_ascii_of(token, tok, sizeof(tok), false);
	if (tl < 1)
		rc = DECP_E_INVAL;
	else if (proto_wire_ingest_decode(challenge, (size_t)len, &c) != PROTO_INGEST_CHALLENGE ||
		 c.bl[1] != PROTO_LOGIN_NONCE_LEN)
		rc = DECP_E_MALFORMED;
	/* The message is proto/'s builder (the bytes proto_login_proof HMACs); NULL binding:
	 * the EA has no TLS exporter (decp_dll.h). */
	else if (proto_login_message(c.b[1], c.bl[1], m->id, NULL, msg) != 0)
		rc = DECP_E_INVAL;
	else if (decp_sha256((const uint8_t *)tok, (size_t)tl, key) != 0 ||
		 decp_hmac_sha256_compute(key, sizeof(key), msg, sizeof(msg), proof) != 0)
		rc = DECP_E_CRYPTO;
	else
		rc = decp_tcp_frame(p, proto_wire_login_proof_encode(proof, sizeof(proof), p, sizeof(p)),
			       out, out_cap);
	/* the token and SHA-256(token), the login's secret (also a prefix of a refused one) */
	decp_wipe(tok, sizeof(tok));
	decp_wipe(key, sizeof(key));
	return rc;
}

int32_t decp_master_signal(int64_t master, int64_t sequence, const wchar_t *symbol,
			   int32_t order_type, int64_t volume, int64_t price, int64_t sl,
			   int64_t tp, int64_t position_ticket, int64_t master_time_ns,
			   int64_t expiration_ns, uint8_t *out, int32_t out_cap)
{
	struct master *m = decp_handle_get(master, K_MASTER);
	struct proto_wire_signal s = { 0 };
	uint8_t body[PROTO_SIGNAL_BODY_MAX], mac[DECP_HMAC_LEN], sig[DECP_ED25519_SIG_LEN];
	uint8_t p[PROTO_SIGNAL_BODY_MAX + 128];
	int n;

	if (m == NULL)
		return DECP_E_HANDLE;
	if (decp_ascii_of(symbol, s.symbol, sizeof(s.symbol), false) < 1 || sequence <= 0 ||
	    position_ticket <= 0 || !decp_buf_ok(out, out_cap) || out == NULL)
		return DECP_E_INVAL;
	s.master_id = m->id;
	s.sequence = (uint64_t)sequence;
	s.order_type = order_type;
	s.volume = volume;
	s.price = price;
	s.sl = sl;
	s.tp = tp;
	s.position_ticket = (uint64_t)position_ticket;
	s.master_time_ns = master_time_ns;
	s.expiration_ns = expiration_ns;
	n = proto_wire_signal_encode(&s, body, sizeof(body));
	if (n < 0)
		return decp_status_of(n);
	if (decp_hmac_sha256_compute(m->hmac_key, m->hmac_len, body, (size_t)n, mac) != 0 ||
	    decp_ed25519_sign_msg(m->key, body, (size_t)n, sig) != 0)
		return DECP_E_CRYPTO;
	return decp_tcp_frame(p, proto_wire_signed_encode(body, (size_t)n, mac, sizeof(mac), sig,
						     sizeof(sig), p, sizeof(p)), out, out_cap);
}

int32_t decp_master_heartbeat(int64_t time_ns, uint8_t *out, int32_t out_cap)
{
	uint8_t p[32];

	if (!decp_buf_ok(out, out_cap) || out == NULL)
		return DECP_E_INVAL;
	return decp_tcp_frame(p, proto_wire_heartbeat_encode(time_ns, p, sizeof(p)), out, out_cap);
}

int32_t decp_ingest_decode(const uint8_t *payload, int32_t len, int64_t *fields,
			   int32_t nfields)
{
	struct proto_wire_msg m;
	int k;

	if (!decp_buf_ok(payload, len) || fields == NULL || nfields < 4)
		return DECP_E_INVAL;
	memset(fields, 0, sizeof(*fields) * (size_t)nfields);
	k = proto_wire_ingest_decode(payload, (size_t)len, &m);
	if (k < 0)
		return DECP_E_MALFORMED;
	for (int i = 0; i < 4; i++)
		fields[i] = (int64_t)m.v[i + 1];
	if (k == PROTO_INGEST_CHALLENGE)
		fields[0] = (int64_t)m.bl[1]; /* the nonce itself stays in the payload */
	return k;
}

/* ---------------------------------------------------------------- receiver -- */

/* The guard's verifier (guard_verify.h): the trusted key, or during an announced overlap
 * the previous one. */
static int rx_verify(void *arg, const uint8_t *msg, size_t len, const uint8_t *sig,
		     size_t sig_len)
{
	struct rx *r = arg;
	int rc = decp_ed25519_verify_msg(r->key, msg, len, sig, sig_len);

	if (rc != 0 && r->prev != NULL && r->check_server_ns < r->prev_until_ns)
		rc = decp_ed25519_verify_msg(r->prev, msg, len, sig, sig_len);
	return rc;
}

/* A KeyAnnouncement (m: proto_wire's fields). info[1]: 1 accepted (info[2] the old key's
 * end), 0 the key already trusted, -1 refused (not signed by the trusted key, naming
 * another old key, malformed). */
static void rx_key_announcement(struct rx *r, const struct proto_wire_msg *m, int64_t *info)
{
	struct proto_keyann a = {.master_id = m->v[1], .valid_from_ns = (int64_t)m->v[4],
				 .overlap_until_ns = (int64_t)m->v[5]};
	uint8_t msg[PROTO_KEYANN_MSG_LEN];
	struct decp_ed25519 *nk;

	info[0] = (int64_t)m->v[1];
	info[1] = -1;
	if (m->v[1] != r->sub.master_id || m->bl[2] != sizeof(r->pub) ||
	    m->bl[3] != sizeof(r->pub))
		return;
	if (memcmp(m->b[3], r->pub, sizeof(r->pub)) == 0) {
		info[1] = 0;
		return;
	}
	memcpy(a.old_pub, m->b[2], sizeof(a.old_pub));
	memcpy(a.new_pub, m->b[3], sizeof(a.new_pub));
	if (!decp_ct_equal(a.old_pub, r->pub, sizeof(r->pub)) ||
	    proto_keyann_message(&a, msg) != 0 ||
	    decp_ed25519_verify_msg(r->key, msg, sizeof(msg), m->b[6], m->bl[6]) != 0 ||
	    (nk = decp_ed25519_from_public(a.new_pub)) == NULL)
		return;
	decp_ed25519_free(r->prev);
	r->prev = r->key;
	r->prev_until_ns = a.overlap_until_ns;
	r->key = nk;
	memcpy(r->pub, a.new_pub, sizeof(r->pub));
	info[1] = 1;
	info[2] = a.overlap_until_ns;
}

int64_t decp_rx_new(int64_t master_id, const uint8_t *master_pub, int32_t pub_len,
		    int64_t last_seq, int64_t ttl_ms)
{
	struct guard_verifier v;
	struct rx *r;

	if (master_id <= 0 || master_pub == NULL || pub_len != DECP_ED25519_PUB_LEN ||
	    last_seq < 0 || ttl_ms < 0 || ttl_ms > INT64_C(86400000))
		return DECP_E_INVAL;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return DECP_E_NOMEM;
	if ((r->key = decp_ed25519_from_public(master_pub)) == NULL) {
		rx_free(r);
		return DECP_E_CRYPTO;
	}
	memcpy(r->pub, master_pub, sizeof(r->pub));
	v.verify = rx_verify;
	v.key = r;
	guard_policy_init(&r->local);
	r->pol = r->local;
	guard_clock_init(&r->clk, 0);
	if (guard_sub_init(&r->sub, (uint64_t)master_id, &v, ttl_ms * GUARD_NS_PER_MS,
			   (uint64_t)last_seq) != 0) {
		rx_free(r);
		return DECP_E_INVAL;
	}
	return handle_or_free(K_RX, r);
}

/* The policy in force (decp_dll.h "Copy policy"): the server's narrowed by the local one,
 * or the local one while no server policy arrived. */
static void rx_policy_update(struct rx *r)
{
	struct guard_policy p;

	if (r->server.version == 0) {
		r->pol = r->local;
		return;
	}
	p = r->server;
	if (r->local_set) {
		if (r->local.max_deviation_pips_x100 < p.max_deviation_pips_x100)
			p.max_deviation_pips_x100 = r->local.max_deviation_pips_x100;
		if ((r->local.type_mask & GUARD_ORDER_BIT(GUARD_ORDER_BUY_LIMIT)) == 0)
			guard_policy_pending(&p, false);
		if (p.prefix[0] == '\0' && p.suffix[0] == '\0') {
			memcpy(p.prefix, r->local.prefix, sizeof(p.prefix));
			memcpy(p.suffix, r->local.suffix, sizeof(p.suffix));
		}
	}
	r->pol = p;
}

/* ServerMessage.copy_policy (m: proto_wire's member). info: version, 1 applied / 0 not
 * newer / -1 refused, subscription_id, master_id. */
static void rx_copy_policy(struct rx *r, const struct proto_wire_msg *m, int64_t *info)
{
	struct proto_wire_copy_policy w;
	struct guard_policy next;
	int rc;

	info[0] = (int64_t)m->v[3];
	info[1] = -1;
	info[2] = (int64_t)m->v[1];
	info[3] = (int64_t)m->v[2];
	if (m->v[2] != r->sub.master_id ||
	    proto_wire_copy_policy_decode(m->b[0], m->bl[0], &w) != 0 ||
	    guard_policy_from_wire(&w, &next) != 0)
		return;
	rc = guard_policy_apply(&r->server, &next);
	if (rc < 0)
		return;
	info[1] = rc;
	if (rc == 1) {
		r->subscription_id = w.subscription_id;
		rx_policy_update(r);
	}
}

int32_t decp_rx_policy(int64_t rx, int32_t lot_mode, int64_t lot_value, int32_t reverse,
		       int32_t copy_sl, int32_t copy_tp, int32_t pending,
		       int64_t max_dev_pips_x100, const wchar_t *prefix, const wchar_t *suffix)
{
	struct rx *r = decp_handle_get(rx, K_RX);
	struct guard_policy p;

	if (r == NULL)
		return DECP_E_HANDLE;
	if (lot_mode < GUARD_LOT_FIXED || lot_mode > GUARD_LOT_RISK_PERCENT || lot_value <= 0 ||
	    (reverse | copy_sl | copy_tp | pending) & ~1 || max_dev_pips_x100 <= 0)
		return DECP_E_INVAL;
	p = r->local;
	if (decp_ascii_of(prefix, p.prefix, sizeof(p.prefix), false) < 0 ||
	    decp_ascii_of(suffix, p.suffix, sizeof(p.suffix), false) < 0)
		return DECP_E_INVAL;
	p.lot_mode = (uint32_t)lot_mode;
	if (lot_mode == GUARD_LOT_FIXED)
		p.lot_fixed = lot_value;
	else if (lot_mode == GUARD_LOT_MULTIPLIER)
		p.lot_multiplier_milli = lot_value;
	else if (lot_mode == GUARD_LOT_EQUITY_RATIO)
		p.master_equity = lot_value;
	else
		p.risk_bp = lot_value;
	p.reverse = reverse;
	p.copy_sl = copy_sl;
	p.copy_tp = copy_tp;
	guard_policy_pending(&p, pending);
	p.max_deviation_pips_x100 = max_dev_pips_x100;
	r->local = p;
	r->local_set = true;
	rx_policy_update(r);
	return DECP_OK;
}

/* Appends "sep" and s to the text at *n (cut short at cap - 1, always NUL-terminated). */
static void text_add(char *t, size_t cap, size_t *n, const char *sep, const char *s)
{
	int k = snprintf(t + *n, cap - *n, "%s%s", sep, s);

	if (k > 0)
		*n = *n + (size_t)k < cap ? *n + (size_t)k : cap - 1;
}

/* A symbol list as " name=A,B" (nothing when empty). */
static void text_list(char *t, size_t cap, size_t *n, const char *name,
		      const char (*list)[GUARD_SYMBOL_MAX], uint32_t count)
{
	for (uint32_t i = 0; i < count; i++)
		text_add(t, cap, n, i == 0 ? name : ",", list[i]);
}

int64_t decp_rx_policy_info(int64_t rx, int64_t *info, int32_t ninfo, uint8_t *text,
			    int32_t text_cap)
{
	struct rx *r = decp_handle_get(rx, K_RX);
	const struct guard_policy *p;
	char *t = (char *)text;
	size_t n = 0, cap;

	if (r == NULL)
		return DECP_E_HANDLE;
	if (info == NULL || ninfo < 16 || text == NULL || text_cap < 1)
		return DECP_E_INVAL;
	p = &r->pol;
	memset(info, 0, sizeof(*info) * (size_t)ninfo);
	info[0] = (int64_t)p->version;
	info[1] = (int64_t)r->subscription_id;
	info[2] = p->lot_mode;
	info[3] = p->lot_fixed;
	info[4] = p->lot_multiplier_milli;
	info[5] = p->master_equity;
	info[6] = p->risk_bp;
	info[7] = p->reverse;
	info[8] = p->copy_sl;
	info[9] = p->copy_tp;
	info[10] = p->sync_modify;
	info[11] = p->type_mask;
	info[12] = p->max_deviation_pips_x100;
	info[13] = p->equity_floor;
	info[14] = p->max_drawdown_bp;
	info[15] = p->close_all_on_trip;
	cap = (size_t)text_cap;
	t[0] = '\0';
	text_add(t, cap, &n, "prefix=", p->prefix);
	text_add(t, cap, &n, " suffix=", p->suffix);
	for (uint32_t i = 0; i < p->map_count; i++) {
		text_add(t, cap, &n, i == 0 ? " map=" : ",", p->map[i].from);
		text_add(t, cap, &n, ">", p->map[i].to);
	}
	text_list(t, cap, &n, " allow=", p->allow, p->allow_count);
	text_list(t, cap, &n, " deny=", p->deny, p->deny_count);
	return (int64_t)p->version;
}

int32_t decp_ws_request(int64_t rx, const wchar_t *host, int32_t port, const wchar_t *path,
			const wchar_t *token, uint8_t *out, int32_t out_cap)
{
	struct rx *r = decp_handle_get(rx, K_RX);
	char h[DECP_WS_TEXT_MAX + 1], p[DECP_WS_TEXT_MAX + 1], t[DECP_WS_TEXT_MAX + 1];

	if (r == NULL)
		return DECP_E_HANDLE;
	if (decp_ascii_of(host, h, sizeof(h), false) < 1 || decp_ascii_of(path, p, sizeof(p), false) < 1 ||
	    decp_ascii_of(token, t, sizeof(t), false) < 1 || !decp_buf_ok(out, out_cap) || out == NULL)
		return DECP_E_INVAL;
	decp_ws_new_key(r->ws_key);
	return decp_status_of(decp_ws_make_request(r->ws_key, h, port, p, t, out, (size_t)out_cap));
}

int32_t decp_ws_response(int64_t rx, const uint8_t *buf, int32_t len)
{
	struct rx *r = decp_handle_get(rx, K_RX);

	if (r == NULL)
		return DECP_E_HANDLE;
	if (!decp_buf_ok(buf, len))
		return DECP_E_INVAL;
	if (r->ws_key[0] == '\0')
		return DECP_E_STATE;
	return decp_status_of(decp_ws_check_response(r->ws_key, buf, (size_t)len));
}

int32_t decp_ws_decode(const uint8_t *buf, int32_t len, int64_t *info, int32_t ninfo)
{
	struct decp_ws_frame f;
	long n;

	if (!decp_buf_ok(buf, len) || info == NULL || ninfo < 4)
		return DECP_E_INVAL;
	memset(info, 0, sizeof(*info) * (size_t)ninfo);
	n = decp_ws_frame_decode(buf, (size_t)len, &f);
	if (n <= 0)
		return n == 0 ? 0 : DECP_E_MALFORMED;
	info[0] = f.opcode;
	info[1] = (int64_t)f.payload_off;
	info[2] = (int64_t)f.payload_len;
	info[3] = f.fin;
	return (int32_t)n;
}

int32_t decp_ws_encode(int32_t opcode, const uint8_t *payload, int32_t len, uint8_t *out,
		       int32_t out_cap)
{
	uint8_t mask[4];

	if (!decp_buf_ok(payload, len) || !decp_buf_ok(out, out_cap) || out == NULL || opcode < 0)
		return DECP_E_INVAL;
	decp_random(mask, sizeof(mask));
	return decp_status_of(decp_ws_frame_encode((unsigned)opcode, payload, (size_t)len, mask, out,
					      (size_t)out_cap));
}

int32_t decp_rx_subscribe(int64_t rx, uint8_t *out, int32_t out_cap)
{
	struct rx *r = decp_handle_get(rx, K_RX);
	uint8_t p[32];
	uint64_t from;
	int32_t n;

	if (r == NULL)
		return DECP_E_HANDLE;
	if (!decp_buf_ok(out, out_cap) || out == NULL)
		return DECP_E_INVAL;
	/* re-sync on: snapshot = true (the fan-out sends a snapshot instead of a stale replay);
	 * after a range lost, from 0: live from the stream's end, once */
	from = r->range_lost ? 0 : guard_sub_next_sequence(&r->sub);
	n = decp_ws_frame(p, (r->rs != NULL ? proto_wire_subscribe_resync_encode
				     : proto_wire_subscribe_encode)(r->sub.master_id, from, p,
								    sizeof(p)),
			  out, out_cap);
	if (n > 0)
		r->range_lost = false;
	return n;
}

int32_t decp_rx_time_ping(int64_t rx, int64_t local_now_ns, uint8_t *out, int32_t out_cap)
{
	struct rx *r = decp_handle_get(rx, K_RX);
	uint8_t p[32];

	if (r == NULL)
		return DECP_E_HANDLE;
	if (!decp_buf_ok(out, out_cap) || out == NULL)
		return DECP_E_INVAL;
	return decp_ws_frame(p, proto_wire_time_ping_encode(local_now_ns, p, sizeof(p)), out, out_cap);
}

/* A new report id (decp_dll.h "Reports"): unique per subscriber account across runs. */
static uint64_t rx_report_id(struct rx *r, int64_t local_ns)
{
	if (r->report_base == 0)
		r->report_base = (uint64_t)(local_ns > 0 ? local_ns / 1000000 : 1) << 22;
	return r->report_base + ++r->report_n;
}

/* Keeps a report's ClientMessage until acknowledged (the oldest forgotten when full). */
static void rx_report_keep(struct rx *r, uint64_t id, const uint8_t *p, int n)
{
	struct report *k;

	if (n <= 0 || (size_t)n > sizeof(r->unacked[0].p))
		return;
	if (r->nunacked == DECP_RX_UNACKED_MAX) {
		memmove(&r->unacked[0], &r->unacked[1], sizeof(r->unacked[0]) * (DECP_RX_UNACKED_MAX - 1));
		r->nunacked--;
		r->forgotten++;
	}
	k = &r->unacked[r->nunacked++];
	k->id = id;
	k->len = (uint16_t)n;
	memcpy(k->p, p, (size_t)n);
}

/* ReportAck: forgets the report (acks come in sending order: the oldest, mostly).
 * Returns 1 when it was kept, 0 when unknown (a repeated ack, or forgotten). */
static int rx_report_acked(struct rx *r, uint64_t id)
{
	for (uint32_t i = 0; i < r->nunacked; i++) {
		if (r->unacked[i].id != id)
			continue;
		memmove(&r->unacked[i], &r->unacked[i + 1],
			sizeof(r->unacked[0]) * (r->nunacked - i - 1));
		r->nunacked--;
		r->acked++;
		return 1;
	}
	return 0;
}

/* Encodes a report (n: its ClientMessage length or an error), keeps it, frames it. */
static int32_t rx_report_send(struct rx *r, uint64_t id, const uint8_t *p, int n, uint8_t *out,
			      int32_t cap)
{
	int32_t rc = decp_ws_frame(p, n, out, cap);

	if (rc > 0)
		rx_report_keep(r, id, p, n);
	return rc;
}

/* The envelope as the guard wants it: trade fields from the signed body only; the
 * routing copies must agree with it (guard_signal.h). Copies body and signature. */
static int keep_envelope(struct rx *r, const struct proto_wire_msg *m,
			 const struct proto_wire_msg *ss)
{
	struct proto_wire_signal s;
	struct guard_envelope *e = &r->env;

	if (ss->b[1] == NULL || proto_wire_signal_parse(ss->b[1], ss->bl[1], &s) != 0 ||
	    s.master_id != m->v[3] || s.sequence != m->v[4] || ss->bl[3] > sizeof(r->sig))
		return -1;
	memset(e, 0, sizeof(*e));
	e->master_id = s.master_id;
	e->sequence = s.sequence;
	memcpy(e->symbol, s.symbol, sizeof(e->symbol));
	e->order_type = (uint32_t)s.order_type;
	e->volume = s.volume;
	e->price = s.price;
	e->sl = s.sl;
	e->tp = s.tp;
	e->position_ticket = s.position_ticket;
	e->master_time_ns = s.master_time_ns;
	e->expiration_ns = s.expiration_ns;
	e->server_arrival_ns = (int64_t)m->v[2];
	/* the fan-out's stamps: the guard's staleness attribution only (guard_signal.h) */
	e->fanout_send_ns = (int64_t)m->v[5];
	e->replay = m->v[6] != 0;
	memcpy(r->body, ss->b[1], ss->bl[1]);
	e->body = r->body;
	e->body_len = ss->bl[1];
	if (ss->bl[3] != 0)
		memcpy(r->sig, ss->b[3], ss->bl[3]);
	e->sig = r->sig;
	e->sig_len = ss->bl[3];
	r->pending = true;
	return 0;
}

/* Error{CODE_RANGE, "range not retained: master=M from=F first_available=A"} (the text is
 * docs/fanout.md's contract): the signals from F on are trimmed and can never come, so
 * subscribing again from the guard's next sequence would be answered the same, for ever,
 * and this master's signals would never reach the account. The guard leaves SYNCED (the
 * signals since F are history it never gets) and the next Subscribe asks from 0, so that
 * the SyncEnd after it continues the guard at the stream's end (decp-subscriber does the
 * same, docs/fanout.md "Resume from before the retained range"). info: code, F, A, 1. */
static void rx_range_lost(struct rx *r, const struct proto_wire_msg *m, int64_t *info)
{
	unsigned long long master, from, first;
	char text[128];
	size_t n;

	if (m->v[1] != 11 /* Error.CODE_RANGE */ || m->b[2] == NULL)
		return;
	n = m->bl[2] < sizeof(text) - 1 ? m->bl[2] : sizeof(text) - 1;
	memcpy(text, m->b[2], n);
	text[n] = 0;
	if (sscanf(text, "range not retained: master=%llu from=%llu first_available=%llu",
		   &master, &from, &first) != 3 || master != r->sub.master_id)
		return;
	if (r->sub.st.state == GUARD_STATE_SYNCED)
		(void)guard_sub_set_state(&r->sub, GUARD_STATE_DEGRADED_GAP);
	r->replaying = false;
	r->range_lost = true;
	info[1] = (int64_t)from;
	info[2] = (int64_t)first;
	info[3] = 1;
}

int32_t decp_rx_message(int64_t rx, const uint8_t *payload, int32_t len, int64_t local_now_ns,
			int64_t *info, int32_t ninfo, uint8_t *symbol, int32_t sym_cap)
{
	struct rx *r = decp_handle_get(rx, K_RX);
	struct proto_wire_msg m, ss;
	int k;

	if (r == NULL)
		return DECP_E_HANDLE;
	if (!decp_buf_ok(payload, len) || info == NULL || ninfo < 12 || symbol == NULL ||
	    sym_cap < DECP_SYMBOL_MAX)
		return DECP_E_INVAL;
	memset(info, 0, sizeof(*info) * (size_t)ninfo);
	symbol[0] = 0;
	r->msg_ns = local_now_ns;
	k = proto_wire_server_decode(payload, (size_t)len, &m, &ss);
	switch (k) {
	case PROTO_SERVER_ENVELOPE: {
		const struct guard_envelope *e = &r->env;

		r->pending = false;
		if (keep_envelope(r, &m, &ss) != 0)
			return DECP_E_MALFORMED;
		if (guard_policy_map_symbol(&r->pol, e->symbol, (char *)symbol, (size_t)sym_cap) < 0)
			symbol[0] = 0;
		info[0] = (int64_t)e->master_id;
		info[1] = (int64_t)e->sequence;
		info[2] = e->order_type;
		info[3] = e->volume;
		info[4] = e->price;
		info[5] = e->sl;
		info[6] = e->tp;
		info[7] = (int64_t)e->position_ticket;
		info[8] = e->server_arrival_ns;
		info[9] = e->expiration_ns;
		info[10] = e->master_time_ns;
		info[11] = r->replaying || e->replay;
		if (ninfo >= 13)
			info[12] = decp_guard_pip(e->symbol);
		break;
	}
	case PROTO_SERVER_SYNC_START:
		if (m.v[1] == r->sub.master_id)
			r->replaying = m.v[2] != 0;
		break;
	case PROTO_SERVER_SYNC_END:
		if (m.v[1] == r->sub.master_id) {
			r->replaying = false;
			/* a snapshot's DEGRADED_GAP ends only with its reconciliation */
			if (r->sub.st.state == GUARD_STATE_DEGRADED_GAP && !r->snap_gap)
				guard_sub_sync_complete(&r->sub, m.v[2]);
		}
		break;
	case PROTO_SERVER_TIME_PONG: {
		int64_t now = 0, err = 0;

		if (guard_clock_add_sample(&r->clk, (int64_t)m.v[1], (int64_t)m.v[2],
					   (int64_t)m.v[3], local_now_ns) != 0)
			return DECP_E_MALFORMED;
		guard_clock_server_now(&r->clk, local_now_ns, &now, &err);
		info[0] = now - local_now_ns;
		info[1] = 2 * err;
		break;
	}
	case PROTO_SERVER_STATE_CHANGE:
		break;
	case PROTO_SERVER_ERROR:
		for (int i = 0; i < 5; i++)
			info[i] = (int64_t)m.v[i + 1];
		rx_range_lost(r, &m, info);
		return k;
	case PROTO_SERVER_KEY_ANNOUNCEMENT:
		rx_key_announcement(r, &m, info);
		break;
	case PROTO_SERVER_REPORT_ACK:
		info[0] = (int64_t)m.v[1];
		info[1] = rx_report_acked(r, m.v[1]);
		break;
	case PROTO_SERVER_COPY_POLICY:
		rx_copy_policy(r, &m, info);
		break;
	case PROTO_SERVER_SNAPSHOT_BEGIN:
	case PROTO_SERVER_SNAPSHOT_PART:
	case PROTO_SERVER_SNAPSHOT_END:
		return decp_rx_snapshot(r, k, &m, info);
	default:
		return DECP_E_MALFORMED;
	}
	if (k == PROTO_SERVER_SYNC_START || k == PROTO_SERVER_SYNC_END ||
	    k == PROTO_SERVER_STATE_CHANGE)
		for (int i = 0; i < 5; i++)
			info[i] = (int64_t)m.v[i + 1];
	return k;
}

/* The EA's view of a subscriber symbol (decp_rx_check's view[0..8]: quote, volume spec,
 * wallet, equity; view[13]: the contract size); the position fields are decp_rx_check's
 * own, view[12] (the symbol's quote rate) the caller's. */
int decp_view_of(const int64_t *view, int32_t nview, int64_t local_now_ns,
		 struct guard_view *v)
{
	if ((nview >= 13 && view[12] < 0) || (nview >= 14 && view[13] < 0))
		return -1;
	memset(v, 0, sizeof(*v));
	v->local_now_ns = local_now_ns;
	v->quote.bid = view[0];
	v->quote.ask = view[1];
	v->spec.vol_min = view[2];
	v->spec.vol_max = view[3];
	v->spec.vol_step = view[4];
	v->spec.pip_value = view[5];
	v->wallet.balance = view[6];
	v->wallet.reserved = view[7];
	v->equity = view[8];
	v->spec.contract = nview >= 14 ? view[13] : 0;
	return 0;
}

void decp_rx_ask_owe(struct rx *r, uint64_t from, int64_t due_ns, int64_t now_ns)
{
	if (r->rs == NULL || from == 0)
		return;
	/* an ask not answered for DECP_RX_RESYNC_ASK_AGAIN_MS gives way to the newer signal's
	 * (as decp-subscriber's resync_ask); else the earlier sequence stays, and since it
	 * arrived first it is old enough whenever the later one is */
	if (r->ask_from != 0 && !(r->ask_ns != 0 && now_ns - r->ask_ns >=
				  DECP_RX_RESYNC_ASK_AGAIN_MS * INT64_C(1000000))) {
		if (due_ns < r->ask_due_ns)
			r->ask_due_ns = due_ns;
		return;
	}
	r->ask_from = from;
	r->ask_due_ns = due_ns;
	r->ask_ns = 0;
}

/* After a check that consumed d's signal (last_seq moved): a signal used up without being
 * executed while nothing will bring the account back in line owes a re-sync from it
 * (docs/mt5.md "Receiver"):
 *  - refused stale (TTL_EXPIRED): askable at once when its measured age, less the
 *    estimate's error bound, is at least DECP_RX_RESYNC_ASK_AGE_MS; its age unknown (from
 *    the "future": the estimate proven wrong; no usable estimate) or younger, once that
 *    much local time has passed since this check (it arrived before it). Before, one from the "future" asked at once, and
 *    the fan-out may have answered with a replay (its limit is 250 ms), not a snapshot;
 *  - refused STATE_LOCKED while the guard is halted (LOCKED_NO_FUNDS, PAUSED_TOXIC,
 *    SUSPENDED_ADMIN: every signal is consumed, a CLOSE included): asked once the guard is
 *    SYNCED again (decp_rx_resync_ask), so a copy of a position the master closed meanwhile
 *    is closed and one he opened is copied. Before, nothing asked: the copy stayed open for
 *    ever after the funds returned;
 *  - refused INSUFFICIENT_FUNDS by the check that emptied the wallet into LOCKED_NO_FUNDS:
 *    the halt's first signal (an opening), owed as those after it; before, a halt whose
 *    only signal was that opening asked nothing, and the position was never copied. A
 *    refusal for funds below min_free_funds (no halt) owes nothing: the guard's decision. */
_Static_assert(DECP_RX_RESYNC_ASK_AGE_MS * INT64_C(1000000) == GUARD_RESYNC_ASK_AGE_NS,
	       "decp_dll.h's ask age is guard_resync_ask_at's");

static void rx_ask_after_check(struct rx *r, const struct guard_verdict *d, int64_t err,
			       int64_t now_ns)
{
	uint32_t before = d->state_before;

	if (d->reason == GUARD_REASON_TTL_EXPIRED)
		decp_rx_ask_owe(r, d->sequence, guard_resync_ask_at(d, err, now_ns), now_ns);
	else if ((d->reason == GUARD_REASON_STATE_LOCKED &&
		  (before == GUARD_STATE_LOCKED_NO_FUNDS || before == GUARD_STATE_PAUSED_TOXIC ||
		   before == GUARD_STATE_SUSPENDED_ADMIN)) ||
		 (d->reason == GUARD_REASON_INSUFFICIENT_FUNDS &&
		  before != GUARD_STATE_LOCKED_NO_FUNDS &&
		  r->sub.st.state == GUARD_STATE_LOCKED_NO_FUNDS))
		decp_rx_ask_owe(r, d->sequence, now_ns + GUARD_RESYNC_ASK_AGE_NS, now_ns);
}

int32_t decp_rx_check(int64_t rx, int64_t local_now_ns, const int64_t *view, int32_t nview,
		      int64_t *verdict, int32_t nverdict, uint8_t *order_symbol, int32_t sym_cap)
{
	struct rx *r = decp_handle_get(rx, K_RX);
	struct guard_view v;
	struct guard_verdict *d;
	uint64_t last_before;
	int64_t err = 0;

	if (r == NULL)
		return DECP_E_HANDLE;
	if (view == NULL || nview < 12 || verdict == NULL || nverdict < 16 ||
	    order_symbol == NULL || sym_cap < DECP_SYMBOL_MAX || (view[9] & ~INT64_C(1)) != 0)
		return DECP_E_INVAL;
	if (!r->pending)
		return DECP_E_STATE;
	if (decp_view_of(view, nview, local_now_ns, &v) != 0)
		return DECP_E_INVAL;
	v.position.open = view[9] != 0;
	v.position.volume = view[10];
	v.position.master_volume = view[11];
	v.account = r->acct; /* known only after decp_rx_account_state: the margin check */
	if (nview >= 13 && view[12] > 0)
		v.account.quote_rate = view[12]; /* this symbol's, as decp_rx_resync_quote's */
	/* guard's built-in instrument registry (the instruments table's seed, docs/guard.md);
	 * an ABI call to load the operator's registry is not there yet */
	v.instruments = guard_instruments_builtin();
	d = &r->verdict;
	r->pending = false;
	/* the previous key's overlap is on the server clock; none measured: it is over */
	if (guard_clock_server_now(&r->clk, local_now_ns, &r->check_server_ns, &err) != 0)
		r->check_server_ns = INT64_MAX;
	last_before = r->sub.st.last_seq;
	if (guard_signal_check(&r->sub, &r->pol, &r->clk, &r->env, &v, d) != 0)
		return DECP_E_INVAL;
	/* the estimate is proven wrong (a signal older than zero beyond its tolerance): drop
	 * it, so nothing is judged by it and DecpReceiver pings every second (st[16] -1)
	 * until a TimePong measures the clock again */
	if (d->clock_suspect)
		guard_clock_distrust(&r->clk);
	if (r->sub.st.last_seq != last_before)
		rx_ask_after_check(r, d, err, local_now_ns);
	r->checked = true;
	r->checked_env = r->env;
	memset(verdict, 0, sizeof(*verdict) * (size_t)nverdict);
	verdict[0] = d->reason;
	verdict[1] = d->filter;
	verdict[2] = d->authenticated;
	verdict[3] = d->order.type;
	verdict[4] = d->order.volume;
	verdict[5] = d->order.price;
	verdict[6] = d->order.sl;
	verdict[7] = d->order.tp;
	verdict[8] = (int64_t)d->order.master_ticket;
	verdict[9] = (int64_t)d->sequence;
	verdict[10] = d->order.expiration_ns;
	verdict[11] = d->age_ns;
	verdict[12] = d->deviation_pips_x100;
	verdict[13] = d->state_after;
	verdict[14] = (int64_t)d->expected_seq;
	verdict[15] = d->close_all;
	if (nverdict >= 17)
		verdict[16] = d->clock_suspect;
	order_symbol[0] = 0;
	if (d->reason == GUARD_REASON_NONE)
		memcpy(order_symbol, d->order.symbol, sizeof(d->order.symbol));
	return (int32_t)d->reason;
}

int32_t decp_rx_resync_ask(int64_t rx, int64_t local_now_ns, uint8_t *out, int32_t out_cap)
{
	struct rx *r = decp_handle_get(rx, K_RX);
	uint32_t state;
	uint8_t p[32];
	int32_t n;

	if (r == NULL)
		return DECP_E_HANDLE;
	if (!decp_buf_ok(out, out_cap) || out == NULL)
		return DECP_E_INVAL;
	state = r->sub.st.state;
	/* Not while a snapshot is received or verified but not reconciled (it answers it
	 * already); not while halted (a snapshot would be dropped unplanned: asked once the
	 * guard is SYNCED again); not during a replay (the fan-out refuses a Subscribe while
	 * its replay runs, Error{PROTOCOL}); not before the signal is old enough for the
	 * fan-out to answer with a snapshot; once per DECP_RX_RESYNC_ASK_AGAIN_MS. */
	if (r->rs == NULL || r->rs->phase != DECP_RESYNC_IDLE || r->ask_from == 0 ||
	    (state != GUARD_STATE_SYNCED && state != GUARD_STATE_DEGRADED_GAP) || r->replaying ||
	    local_now_ns < r->ask_due_ns ||
	    (r->ask_ns != 0 && local_now_ns - r->ask_ns < DECP_RX_RESYNC_ASK_AGAIN_MS * INT64_C(1000000)))
		return 0;
	n = decp_ws_frame(p, proto_wire_subscribe_resync_encode(r->sub.master_id, r->ask_from, p,
								 sizeof(p)),
			  out, out_cap);
	if (n > 0)
		r->ask_ns = local_now_ns != 0 ? local_now_ns : 1;
	return n;
}

/* The server-clock time of a local time (the guard's estimate; local when none). */
static int64_t server_time(const struct rx *r, int64_t local_ns)
{
	int64_t s;

	return guard_clock_server_now(&r->clk, local_ns, &s, NULL) == 0 ? s : local_ns;
}

int32_t decp_rx_report(int64_t rx, int32_t status, int64_t volume, int64_t price,
		       int64_t broker_ticket, int32_t retcode, int64_t profit,
		       int64_t exec_local_ns, uint8_t *out, int32_t out_cap)
{
	struct rx *r = decp_handle_get(rx, K_RX);
	struct proto_wire_exec_report e = { 0 };
	uint8_t p[256];

	if (r == NULL)
		return DECP_E_HANDLE;
	if (status < 1 || status > 6 || volume < 0 || price < 0 || !decp_buf_ok(out, out_cap) ||
	    out == NULL)
		return DECP_E_INVAL;
	if (!r->checked || r->verdict.reason != GUARD_REASON_NONE)
		return DECP_E_STATE;
	e.master_id = r->checked_env.master_id;
	e.sequence = r->checked_env.sequence;
	e.status = status;
	memcpy(e.symbol, r->verdict.order.symbol, sizeof(r->verdict.order.symbol));
	e.volume = volume;
	e.price = price;
	e.slippage_points = price != 0 && r->checked_env.price != 0 ? price - r->checked_env.price
								      : 0;
	e.broker_ticket = (uint64_t)broker_ticket;
	e.broker_retcode = retcode;
	e.realized_profit = profit;
	e.exec_time_ns = server_time(r, exec_local_ns);
	e.latency_ns = e.exec_time_ns - r->checked_env.server_arrival_ns;
	e.subscription_id = r->subscription_id;
	e.report_id = rx_report_id(r, exec_local_ns);
	return rx_report_send(r, e.report_id, p, proto_wire_exec_report_encode(&e, p, sizeof(p)),
			      out, out_cap);
}

int32_t decp_rx_protection(int64_t rx, int64_t local_now_ns, uint8_t *out, int32_t out_cap)
{
	struct rx *r = decp_handle_get(rx, K_RX);
	struct proto_wire_protection e = { 0 };
	uint8_t p[256];

	if (r == NULL)
		return DECP_E_HANDLE;
	if (!decp_buf_ok(out, out_cap) || out == NULL)
		return DECP_E_INVAL;
	if (!r->checked || r->verdict.reason == GUARD_REASON_NONE)
		return DECP_E_STATE;
	e.master_id = r->checked_env.master_id;
	e.sequence = r->checked_env.sequence;
	/* a forged signal is known only as that (guard_check.h) */
	e.reason = r->verdict.authenticated ? (int32_t)r->verdict.reason
					    : GUARD_REASON_INVALID_SIGNATURE;
	e.age_ns = r->verdict.age_ns;
	e.price_deviation_pips_x100 = r->verdict.deviation_pips_x100;
	e.event_time_ns = server_time(r, local_now_ns);
	e.expected_sequence = r->verdict.expected_seq;
	memcpy(e.detail, "decp.dll", sizeof("decp.dll"));
	e.subscription_id = r->subscription_id;
	/* the guard's claim, for TTL_EXPIRED only; the server checks it (docs/guard.md) */
	if (e.reason == GUARD_REASON_TTL_EXPIRED) {
		e.attribution = (int32_t)r->verdict.attribution;
		e.fanout_send_ns = r->checked_env.fanout_send_ns;
	}
	e.report_id = rx_report_id(r, local_now_ns);
	return rx_report_send(r, e.report_id, p, proto_wire_protection_encode(&e, p, sizeof(p)),
			      out, out_cap);
}

int32_t decp_rx_unacked(int64_t rx, int32_t index, uint8_t *out, int32_t out_cap)
{
	struct rx *r = decp_handle_get(rx, K_RX);

	if (r == NULL)
		return DECP_E_HANDLE;
	if (index < 0 || !decp_buf_ok(out, out_cap) || out == NULL)
		return DECP_E_INVAL;
	if ((uint32_t)index >= r->nunacked)
		return 0;
	return decp_ws_frame(r->unacked[index].p, r->unacked[index].len, out, out_cap);
}

int32_t decp_rx_account(int64_t rx, int64_t balance, int64_t reserved, int64_t equity)
{
	struct rx *r = decp_handle_get(rx, K_RX);
	struct guard_wallet w = { balance, reserved };
	int32_t bits = 0;

	if (r == NULL)
		return DECP_E_HANDLE;
	if (reserved < 0)
		return DECP_E_INVAL;
	if (guard_wallet_update(&r->sub, &w) == 1)
		bits |= 1;
	if (guard_equity_update(&r->sub, &r->pol, equity) == 1 && r->pol.close_all_on_trip)
		bits |= 2;
	return bits;
}

int32_t decp_rx_equity_restore(int64_t rx, int64_t peak_equity, int32_t tripped)
{
	struct rx *r = decp_handle_get(rx, K_RX);

	if (r == NULL)
		return DECP_E_HANDLE;
	if (peak_equity < 0 || (tripped != 0 && tripped != 1))
		return DECP_E_INVAL;
	if (peak_equity > r->sub.st.peak_equity)
		r->sub.st.peak_equity = peak_equity;
	if (tripped)
		r->sub.st.equity_tripped = 1;
	return DECP_OK;
}

int32_t decp_rx_account_state(int64_t rx, const wchar_t *currency, int32_t leverage,
			      int64_t balance, int64_t equity, int64_t margin, int64_t free_margin,
			      int32_t position_count, int64_t quote_rate)
{
	struct rx *r = decp_handle_get(rx, K_RX);
	struct guard_account a = {.known = true};
	int rc;

	if (r == NULL)
		return DECP_E_HANDLE;
	if (decp_ascii_of(currency, a.currency, sizeof(a.currency), false) != 3 || leverage < 1 ||
	    position_count < 0 || quote_rate < 0)
		return DECP_E_INVAL;
	a.leverage = (uint32_t)leverage;
	a.balance = balance;
	a.equity = equity;
	a.margin = margin;
	a.free_margin = free_margin;
	a.quote_rate = quote_rate;
	/* checks the account (guard_account_valid) and feeds equity protection */
	rc = guard_account_update(&r->sub, &r->pol, &a);
	if (rc < 0)
		return DECP_E_INVAL;
	r->acct = a;
	r->acct_positions = (uint32_t)position_count;
	return rc == 1 && r->pol.close_all_on_trip ? 2 : 0;
}

int32_t decp_rx_account_position(int64_t rx, int64_t master_id, int64_t master_ticket,
				 const wchar_t *symbol, int32_t type, int64_t volume, int64_t price,
				 int64_t sl, int64_t tp, int64_t profit)
{
	struct rx *r = decp_handle_get(rx, K_RX);
	struct proto_wire_account_position *p;

	if (r == NULL)
		return DECP_E_HANDLE;
	if (master_id < 0 || master_ticket < 0 || type < 0 || type > 9 || volume < 0 ||
	    price < 0 || sl < 0 || tp < 0)
		return DECP_E_INVAL;
	if (r->npos == DECP_RX_POSITIONS_MAX)
		return DECP_E_NOBUFS;
	p = &r->pos[r->npos];
	if (decp_ascii_of(symbol, p->symbol, sizeof(p->symbol), false) < 0)
		return DECP_E_INVAL;
	p->master_id = (uint64_t)master_id;
	p->master_ticket = (uint64_t)master_ticket;
	p->type = type;
	p->volume = volume;
	p->price = price;
	p->sl = sl;
	p->tp = tp;
	p->profit = profit;
	return (int32_t)++r->npos;
}

int32_t decp_rx_account_frame(int64_t rx, int64_t local_now_ns, uint8_t *out, int32_t out_cap)
{
	struct rx *r = decp_handle_get(rx, K_RX);
	struct proto_wire_account_state a;
	uint8_t p[1100];

	if (r == NULL)
		return DECP_E_HANDLE;
	if (!decp_buf_ok(out, out_cap) || out == NULL)
		return DECP_E_INVAL;
	if (!r->acct.known)
		return DECP_E_STATE;
	memset(&a, 0, sizeof(a));
	a.time_ns = local_now_ns;
	memcpy(a.currency, r->acct.currency, sizeof(a.currency));
	a.leverage = r->acct.leverage;
	a.balance = r->acct.balance;
	a.equity = r->acct.equity;
	a.margin = r->acct.margin;
	a.free_margin = r->acct.free_margin;
	a.position_count = r->acct_positions;
	a.n_positions = r->npos;
	memcpy(a.positions, r->pos, sizeof(r->pos[0]) * r->npos);
	r->npos = 0;
	return decp_ws_frame(p, proto_wire_account_state_encode(&a, p, sizeof(p)), out, out_cap);
}

int32_t decp_rx_state(int64_t rx, int64_t *st, int32_t n)
{
	struct rx *r = decp_handle_get(rx, K_RX);

	if (r == NULL)
		return DECP_E_HANDLE;
	if (st == NULL || n < 6)
		return DECP_E_INVAL;
	memset(st, 0, sizeof(*st) * (size_t)n);
	st[0] = (int64_t)r->sub.st.state;
	st[1] = (int64_t)r->sub.st.last_seq;
	st[2] = (int64_t)r->sub.st.last_executed_seq;
	st[3] = (int64_t)r->sub.st.executed;
	st[4] = (int64_t)guard_sub_next_sequence(&r->sub);
	for (int i = 0; i < GUARD_CLOCK_SAMPLES; i++)
		st[5] |= r->clk.s[i].used;
	{
		const struct decp_resync *rs = r->rs;
		int64_t err = -1;

		/* the best sample's error bound (rtt / 2), as the guard would use it */
		for (int i = 0; i < GUARD_CLOCK_SAMPLES; i++)
			if (r->clk.s[i].used && (err < 0 || r->clk.s[i].rtt_ns / 2 < err))
				err = r->clk.s[i].rtt_ns / 2;
		const int64_t more[] = { r->nunacked, (int64_t)r->acked, (int64_t)r->forgotten,
					 (int64_t)r->pol.version, r->sub.st.equity_tripped != 0,
					 rs ? rs->phase : 0, rs ? (int64_t)rs->verified : 0,
					 rs ? (int64_t)rs->refused : 0, rs ? (int64_t)rs->finished : 0,
					 r->sub.st.peak_equity, err };

		for (int i = 0; i < (int)(sizeof(more) / sizeof(more[0])) && 6 + i < n; i++)
			st[6 + i] = more[i];
	}
	return DECP_OK;
}
