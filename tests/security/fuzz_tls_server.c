/*
 * libFuzzer target: the TLS-record -> session path of dp_tls's server side (tls_fx.h: a
 * real worker, tables and certificates). The first input byte picks the case, the second
 * the chunk size, the rest is the payload:
 *   0  raw bytes from TCP into a fresh connection (ClientHello parser, record layer,
 *      the plaintext/TLS first-byte decision under tls = optional)
 *   1  an honest TLS 1.3 client (in memory) completes the handshake, then sends the
 *      payload as application data: fuzzed frames reach the session through real records
 *   2  the same handshake, then the payload injected as raw bytes after it (forged or
 *      truncated records, alerts, KeyUpdates out of place)
 * The first full handshake's ticket is kept and resumed in later runs (cheaper, and it
 * fuzzes resumption too). Seeds: tests/security/tls_server_seeds/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

#include "tls_fx.h"

static struct tls_fx fx;
static SSL_CTX *cctx;
static SSL_SESSION *ticket;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (cctx == NULL) {
		if (tls_fx_init(&fx, DP_TLS_OPTIONAL, DP_TLS_CLIENT_CERT_OPTIONAL, 10000) != 0)
			abort();
		cctx = tls_fx_client_ctx(&fx, TLS1_3_VERSION, TLS1_3_VERSION, 1);
		if (cctx == NULL)
			abort();
		tls_fx_remove_files(&fx); /* libFuzzer never returns to clean up */
	}
	if (size < 2)
		return 0;
	unsigned int mode = data[0] % 3;
	size_t chunk = (size_t)(data[1] % 128) * 32u + 1u;
	data += 2;
	size -= 2;
	for (unsigned int i = 0; i < fx.tables.rt_cap; i++)
		atomic_store(&fx.tables.rt[i].owner, 0);
	fx.now_ns += 1000000ull;
	struct tls_fx_conn c;
	if (tls_fx_open(&fx, &c, mode == 0 ? NULL : cctx, mode == 0 ? NULL : ticket) != 0)
		abort();
	if (mode != 0) {
		if (tls_fx_handshake(&c) != 0)
			abort(); /* an honest client must always get in */
		if (ticket == NULL) {
			uint8_t b[64];
			tls_fx_client_read(&c, b, sizeof(b)); /* take the NewSessionTicket */
			ticket = SSL_get1_session(c.c);
		}
	}
	while (size > 0) {
		size_t n = size < chunk ? size : chunk;
		int rc;
		if (mode == 1) {
			if (SSL_write(c.c, data, (int)n) <= 0)
				break;
			rc = tls_fx_pump(&c);
			uint8_t b[4096];
			tls_fx_client_read(&c, b, sizeof(b));
		} else {
			if (n > DP_SESSION_RX_CHUNK)
				n = DP_SESSION_RX_CHUNK;
			rc = tls_fx_raw(&c, data, n);
		}
		data += n;
		size -= n;
		fx.now_ns += 1000ull;
		if (rc != 0 || dp_tls_conn_tick(c.t, fx.now_ns) != 0)
			break;
	}
	tls_fx_close(&c);
	ERR_clear_error();
	return 0;
}
