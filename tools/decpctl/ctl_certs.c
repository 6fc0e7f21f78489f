/* ctl_certs: local CA and certificates with OpenSSL's C API. Contract in ctl_certs.h. */
#include "ctl_certs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

static int ossl_fail(char *err, size_t errlen, const char *what)
{
	char why[256];
	unsigned long e = ERR_get_error();
	ERR_error_string_n(e, why, sizeof(why));
	snprintf(err, errlen, "%s: %s", what, e != 0 ? why : "failed");
	ERR_clear_error();
	return -EIO;
}

/* One v3 extension by its config-style value (issuer/subject for key identifiers). */
static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	X509_EXTENSION *ex = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (ex == NULL)
		return -1;
	int ok = X509_add_ext(cert, ex, -1);
	X509_EXTENSION_free(ex);
	return ok == 1 ? 0 : -1;
}

/* "DNS:a,IP:1.2.3.4,..." from the request; 0 or -1 when it does not fit. */
static int san_value(const struct ctl_cert_req *req, char *out, size_t cap)
{
	size_t used = 0;
	out[0] = '\0';
	if (req->kind == CTL_CERT_CLIENT) {
		int n = snprintf(out, cap, "URI:decp:master:%llu", (unsigned long long)req->master_id);
		return n > 0 && (size_t)n < cap ? 0 : -1;
	}
	for (int k = 0; k < 2; k++) {
		const char *const *list = k == 0 ? req->dns : req->ip;
		for (int i = 0; i < CTL_CERT_MAX_NAMES && list[i] != NULL; i++) {
			int n = snprintf(out + used, cap - used, "%s%s:%s", used > 0 ? "," : "",
					 k == 0 ? "DNS" : "IP", list[i]);
			if (n < 0 || (size_t)n >= cap - used)
				return -1;
			used += (size_t)n;
		}
	}
	return 0;
}

int ctl_certs_make(const struct ctl_cert_req *req, EVP_PKEY *issuer_key, X509 *issuer,
		   EVP_PKEY **key, X509 **cert, char *err, size_t errlen)
{
	char cn[80], san[1024];
	EVP_PKEY *k = NULL;
	X509 *c = NULL;
	BIGNUM *bn = NULL;
	int rc = -EIO;

	if (req->days < 1 || req->days > 36500 || (req->kind == CTL_CERT_CLIENT && req->master_id == 0) ||
	    (req->kind != CTL_CERT_CLIENT && (req->cn == NULL || req->cn[0] == '\0')) ||
	    (req->kind == CTL_CERT_CA) != (issuer == NULL) || (issuer == NULL) != (issuer_key == NULL)) {
		snprintf(err, errlen, "bad certificate request");
		return -EINVAL;
	}
	if (req->kind == CTL_CERT_CLIENT)
		snprintf(cn, sizeof(cn), "decp-master-%llu", (unsigned long long)req->master_id);
	else if (snprintf(cn, sizeof(cn), "%s", req->cn) >= (int)sizeof(cn)) {
		snprintf(err, errlen, "common name too long");
		return -EINVAL;
	}
	if (san_value(req, san, sizeof(san)) != 0) {
		snprintf(err, errlen, "too many or too long subject names");
		return -EINVAL;
	}
	ERR_clear_error();
	k = EVP_EC_gen("P-256");
	c = X509_new();
	bn = BN_new();
	if (k == NULL || c == NULL || bn == NULL) {
		rc = ossl_fail(err, errlen, "key generation");
		goto fail;
	}
	/* Random positive 127-bit serial (RFC 5280 §4.1.2.2: unique per CA, <= 20 bytes). */
	if (BN_rand(bn, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(c)) == NULL || X509_set_version(c, 2) != 1 ||
	    X509_gmtime_adj(X509_getm_notBefore(c), -3600) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(c), (int)req->days, 0, NULL) == NULL ||
	    X509_set_pubkey(c, k) != 1) {
		rc = ossl_fail(err, errlen, "certificate fields");
		goto fail;
	}
	X509_NAME *name = X509_get_subject_name(c);
	if (X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *)"decp", -1,
				       -1, 0) != 1 ||
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1,
				       0) != 1 ||
	    X509_set_issuer_name(c, issuer != NULL ? X509_get_subject_name(issuer) : name) != 1) {
		rc = ossl_fail(err, errlen, "certificate names");
		goto fail;
	}
	X509 *iss = issuer != NULL ? issuer : c;
	int bad = add_ext(c, iss, NID_subject_key_identifier, "hash") ||
		  add_ext(c, iss, NID_authority_key_identifier, "keyid:always");
	switch (req->kind) {
	case CTL_CERT_CA:
		bad = bad || add_ext(c, iss, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") ||
		      add_ext(c, iss, NID_key_usage, "critical,keyCertSign,cRLSign");
		break;
	case CTL_CERT_SERVER:
		bad = bad || add_ext(c, iss, NID_basic_constraints, "critical,CA:FALSE") ||
		      add_ext(c, iss, NID_key_usage, "critical,digitalSignature") ||
		      add_ext(c, iss, NID_ext_key_usage, "serverAuth");
		break;
	case CTL_CERT_CLIENT:
		bad = bad || add_ext(c, iss, NID_basic_constraints, "critical,CA:FALSE") ||
		      add_ext(c, iss, NID_key_usage, "critical,digitalSignature") ||
		      add_ext(c, iss, NID_ext_key_usage, "clientAuth");
		break;
	}
	if (!bad && san[0] != '\0')
		bad = add_ext(c, iss, NID_subject_alt_name, san);
	if (bad) {
		rc = ossl_fail(err, errlen, "certificate extensions");
		goto fail;
	}
	if (X509_sign(c, issuer_key != NULL ? issuer_key : k, EVP_sha256()) <= 0) {
		rc = ossl_fail(err, errlen, "signing");
		goto fail;
	}
	BN_free(bn);
	*key = k;
	*cert = c;
	return 0;
fail:
	BN_free(bn);
	X509_free(c);
	EVP_PKEY_free(k);
	return rc;
}

/* Open DIR/NAME.EXT for writing with mode; O_EXCL unless overwrite. */
static FILE *open_out(const char *dir, const char *name, const char *ext, mode_t mode,
		      bool overwrite, char *path, size_t cap)
{
	if (snprintf(path, cap, "%s/%s.%s", dir, name, ext) >= (int)cap) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (overwrite ? O_TRUNC : O_EXCL), mode);
	if (fd < 0)
		return NULL;
	if (fchmod(fd, mode) != 0) { /* an existing file keeps no wider mode */
		close(fd);
		return NULL;
	}
	FILE *f = fdopen(fd, "w");
	if (f == NULL)
		close(fd);
	return f;
}

int ctl_certs_write(const char *dir, const char *name, EVP_PKEY *key, X509 *cert,
		    bool overwrite, char *err, size_t errlen)
{
	char path[4096];
	FILE *f = open_out(dir, name, "key", 0600, overwrite, path, sizeof(path));
	if (f == NULL) {
		int e = errno;
		snprintf(err, errlen, "%s: %s", path, strerror(e));
		return -e;
	}
	int ok = PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) == 1;
	if (fclose(f) != 0 || !ok) {
		snprintf(err, errlen, "%s: cannot write the key", path);
		return -EIO;
	}
	f = open_out(dir, name, "crt", 0644, overwrite, path, sizeof(path));
	if (f == NULL) {
		int e = errno;
		snprintf(err, errlen, "%s: %s", path, strerror(e));
		return -e;
	}
	ok = PEM_write_X509(f, cert) == 1;
	if (fclose(f) != 0 || !ok) {
		snprintf(err, errlen, "%s: cannot write the certificate", path);
		return -EIO;
	}
	return 0;
}

int ctl_certs_read(const char *dir, const char *name, EVP_PKEY **key, X509 **cert, char *err,
		   size_t errlen)
{
	char path[4096];
	*key = NULL;
	*cert = NULL;
	for (int k = 0; k < 2; k++) {
		if (snprintf(path, sizeof(path), "%s/%s.%s", dir, name, k == 0 ? "key" : "crt") >=
		    (int)sizeof(path)) {
			snprintf(err, errlen, "%s: path too long", dir);
			goto fail;
		}
		FILE *f = fopen(path, "re");
		if (f == NULL) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			goto fail;
		}
		if (k == 0)
			*key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
		else
			*cert = PEM_read_X509(f, NULL, NULL, NULL);
		fclose(f);
		if ((k == 0 && *key == NULL) || (k == 1 && *cert == NULL)) {
			ossl_fail(err, errlen, path);
			goto fail;
		}
	}
	if (X509_check_private_key(*cert, *key) != 1) {
		snprintf(err, errlen, "%s/%s: key does not match the certificate", dir, name);
		goto fail;
	}
	return 0;
fail:
	EVP_PKEY_free(*key);
	X509_free(*cert);
	*key = NULL;
	*cert = NULL;
	ERR_clear_error();
	return -EINVAL;
}

int ctl_certs_init_dir(const char *dir, struct ctl_cert_req *srv, unsigned int ca_days,
		       bool overwrite, EVP_PKEY **ca_key, X509 **ca, char *err, size_t errlen)
{
	struct ctl_cert_req r = {.kind = CTL_CERT_CA, .cn = "decp local CA", .days = ca_days};
	EVP_PKEY *ck = NULL, *sk = NULL;
	X509 *cc = NULL, *sc = NULL;
	char why[400];
	int rc;

	if (srv->dns[0] == NULL)
		srv->dns[0] = "localhost";
	if (srv->ip[0] == NULL) {
		srv->ip[0] = "127.0.0.1";
		srv->ip[1] = "::1";
	}
	if ((rc = ctl_certs_make(&r, NULL, NULL, &ck, &cc, why, sizeof(why))) != 0) {
		snprintf(err, errlen, "CA: %s", why);
		goto done;
	}
	if ((rc = ctl_certs_make(srv, ck, cc, &sk, &sc, why, sizeof(why))) != 0) {
		snprintf(err, errlen, "server: %s", why);
		goto done;
	}
	if ((rc = ctl_certs_write(dir, "ca", ck, cc, overwrite, err, errlen)) != 0 ||
	    (rc = ctl_certs_write(dir, "server", sk, sc, overwrite, err, errlen)) != 0)
		goto done;
	if (ca_key != NULL && ca != NULL) {
		*ca_key = ck;
		*ca = cc;
		ck = NULL;
		cc = NULL;
	}
done:
	EVP_PKEY_free(ck);
	EVP_PKEY_free(sk);
	X509_free(cc);
	X509_free(sc);
	return rc;
}

int ctl_certs_crl_make(EVP_PKEY *ca_key, X509 *ca, const X509_CRL *prev, X509 *const *revoked,
		       size_t n, time_t last_update, unsigned int days, X509_CRL **crl, char *err,
		       size_t errlen)
{
	X509_CRL *c = X509_CRL_new();
	ASN1_TIME *t = NULL;
	time_t now = last_update != 0 ? last_update : time(NULL);
	bool ok = c != NULL && X509_CRL_set_version(c, X509_CRL_VERSION_2) == 1 &&
		  X509_CRL_set_issuer_name(c, X509_get_subject_name(ca)) == 1 &&
		  (t = ASN1_TIME_set(NULL, now)) != NULL && X509_CRL_set1_lastUpdate(c, t) == 1 &&
		  ASN1_TIME_adj(t, now, (int)days, 0) != NULL && X509_CRL_set1_nextUpdate(c, t) == 1;
	STACK_OF(X509_REVOKED) *old = prev != NULL ? X509_CRL_get_REVOKED((X509_CRL *)prev) : NULL;

	for (int i = 0; ok && i < sk_X509_REVOKED_num(old); i++)
		ok = X509_CRL_add0_revoked(c, X509_REVOKED_dup(sk_X509_REVOKED_value(old, i))) == 1;
	for (size_t i = 0; ok && i < n; i++) {
		const ASN1_INTEGER *serial = X509_get0_serialNumber(revoked[i]);
		X509_REVOKED *r;
		bool listed = false;

		for (int k = 0; k < sk_X509_REVOKED_num(X509_CRL_get_REVOKED(c)) && !listed; k++)
			listed = ASN1_INTEGER_cmp(X509_REVOKED_get0_serialNumber(sk_X509_REVOKED_value(
						  X509_CRL_get_REVOKED(c), k)), serial) == 0;
		if (listed)
			continue;
		/* the setters copy; OpenSSL 3.0 declares their arguments non-const */
		ASN1_INTEGER *sn = ASN1_INTEGER_dup(serial);
		ASN1_TIME *when = ASN1_TIME_dup(X509_CRL_get0_lastUpdate(c));

		ok = sn != NULL && when != NULL && (r = X509_REVOKED_new()) != NULL;
		if (ok && (X509_REVOKED_set_serialNumber(r, sn) != 1 ||
			   X509_REVOKED_set_revocationDate(r, when) != 1 ||
			   X509_CRL_add0_revoked(c, r) != 1)) {
			X509_REVOKED_free(r);
			ok = false;
		}
		ASN1_INTEGER_free(sn);
		ASN1_TIME_free(when);
	}
	ok = ok && X509_CRL_sort(c) == 1 && X509_CRL_sign(c, ca_key, EVP_sha256()) > 0;
	ASN1_TIME_free(t);
	if (!ok) {
		X509_CRL_free(c);
		return ossl_fail(err, errlen, "CRL");
	}
	*crl = c;
	return 0;
}

int ctl_certs_crl_write(const char *path, X509_CRL *crl, char *err, size_t errlen)
{
	char tmp[4096];
	FILE *f;
	int fd;
	bool ok;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
		snprintf(err, errlen, "%s: path too long", path);
		return -ENAMETOOLONG;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || (f = fdopen(fd, "w")) == NULL) {
		int e = errno;
		snprintf(err, errlen, "%s: %s", tmp, strerror(e));
		if (fd >= 0)
			close(fd);
		return -e;
	}
	ok = PEM_write_X509_CRL(f, crl) == 1;
	if (fclose(f) != 0 || !ok || rename(tmp, path) != 0) {
		snprintf(err, errlen, "%s: cannot write the CRL", path);
		unlink(tmp);
		return -EIO;
	}
	return 0;
}

int ctl_certs_crl_read(const char *path, X509_CRL **crl, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");

	*crl = NULL;
	if (f == NULL) {
		int e = errno;
		if (e != ENOENT)
			snprintf(err, errlen, "%s: %s", path, strerror(e));
		return -e;
	}
	*crl = PEM_read_X509_CRL(f, NULL, NULL, NULL);
	fclose(f);
	if (*crl == NULL) {
		snprintf(err, errlen, "%s: not a PEM X509 CRL", path);
		ERR_clear_error();
		return -EINVAL;
	}
	return 0;
}
