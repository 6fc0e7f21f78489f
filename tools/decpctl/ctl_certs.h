/*
 * ctl_certs: a small certificate authority for decp's TLS (docs/decpctl.md "tls"), built
 * on OpenSSL's C API (no `openssl` command is run). `decpctl tls init` makes a local CA, the
 * dataplane's server certificate and one client certificate per master (mTLS); tests, the
 * demo and the fuzz target use it to get a certificate set of their own.
 *
 * Keys are ECDSA P-256 (cheap to sign with in a handshake, accepted by every TLS 1.3
 * client); certificates are X.509 v3 signed with SHA-256, with a random 128-bit serial.
 * A client certificate names its master twice: CN "decp-master-<id>" and SAN URI
 * "decp:master:<id>" (dp_tls_cert_master_id reads the URI first).
 *
 * Files written by ctl_certs_write: DIR/NAME.crt (PEM, mode 0644) and DIR/NAME.key (PEM,
 * unencrypted PKCS#8, mode 0600, created with O_EXCL unless overwrite). Any thread.
 */
#ifndef DECPCTL_CTL_CERTS_H
#define DECPCTL_CTL_CERTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

enum ctl_cert_kind {
	CTL_CERT_CA = 0,     /* CA:TRUE, keyCertSign + cRLSign, self-signed */
	CTL_CERT_SERVER = 1, /* serverAuth, SAN from dns[] / ip[] */
	CTL_CERT_CLIENT = 2, /* clientAuth, SAN URI decp:master:<master_id> */
};

#define CTL_CERT_MAX_NAMES 8

struct ctl_cert_req {
	enum ctl_cert_kind kind;
	const char *cn;                     /* subject CN (CLIENT: ignored, derived from id) */
	const char *dns[CTL_CERT_MAX_NAMES]; /* SERVER: DNS names, NULL-terminated list */
	const char *ip[CTL_CERT_MAX_NAMES];  /* SERVER: IPv4/IPv6 literals, NULL-terminated */
	uint64_t master_id;                  /* CLIENT: 1.. */
	unsigned int days;                   /* validity from now - 1 h; 1..36500 */
};

/*
 * Make a new P-256 key and a certificate for req, signed by issuer_key/issuer (both NULL
 * for a CA: self-signed). On success *key and *cert are the caller's (EVP_PKEY_free,
 * X509_free). Returns 0, or -EINVAL (bad request: message in err) / -EIO (OpenSSL failed:
 * its reason in err).
 */
int ctl_certs_make(const struct ctl_cert_req *req, EVP_PKEY *issuer_key, X509 *issuer,
		   EVP_PKEY **key, X509 **cert, char *err, size_t errlen);

/* Write DIR/NAME.crt and DIR/NAME.key (see above). Returns 0 or -errno (-EEXIST when a
 * file exists and !overwrite), message in err. */
int ctl_certs_write(const char *dir, const char *name, EVP_PKEY *key, X509 *cert,
		    bool overwrite, char *err, size_t errlen);

/* Read DIR/NAME.crt and DIR/NAME.key (the CA, to sign more certificates). Returns 0 or
 * -errno with a message in err. */
int ctl_certs_read(const char *dir, const char *name, EVP_PKEY **key, X509 **cert, char *err,
		   size_t errlen);

/*
 * What `decpctl tls init` writes (and tests use for a certificate set of their own): a new
 * CA (DIR/ca.crt, ca.key; valid ca_days) and a server certificate for srv (DIR/server.crt,
 * server.key: the dataplane's, the api's HTTPS and the fan-out's wss). srv->kind must be
 * CTL_CERT_SERVER; with no dns[] name it gets "localhost", with no ip[] "127.0.0.1" and
 * "::1" (srv is updated). When ca_key / ca are not NULL the CA is handed to the caller
 * (free them), to sign client certificates. DIR must exist. Returns 0 or a negative errno
 * with a message in err ("CA: ...", "server: ...", or ctl_certs_write's).
 */
int ctl_certs_init_dir(const char *dir, struct ctl_cert_req *srv, unsigned int ca_days,
		       bool overwrite, EVP_PKEY **ca_key, X509 **ca, char *err, size_t errlen);

/*
 * A CRL of the CA (ca_key, ca) revoking every entry of prev (NULL: none) and the certificates
 * revoked[0..n-1] (by serial; one already listed is not listed twice), lastUpdate at
 * last_update (0: now; a reissued CRL must be later than the one it replaces, to the
 * second), nextUpdate days later, signed with SHA-256. *crl is the caller's
 * (X509_CRL_free). Returns 0 or -EIO with OpenSSL's reason in err.
 */
int ctl_certs_crl_make(EVP_PKEY *ca_key, X509 *ca, const X509_CRL *prev, X509 *const *revoked,
		       size_t n, time_t last_update, unsigned int days, X509_CRL **crl, char *err,
		       size_t errlen);

/* Write crl as PEM to path (mode 0644), replacing it atomically (path.tmp, rename), so a
 * dataplane rereading it on SIGHUP never sees half a file. 0 or -errno with err. */
int ctl_certs_crl_write(const char *path, X509_CRL *crl, char *err, size_t errlen);

/* Read the first CRL of path (PEM) into *crl (the caller's). 0, -ENOENT (no file: *crl
 * NULL), or -EINVAL / -errno with err. */
int ctl_certs_crl_read(const char *path, X509_CRL **crl, char *err, size_t errlen);

#endif
