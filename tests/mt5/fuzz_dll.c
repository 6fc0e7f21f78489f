/*
 * libFuzzer target: decp.dll's parsers of network bytes, built natively (decp_mt5_native),
 * on arbitrary input: the TCP framing, IngestFrame decoder and login proof from a
 * ServerChallenge (master side), the WebSocket upgrade response check and frame decoder,
 * and ServerMessage handling followed by a guard check (receiver side; a CopyPolicy is
 * applied to the guard and read back; a snapshot's kinds refused: re-sync is off there).
 * An input starting "\xffS" is a sequence of ServerMessages ([2-byte big-endian
 * length][message]...) fed in order to a fresh handle with re-sync by snapshot on (kinds
 * 9, 11, 12 collected, verified with the platform key of tests/mt5/mt5_vectors, a verified
 * one planned with a held copy, its actions read, ResyncDone built), so that whole
 * snapshots (seeds snapshot_seq*.bin) are mutated.
 * Nothing may crash or read out of bounds (ASan), every return must be a documented one,
 * no envelope whose signature does not verify may execute, and no snapshot but a genuine
 * one may verify.
 */
#include <stdlib.h>
#include <string.h>

#include "decp_dll.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* the master's public key of tests/mt5/mt5_vectors (RFC 8032 test 1) */
static const uint8_t pub[32] = {
	0xd7, 0x5a, 0x98, 0x01, 0x82, 0xb1, 0x0a, 0xb7, 0xd5, 0x4b, 0xfe, 0xd3, 0xc9, 0x64, 0x07, 0x3a,
	0x0e, 0xe1, 0x72, 0xf3, 0xda, 0xa6, 0x23, 0x25, 0xaf, 0x02, 0x1a, 0x68, 0xf7, 0x07, 0x51, 0x1a,
};

/* the platform's public key of tests/mt5/mt5_vectors (seed_platform) */
static uint8_t platform[32];

static void unhex(const char *h, uint8_t *out)
{
	for (int i = 0; i < 32; i++) {
		unsigned v = 0;

		for (int j = 0; j < 2; j++) {
			char c = h[2 * i + j];

			v = v * 16 + (unsigned)(c <= '9' ? c - '0' : c - 'a' + 10);
		}
		out[i] = (uint8_t)v;
	}
}

/* One ServerMessage on a re-sync handle (info[12], sym[40] filled); a verified snapshot
 * planned, its actions read, ResyncDone built. Aborts on an undocumented return. Returns
 * decp_rx_message's answer. */
static int32_t resync_message(int64_t h, const uint8_t *p, int32_t n, int64_t *info,
			      uint8_t *sym)
{
	int64_t act[13];
	uint8_t asym[40], out[256];
	int32_t k = decp_rx_message(h, p, n, 1, info, 12, sym, 40), np;

	if (!(k == DECP_E_MALFORMED || k == DECP_E_SNAPSHOT || k == DECP_E_BADSIG ||
	      (k >= 1 && k <= 12)))
		abort();
	if (k == DECP_E_SNAPSHOT && (info[2] < 1 || info[2] > 8))
		abort();
	if (k != 12)
		return k;
	/* verified: only the platform's key could have signed it */
	if (decp_rx_resync_held(h, 901, L"EURUSD", 1, 20, 108512, 0, 0) != 1)
		abort();
	np = decp_rx_resync_plan(h);
	if (np < 0)
		abort();
	for (int32_t i = 0; i < np; i++) {
		int32_t op = decp_rx_resync_action(h, i, act, 13, asym, sizeof(asym));

		if (op < 1 || op > 5 || memchr(asym, 0, sizeof(asym)) == NULL)
			abort();
	}
	if (decp_rx_resync_action(h, np, act, 13, asym, sizeof(asym)) != 0 ||
	    decp_rx_resync_done(h, out, sizeof(out)) <= 0)
		abort();
	return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t seed[32] = { 1 };
	static int64_t rx, master;
	int64_t info[12], verdict[16], view[12] = { 99999, 200001, 1, 10000, 1, 100000,
						     100000000, 0, 100000000, 1, 10, 10 };
	uint8_t sym[40], req[1024];
	int32_t n = size > 65536 ? 65536 : (int32_t)size, k;

	if (rx == 0) {
		unhex("fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", platform);
		rx = decp_rx_new(7, pub, 32, 0, 0);
		if (rx <= 0 || decp_ws_request(rx, L"h", 1, L"/", L"t", req, sizeof(req)) <= 0)
			abort();
		master = decp_master_new(7, seed, 1, seed, 32);
		if (master <= 0)
			abort();
	}
	if (size >= 2 && data[0] == 0xff && data[1] == 'S') {
		int64_t h = decp_rx_new(7, pub, 32, 0, 0);
		size_t off = 2;

		if (h <= 0 || decp_rx_resync(h, platform, 32) != DECP_OK)
			abort();
		while (off + 2 <= size) {
			size_t len = (size_t)data[off] << 8 | data[off + 1];

			off += 2;
			if (len > size - off)
				len = size - off;
			resync_message(h, data + off, (int32_t)len, info, sym);
			off += len;
		}
		decp_handle_free(h);
		return 0;
	}
	k = decp_frame_split(data, n, DECP_FRAME_MAX);
	if (!(k == DECP_E_MSGSIZE || (k >= 0 && k <= n)))
		abort();
	k = decp_ingest_decode(data, n, info, 4);
	if (!(k == DECP_E_MALFORMED || (k >= 1 && k <= 6)))
		abort();
	/* a proof exactly when the bytes are a challenge with a 32-byte nonce */
	if ((decp_master_login_proof(master, L"t", data, n, req, sizeof(req)) == 40) !=
	    (k == 6 && info[0] == 32))
		abort();
	k = decp_ws_decode(data, n, info, 4);
	if (!(k == DECP_E_MALFORMED || (k >= 0 && k <= n)))
		abort();
	k = decp_ws_response(rx, data, n);
	if (!(k == 0 || k == DECP_E_HANDSHAKE))
		abort(); /* a random key: a valid accept is out of reach */
	k = resync_message(rx, data, n, info, sym);
	if (k == 8) {
		/* a copy policy: applied (then in force), not newer, or refused */
		int64_t pi[16];
		uint8_t text[64];

		if (info[1] < -1 || info[1] > 1 ||
		    decp_rx_policy_info(rx, pi, 16, text, sizeof(text)) < 0 ||
		    (info[1] == 1 && pi[0] != info[0]) || memchr(text, 0, sizeof(text)) == NULL)
			abort();
	}
	if (k == 10 && (info[1] < -1 || info[1] > 1))
		abort(); /* a key announcement: accepted, already trusted or refused */
	if (k == 1) {
		k = decp_rx_check(rx, info[8] + 1000, view, 12, verdict, 16, sym, sizeof(sym));
		if (k == 0 && verdict[2] != 1)
			abort(); /* executed without a valid signature */
	}
	return 0;
}
