/* cp_tls: TLS settings and start-up checks of the api and the fan-out (cp_tls.h). */
#include "cp_tls.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <libwebsockets.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "cp_log.h"

int cp_tls_lws_server(struct lws_context_creation_info *info, const char *cert,
		      const char *key, struct ssl_ctx_st **no_client)
{
	if ((*no_client = SSL_CTX_new(TLS_client_method())) == NULL)
		return -ENOMEM;
	info->options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT |
			 LWS_SERVER_OPTION_DISABLE_OS_CA_CERTS;
	info->ssl_cert_filepath = cert;
	info->ssl_private_key_filepath = key;
	info->ssl_options_set = (long)(SSL_OP_NO_SSLv3 | SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1 |
				       SSL_OP_NO_TLSv1_2 | SSL_OP_NO_RENEGOTIATION);
	info->alpn = "http/1.1";
	info->provided_client_ssl_ctx = *no_client;
	return 0;
}

void cp_tls_lws_server_done(struct ssl_ctx_st *no_client)
{
	SSL_CTX_free(no_client);
}

int cp_tls_server_check(const char *role, const char *cert, const char *key)
{
	char why[256] = "";
	int rc = 0;
	SSL_CTX *ctx;

	if (access(cert, R_OK) != 0 || access(key, R_OK) != 0) {
		int e = errno;
		cp_log(CP_LOG_ERR, role, "TLS: cannot read %s: %s ('decpctl tls init' makes a "
		       "certificate set)", access(cert, R_OK) != 0 ? cert : key, strerror(e));
		return -ENOENT;
	}
	ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL)
		return -ENOMEM;
	ERR_clear_error();
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		ERR_error_string_n(ERR_get_error(), why, sizeof(why));
		cp_log(CP_LOG_ERR, role, "TLS: %s is not a PEM certificate: %s", cert, why);
		rc = -EINVAL;
	} else if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		ERR_error_string_n(ERR_get_error(), why, sizeof(why));
		cp_log(CP_LOG_ERR, role, "TLS: %s is not the PEM key of %s: %s", key, cert, why);
		rc = -EINVAL;
	} else if (SSL_CTX_check_private_key(ctx) != 1) {
		cp_log(CP_LOG_ERR, role, "TLS: %s does not match the certificate %s", key, cert);
		rc = -EINVAL;
	}
	ERR_clear_error();
	SSL_CTX_free(ctx);
	return rc;
}

void cp_tls_warn_plain(const char *role, const char *what)
{
	cp_log(CP_LOG_WARN, role, "%s = off: serving PLAIN TEXT, bearer tokens and data travel "
	       "unencrypted; only for loopback or a network you trust (docs/security.md)", what);
}
