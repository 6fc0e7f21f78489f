/*
 * decpctl tls: certificates for decp's TLS 1.3: masters' connections, the api's HTTPS, the
 * fan-out's wss (docs/decpctl.md "tls").
 *
 *   decpctl tls init --dir DIR [--server-name NAME]... [--server-ip IP]... [--master ID]...
 *                    [--days N] [--force]
 *       a local CA (DIR/ca.crt, ca.key), the dataplane's certificate (DIR/server.crt,
 *       server.key) and a client certificate per --master (DIR/master-ID.crt, .key)
 *   decpctl tls client --dir DIR --master ID... [--days N] [--force]
 *       more client certificates signed by DIR's existing CA
 *   decpctl tls revoke --dir DIR --master ID... [--days N]
 *       DIR/ca.crl revokes those masters' certificates (decp-dataplane --tls-crl)
 *
 * Everything through OpenSSL's C API (ctl_certs.h). Keys are written mode 0600 and never
 * overwritten without --force. For demos, tests and small deployments; a production
 * deployment may use its own PKI: the dataplane only needs PEM files.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <openssl/pem.h>

#include "ctl_certs.h"
#include "ctl_cmd.h"

#define MAX_MASTERS 256

static void usage(FILE *f)
{
	fprintf(f,
		"usage: decpctl tls init --dir DIR [--server-name NAME]... [--server-ip IP]...\n"
		"                        [--master ID]... [--days N] [--force]\n"
		"       decpctl tls client --dir DIR --master ID... [--days N] [--force]\n"
		"       decpctl tls revoke --dir DIR --master ID... [--days N]\n\n"
		"Make the certificates of decp's TLS 1.3: masters' connections to the dataplane,\n"
		"the api's HTTPS and the fan-out's wss.\n"
		"init: a local CA (ca.crt, ca.key), the server certificate (server.crt,\n"
		"server.key) and one client certificate per --master\n"
		"(master-ID.crt, master-ID.key, naming the master: CN decp-master-ID and SAN URI\n"
		"decp:master:ID). client: more master certificates from DIR's existing CA.\n"
		"revoke: DIR/ca.crl, signed by DIR's CA, lists the masters' certificates (and\n"
		"everything it listed before), next update in --days; the dataplane's --tls-crl.\n\n"
		"  --dir DIR          output directory (created mode 0700 if missing)\n"
		"  --server-name NAME DNS name in the server certificate (repeatable; default\n"
		"                     localhost)\n"
		"  --server-ip IP     IP address in the server certificate (repeatable; default\n"
		"                     127.0.0.1 and ::1)\n"
		"  --master ID        a client certificate for master ID (repeatable, 1..2^53)\n"
		"  --days N           validity (default 825; CA: 3650)\n"
		"  --force            overwrite existing files\n"
		"  --help             this text\n\n"
		"Dataplane: --tls-cert DIR/server.crt --tls-key DIR/server.key\n"
		"           [--tls-client-ca DIR/ca.crt]; decp-master: --ca DIR/ca.crt\n"
		"           [--cert DIR/master-ID.crt --key DIR/master-ID.key].\n"
		"decp-control: api_cert / fanout_cert = DIR/server.crt, api_key / fanout_key =\n"
		"           DIR/server.key; clients (curl --cacert, decp-subscriber --ca): DIR/ca.crt.\n");
}

static int write_pair(const char *dir, const char *name, EVP_PKEY *k, X509 *c, bool force)
{
	char err[512];
	if (ctl_certs_write(dir, name, k, c, force, err, sizeof(err)) != 0) {
		fprintf(stderr, "decpctl tls: %s%s\n", err,
			strstr(err, "File exists") != NULL ? " (--force overwrites)" : "");
		return -1;
	}
	printf("wrote %s/%s.crt %s/%s.key\n", dir, name, dir, name);
	return 0;
}

/* --force over an existing DIR/master-ID.crt: keep the certificate it replaces as
 * DIR/master-ID.SERIAL.crt. It stays valid until it expires, and its serial was only in the
 * file being overwritten: `tls revoke --master ID` revokes the kept ones too (a master whose
 * key leaked, reissued first and revoked second, had its new certificate revoked and the
 * leaked one left working). 0, or -1 with the message printed. */
static int keep_replaced(const char *dir, long id)
{
	char path[4096], kept[4200];
	snprintf(path, sizeof(path), "%s/master-%ld.crt", dir, id);
	FILE *f = fopen(path, "re");
	if (f == NULL)
		return errno == ENOENT ? 0 : (fprintf(stderr, "decpctl tls: %s: %s\n", path,
						      strerror(errno)), -1);
	X509 *c = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (c == NULL) {
		fprintf(stderr, "decpctl tls: %s: not a PEM certificate (move it away first)\n",
			path);
		return -1;
	}
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(c), NULL);
	char *hex = bn != NULL ? BN_bn2hex(bn) : NULL;
	int rc = -1;
	if (hex != NULL) {
		snprintf(kept, sizeof(kept), "%s/master-%ld.%s.crt", dir, id, hex);
		int fd = open(kept, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		FILE *o = fd >= 0 ? fdopen(fd, "w") : NULL;
		if (o != NULL && PEM_write_X509(o, c) == 1 && fflush(o) == 0 &&
		    fsync(fileno(o)) == 0) {
			printf("kept the replaced certificate as %s: valid until it expires; 'decpctl "
			       "tls revoke --master %ld' revokes it with the new one\n", kept, id);
			rc = 0;
		} else if (errno == EEXIST) {
			rc = 0; /* the same certificate was kept before */
		} else {
			fprintf(stderr, "decpctl tls: %s: %s\n", kept, strerror(errno));
		}
		if (o != NULL)
			fclose(o);
		else if (fd >= 0)
			close(fd);
	}
	OPENSSL_free(hex);
	BN_free(bn);
	X509_free(c);
	return rc;
}

static int make_clients(const char *dir, EVP_PKEY *ca_key, X509 *ca, const long *ids,
			int n_ids, unsigned int days, bool force)
{
	for (int i = 0; i < n_ids; i++) {
		struct ctl_cert_req r = {.kind = CTL_CERT_CLIENT, .master_id = (uint64_t)ids[i],
					 .days = days};
		EVP_PKEY *k;
		X509 *c;
		char err[512], name[48];
		if (ctl_certs_make(&r, ca_key, ca, &k, &c, err, sizeof(err)) != 0) {
			fprintf(stderr, "decpctl tls: master %ld: %s\n", ids[i], err);
			return -1;
		}
		snprintf(name, sizeof(name), "master-%ld", ids[i]);
		int rc = force ? keep_replaced(dir, ids[i]) : 0;
		if (rc == 0)
			rc = write_pair(dir, name, k, c, force);
		EVP_PKEY_free(k);
		X509_free(c);
		if (rc != 0)
			return -1;
	}
	return 0;
}

/* tls revoke: DIR/ca.crl lists the certificates of masters ids (and what it listed). */
static int tls_revoke(const char *dir, const long *ids, int n_ids, unsigned int days)
{
	EVP_PKEY *ca_key = NULL;
	X509 *ca = NULL, **certs = NULL;
	X509_CRL *prev = NULL, *crl = NULL;
	char err[512], path[4096];
	int n = 0, cap = 0, rc = CTL_EXIT_FAIL;

	if (ctl_certs_read(dir, "ca", &ca_key, &ca, err, sizeof(err)) != 0) {
		fprintf(stderr, "decpctl tls: %s (run 'decpctl tls init' first)\n", err);
		return CTL_EXIT_FAIL;
	}
	/* Each master's current certificate (it must exist) and the ones --force replaced
	 * (master-ID.SERIAL.crt, keep_replaced()). */
	for (int i = 0; i < n_ids; i++) {
		char pre[48];
		int npre = snprintf(pre, sizeof(pre), "master-%ld.", ids[i]);
		DIR *d = opendir(dir);
		struct dirent *e = NULL;
		for (bool cur = true; cur || (d != NULL && (e = readdir(d)) != NULL); cur = false) {
			if (cur) {
				snprintf(path, sizeof(path), "%s/master-%ld.crt", dir, ids[i]);
			} else {
				size_t l = strlen(e->d_name);
				if (strncmp(e->d_name, pre, (size_t)npre) != 0 || l < (size_t)npre + 5 ||
				    strcmp(e->d_name + l - 4, ".crt") != 0 || l == (size_t)npre + 3)
					continue;
				snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
			}
			FILE *f = fopen(path, "re");
			if (f == NULL) {
				fprintf(stderr, "decpctl tls: %s: %s\n", path, strerror(errno));
				if (d != NULL)
					closedir(d);
				goto done;
			}
			if (n == cap) {
				X509 **m = realloc(certs, sizeof(*certs) * (size_t)(cap = cap ? 2 * cap : 16));
				if (m == NULL) {
					fclose(f);
					if (d != NULL)
						closedir(d);
					fprintf(stderr, "decpctl tls: out of memory\n");
					goto done;
				}
				certs = m;
			}
			certs[n] = PEM_read_X509(f, NULL, NULL, NULL);
			fclose(f);
			if (certs[n] == NULL) {
				fprintf(stderr, "decpctl tls: %s: not a PEM certificate\n", path);
				if (d != NULL)
					closedir(d);
				goto done;
			}
			n++;
		}
		if (d != NULL)
			closedir(d);
	}
	snprintf(path, sizeof(path), "%s/ca.crl", dir);
	if (ctl_certs_crl_read(path, &prev, err, sizeof(err)) != 0 && prev == NULL &&
	    access(path, F_OK) == 0) {
		fprintf(stderr, "decpctl tls: %s\n", err);
		goto done;
	}
	if (ctl_certs_crl_make(ca_key, ca, prev, certs, (size_t)n, 0, days, &crl, err,
			       sizeof(err)) != 0 ||
	    ctl_certs_crl_write(path, crl, err, sizeof(err)) != 0) {
		fprintf(stderr, "decpctl tls: %s\n", err);
		goto done;
	}
	printf("%s: %d certificate(s) revoked; decp-dataplane --tls-crl %s rereads it on "
	       "SIGHUP\n", path, sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)), path);
	rc = CTL_EXIT_OK;
done:
	while (n-- > 0)
		X509_free(certs[n]);
	free(certs);
	X509_CRL_free(prev);
	X509_CRL_free(crl);
	EVP_PKEY_free(ca_key);
	X509_free(ca);
	return rc;
}

/* A DNS name for the server certificate's SAN: labels of letters, digits and '-' (1..63
 * characters; a leftmost "*" for a wildcard) joined by '.', 253 characters at most. An
 * empty one failed in OpenSSL ("invalid null value", exit 1) and "bad name" was signed. */
static bool dns_name_ok(const char *s)
{
	size_t n = strlen(s), label = 0;
	if (n == 0 || n > 253 || s[0] == '.' || s[n - 1] == '.')
		return false;
	for (size_t i = 0; i <= n; i++) {
		char ch = s[i];
		if (ch == '.' || ch == '\0') {
			if (label == 0 || label > 63)
				return false;
			label = 0;
			continue;
		}
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			  (ch >= '0' && ch <= '9') || ch == '-' ||
			  (ch == '*' && i == 0 && (s[1] == '.' || s[1] == '\0'));
		if (!ok)
			return false;
		label++;
	}
	return true;
}

int ctl_cmd_tls(int argc, char **argv)
{
	static const struct option lo[] = {
		{"dir", required_argument, NULL, 'd'},
		{"server-name", required_argument, NULL, 'n'},
		{"server-ip", required_argument, NULL, 'i'},
		{"master", required_argument, NULL, 'm'},
		{"days", required_argument, NULL, 'D'},
		{"force", no_argument, NULL, 'f'},
		{"root", required_argument, NULL, 'r'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *dir = NULL;
	struct ctl_cert_req srv = {.kind = CTL_CERT_SERVER, .cn = "decp-dataplane"};
	int n_dns = 0, n_ip = 0, n_ids = 0;
	long ids[MAX_MASTERS], days = 825;
	bool force = false;
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? CTL_EXIT_USAGE : CTL_EXIT_OK;
	}
	const char *sub = argv[1];
	if (strcmp(sub, "init") != 0 && strcmp(sub, "client") != 0 && strcmp(sub, "revoke") != 0)
		return ctl_usage_error("tls", "unknown subcommand '%s' (init, client or revoke)", sub);
	argc--;
	argv++;
	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'n':
			if (n_dns == CTL_CERT_MAX_NAMES - 1)
				return ctl_usage_error("tls", "at most %d --server-name",
						       CTL_CERT_MAX_NAMES - 1);
			if (!dns_name_ok(optarg))
				return ctl_usage_error("tls", "--server-name '%s' is not a DNS name "
						       "(letters, digits, '-' and '.')", optarg);
			srv.dns[n_dns++] = optarg;
			break;
		case 'i': {
			unsigned char b[16];
			if (inet_pton(AF_INET, optarg, b) != 1 && inet_pton(AF_INET6, optarg, b) != 1)
				return ctl_usage_error("tls", "--server-ip '%s' is not an IP address",
						       optarg);
			if (n_ip == CTL_CERT_MAX_NAMES - 1)
				return ctl_usage_error("tls", "at most %d --server-ip",
						       CTL_CERT_MAX_NAMES - 1);
			srv.ip[n_ip++] = optarg;
			break;
		}
		case 'm':
			if (n_ids == MAX_MASTERS)
				return ctl_usage_error("tls", "at most %d --master", MAX_MASTERS);
			if (ctl_parse_long("tls", "--master", optarg, 1, 1L << 53, &ids[n_ids]) != 0)
				return CTL_EXIT_USAGE;
			n_ids++;
			break;
		case 'D':
			if (ctl_parse_long("tls", "--days", optarg, 1, 36500, &days) != 0)
				return CTL_EXIT_USAGE;
			break;
		case 'f': force = true; break;
		case 'r': break; /* --root: nothing here reads /proc or /sys */
		case 'h': usage(stdout); return CTL_EXIT_OK;
		default: return ctl_option_error("tls", argv, optopt);
		}
	}
	if (optind < argc)
		return ctl_usage_error("tls", "unexpected argument '%s'", argv[optind]);
	if (dir == NULL)
		return ctl_usage_error("tls", "--dir DIR is required");
	if (strcmp(sub, "init") != 0 && n_ids == 0)
		return ctl_usage_error("tls", "tls %s needs at least one --master ID", sub);
	if (strcmp(sub, "revoke") == 0)
		return tls_revoke(dir, ids, n_ids, (unsigned int)days);
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "decpctl tls: %s: %s\n", dir, strerror(errno));
		return CTL_EXIT_FAIL;
	}
	EVP_PKEY *ca_key = NULL;
	X509 *ca = NULL;
	char err[512];
	int rc = CTL_EXIT_FAIL;
	if (strcmp(sub, "client") == 0) {
		if (ctl_certs_read(dir, "ca", &ca_key, &ca, err, sizeof(err)) != 0) {
			fprintf(stderr, "decpctl tls: %s (run 'decpctl tls init' first)\n", err);
			return CTL_EXIT_FAIL;
		}
	} else {
		srv.days = (unsigned int)days;
		if (ctl_certs_init_dir(dir, &srv, days > 3650 ? (unsigned int)days : 3650, force,
				       &ca_key, &ca, err, sizeof(err)) != 0) {
			fprintf(stderr, "decpctl tls: %s%s\n", err,
				strstr(err, "File exists") != NULL ? " (--force overwrites)" : "");
			goto done;
		}
	}
	if (make_clients(dir, ca_key, ca, ids, n_ids, (unsigned int)days, force) != 0)
		goto done;
	rc = CTL_EXIT_OK;
done:
	EVP_PKEY_free(ca_key);
	X509_free(ca);
	return rc;
}
