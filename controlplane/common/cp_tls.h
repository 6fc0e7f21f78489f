/*
 * cp_tls: the TLS the control roles serve (the api's HTTPS, the fan-out's wss;
 * docs/security.md), set up in one place. libwebsockets terminates the TLS; this module
 * says how: TLS 1.3 only (1.2 and lower refused, as the dataplane's ingest does), no
 * renegotiation, ALPN http/1.1, and the certificate and key checked at start with a
 * message that names the file, rather than lws's generic "cannot create context".
 *
 * Threading: any thread (start-up and shutdown only).
 */
#ifndef DECP_CP_TLS_H
#define DECP_CP_TLS_H

struct lws_context_creation_info;
struct ssl_ctx_st;

/*
 * Make info (a server context being set up) serve TLS with cert (a PEM certificate or
 * chain) and key:
 *   - DO_SSL_GLOBAL_INIT, and DISABLE_OS_CA_CERTS: the roles verify no client certificate;
 *   - ssl_options_set: every version below TLS 1.3 off, no renegotiation (lws 4.1 has no
 *     minimum-version field; OpenSSL treats the mask as one);
 *   - alpn "http/1.1": lws 4.1 also speaks h2 when offered, and the api's replies and the
 *     fan-out's upgrade are written for HTTP/1.1 (an h2 /metrics of some 20 KiB stalled
 *     Prometheus's scrape);
 *   - provided_client_ssl_ctx = *no_client, a client SSL_CTX of ours, so that lws makes
 *     none of its own: it makes one per TLS context for client connections the roles never
 *     open, and with two TLS contexts in one process (the api beside the fan-out every
 *     time, the api's two workers now and then) one was never freed at exit
 *     (LeakSanitizer: an SSL_CTX and lws's 72-byte record of it). lws does not free a
 *     provided one: cp_tls_lws_server_done after lws_context_destroy.
 * cert and key must outlive the context. Returns 0, or -ENOMEM (*no_client NULL).
 */
int cp_tls_lws_server(struct lws_context_creation_info *info, const char *cert,
		      const char *key, struct ssl_ctx_st **no_client);

/* Free what cp_tls_lws_server made (NULL: nothing), after lws_context_destroy. */
void cp_tls_lws_server_done(struct ssl_ctx_st *no_client);

/*
 * Check that cert (a PEM certificate or chain) and key (its PEM private key) load and
 * match, logging a clear error under `role` when not. Returns 0, -ENOENT (a file
 * missing or unreadable), -EINVAL (not PEM, or the key does not match), -ENOMEM.
 */
int cp_tls_server_check(const char *role, const char *cert, const char *key);

/* The start-up warning of a role configured for plain text (what = "api_tls", ...). */
void cp_tls_warn_plain(const char *role, const char *what);

#endif
