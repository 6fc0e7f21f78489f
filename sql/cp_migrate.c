/*
 * cp_migrate.c - numbered SQL migrations with checksums and an advisory lock.
 * Contract in cp_migrate.h.
 */
#include "cp_migrate.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#define LOCK_WAIT_MS 60000
#define MAX_FILE_BYTES (16 * 1024 * 1024)

struct migration_set {
	struct cp_migration *m;
	size_t n;
	bool owned;	/* strings malloc'ed (loaded from a directory) */
};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	/* libpq messages end in a newline; the caller adds its own. */
	n = strlen(err);
	while (n > 0 && (err[n - 1] == '\n' || err[n - 1] == ' '))
		err[--n] = '\0';
}

int cp_migrate_checksum(const void *data, size_t len, char out[CP_MIGRATE_SHA256_HEX])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;

	if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
		return -EIO;
	for (i = 0; i < mdlen; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 0xf];
	}
	out[2 * mdlen] = '\0';
	return 0;
}

/* "NNNN_name.sql" with name [a-z0-9_]+ -> version, else -1. */
static int parse_file_name(const char *fn)
{
	size_t n = strlen(fn), i;
	int version = 0;

	if (n < 10 || strcmp(fn + n - 4, ".sql") != 0 || fn[4] != '_')
		return -1;
	for (i = 0; i < 4; i++) {
		if (fn[i] < '0' || fn[i] > '9')
			return -1;
		version = version * 10 + (fn[i] - '0');
	}
	for (i = 5; i < n - 4; i++)
		if (!((fn[i] >= 'a' && fn[i] <= 'z') || (fn[i] >= '0' && fn[i] <= '9') || fn[i] == '_'))
			return -1;
	return version >= 1 ? version : -1;
}

static int cmp_version(const void *a, const void *b)
{
	const struct cp_migration *x = a, *y = b;

	return (x->version > y->version) - (x->version < y->version);
}

static void set_free(struct migration_set *s)
{
	size_t i;

	if (s->owned) {
		for (i = 0; i < s->n; i++) {
			free((char *)s->m[i].name);
			free((char *)s->m[i].sql);
		}
		free(s->m);
	}
	s->m = NULL;
	s->n = 0;
}

static int read_file(const char *dir, const char *fn, char **out, size_t *len)
{
	char path[4096];
	char *buf = NULL;
	long size;
	FILE *f;
	int n = snprintf(path, sizeof(path), "%s/%s", dir, fn);

	if (n < 0 || (size_t)n >= sizeof(path))
		return -ENAMETOOLONG;
	f = fopen(path, "rb");
	if (!f)
		return -errno;
	if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || size > MAX_FILE_BYTES ||
	    fseek(f, 0, SEEK_SET) != 0)
		goto fail;
	buf = malloc((size_t)size + 1);
	if (!buf)
		goto fail;
	if (fread(buf, 1, (size_t)size, f) != (size_t)size)
		goto fail;
	buf[size] = '\0';
	if (strlen(buf) != (size_t)size)	/* a NUL byte cannot be sent */
		goto fail;
	fclose(f);
	*out = buf;
	*len = (size_t)size;
	return 0;
fail:
	free(buf);
	fclose(f);
	return -EINVAL;
}

static int set_load_dir(struct migration_set *s, const char *dir, char *err, size_t errlen)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t cap = 0, i;
	int rc = 0;

	s->m = NULL;
	s->n = 0;
	s->owned = true;
	if (!d) {
		rc = -errno;
		set_err(err, errlen, "cannot open migrations dir %s: %s", dir, strerror(errno));
		return rc == -ENOENT || rc == -ENOTDIR ? -ENOENT : rc;
	}
	while ((e = readdir(d)) != NULL) {
		size_t nl = strlen(e->d_name);
		struct cp_migration *m;
		int version;

		if (nl < 4 || strcmp(e->d_name + nl - 4, ".sql") != 0)
			continue;	/* README and friends */
		version = parse_file_name(e->d_name);
		if (version < 0) {
			set_err(err, errlen, "bad migration file name %s (want NNNN_name.sql)",
				e->d_name);
			rc = -EINVAL;
			goto fail;
		}
		if (s->n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			struct cp_migration *nm = realloc(s->m, ncap * sizeof(*nm));

			if (!nm) {
				rc = -ENOMEM;
				goto fail;
			}
			s->m = nm;
			cap = ncap;
		}
		m = &s->m[s->n];
		memset(m, 0, sizeof(*m));
		m->version = version;
		m->name = strndup(e->d_name, nl - 4);
		if (!m->name) {
			rc = -ENOMEM;
			goto fail;
		}
		s->n++;
		rc = read_file(dir, e->d_name, (char **)&m->sql, &m->len);
		if (rc < 0) {
			set_err(err, errlen, "cannot read %s/%s", dir, e->d_name);
			rc = rc == -ENOMEM ? rc : -EINVAL;
			goto fail;
		}
	}
	closedir(d);
	d = NULL;
	qsort(s->m, s->n, sizeof(*s->m), cmp_version);
	for (i = 1; i < s->n; i++) {
		if (s->m[i].version == s->m[i - 1].version) {
			set_err(err, errlen, "duplicate migration version %04d", s->m[i].version);
			rc = -EINVAL;
			goto fail;
		}
	}
	return 0;
fail:
	if (d)
		closedir(d);
	set_free(s);
	return rc;
}

/* ------------------------------------------------------------ database -- */

static int exec_ok(PGconn *conn, const char *sql, char *err, size_t errlen)
{
	PGresult *res = PQexec(conn, sql);
	ExecStatusType st = PQresultStatus(res);
	int rc = 0;

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		set_err(err, errlen, "%s", PQresultErrorMessage(res));
		rc = -EIO;
	}
	PQclear(res);
	return rc;
}

static void rollback_quietly(PGconn *conn)
{
	if (PQtransactionStatus(conn) != PQTRANS_IDLE)
		PQclear(PQexec(conn, "ROLLBACK"));
}

/* 1 when got, 0 when held by another session, -EIO on error. */
static int try_lock(PGconn *conn, const char *key, char *err, size_t errlen)
{
	const char *params[1] = { key };
	PGresult *res = PQexecParams(conn, "SELECT pg_try_advisory_lock($1::bigint)", 1, NULL,
				     params, NULL, NULL, 0);
	int rc;

	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		set_err(err, errlen, "advisory lock: %s", PQresultErrorMessage(res));
		rc = -EIO;
	} else {
		rc = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	}
	PQclear(res);
	return rc;
}

static int take_lock(PGconn *conn, const char *key, char *err, size_t errlen)
{
	struct timespec pause = { 0, 100 * 1000 * 1000 };
	int waited, rc;

	for (waited = 0; waited <= LOCK_WAIT_MS; waited += 100) {
		rc = try_lock(conn, key, err, errlen);
		if (rc != 0)
			return rc < 0 ? rc : 0;
		nanosleep(&pause, NULL);
	}
	set_err(err, errlen, "another migration runner held the lock for %d s", LOCK_WAIT_MS / 1000);
	return -ETIMEDOUT;
}

static void release_lock(PGconn *conn, const char *key)
{
	const char *params[1] = { key };

	PQclear(PQexecParams(conn, "SELECT pg_advisory_unlock($1::bigint)", 1, NULL, params, NULL,
			     NULL, 0));
}

static int ensure_table(PGconn *conn, char *err, size_t errlen)
{
	PGresult *res = PQexec(conn, "SELECT to_regclass('schema_migrations') IS NOT NULL");
	bool exists;

	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		set_err(err, errlen, "%s", PQresultErrorMessage(res));
		PQclear(res);
		return -EIO;
	}
	exists = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	if (exists)
		return 0;
	return exec_ok(conn,
		       "CREATE TABLE schema_migrations ("
		       " version integer PRIMARY KEY CHECK (version >= 1),"
		       " name text NOT NULL,"
		       " checksum text NOT NULL CHECK (checksum ~ '^[0-9a-f]{64}$'),"
		       " applied_at timestamptz NOT NULL DEFAULT now())",
		       err, errlen);
}

static const struct cp_migration *find_version(const struct migration_set *s, int version)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (s->m[i].version == version)
			return &s->m[i];
	return NULL;
}

/* Compare what the database has applied with the set. On success *max_applied
 * is the highest applied version and *already the count. */
static int verify_applied(PGconn *conn, const struct migration_set *s, int *max_applied,
			  int *already, char *err, size_t errlen)
{
	PGresult *res = PQexec(conn, "SELECT version, name, checksum FROM schema_migrations"
				     " ORDER BY version");
	int i, rows, rc = 0;

	*max_applied = 0;
	*already = 0;
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		set_err(err, errlen, "%s", PQresultErrorMessage(res));
		PQclear(res);
		return -EIO;
	}
	rows = PQntuples(res);
	for (i = 0; i < rows; i++) {
		int version = atoi(PQgetvalue(res, i, 0));
		const struct cp_migration *m = find_version(s, version);
		char sum[CP_MIGRATE_SHA256_HEX];

		if (!m) {
			set_err(err, errlen,
				"database has migration %04d (%s) that this program does not know",
				version, PQgetvalue(res, i, 1));
			rc = -EPROTO;
			break;
		}
		rc = cp_migrate_checksum(m->sql, m->len, sum);
		if (rc < 0) {
			set_err(err, errlen, "SHA-256 failed");
			break;
		}
		if (strcmp(sum, PQgetvalue(res, i, 2)) != 0 ||
		    strcmp(m->name, PQgetvalue(res, i, 1)) != 0) {
			set_err(err, errlen,
				"migration %s was changed after it was applied (checksum %s, applied %s)",
				m->name, sum, PQgetvalue(res, i, 2));
			rc = -EBADMSG;
			break;
		}
		*max_applied = version;
		(*already)++;
	}
	PQclear(res);
	return rc;
}

static int apply_one(PGconn *conn, const struct cp_migration *m, char *err, size_t errlen)
{
	char version[16], sum[CP_MIGRATE_SHA256_HEX];
	const char *params[3] = { version, m->name, sum };
	PGresult *res;
	int rc;

	snprintf(version, sizeof(version), "%d", m->version);
	rc = cp_migrate_checksum(m->sql, m->len, sum);
	if (rc < 0) {
		set_err(err, errlen, "SHA-256 failed");
		return rc;
	}
	rc = exec_ok(conn, "BEGIN", err, errlen);
	if (rc < 0)
		return rc;
	res = PQexec(conn, m->sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK &&
	    PQresultStatus(res) != PGRES_EMPTY_QUERY) {
		set_err(err, errlen, "migration %s failed: %s", m->name, PQresultErrorMessage(res));
		PQclear(res);
		rollback_quietly(conn);
		return -EIO;
	}
	PQclear(res);
	/* A file that ends the transaction itself would break atomicity. */
	if (PQtransactionStatus(conn) != PQTRANS_INTRANS) {
		set_err(err, errlen, "migration %s must not contain COMMIT/ROLLBACK", m->name);
		rollback_quietly(conn);
		return -EIO;
	}
	res = PQexecParams(conn,
			   "INSERT INTO schema_migrations (version, name, checksum)"
			   " VALUES ($1::integer, $2, $3)",
			   3, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		set_err(err, errlen, "recording %s: %s", m->name, PQresultErrorMessage(res));
		PQclear(res);
		rollback_quietly(conn);
		return -EIO;
	}
	PQclear(res);
	rc = exec_ok(conn, "COMMIT", err, errlen);
	if (rc < 0)
		rollback_quietly(conn);
	return rc;
}

int cp_migrate_apply(PGconn *conn, const char *dir, struct cp_migrate_report *report,
		     char *err, size_t errlen)
{
	struct migration_set set = { 0 };
	struct cp_migrate_report rep = { 0 };
	char key[32];
	bool locked = false;
	int rc, max_applied = 0;
	size_t i;

	if (err && errlen)
		err[0] = '\0';
	if (!conn) {
		set_err(err, errlen, "no connection");
		return -EINVAL;
	}
	if (PQstatus(conn) != CONNECTION_OK || PQtransactionStatus(conn) != PQTRANS_IDLE) {
		set_err(err, errlen, "connection not usable or not idle: %s", PQerrorMessage(conn));
		return -EIO;
	}
	if (dir) {
		rc = set_load_dir(&set, dir, err, errlen);
		if (rc < 0)
			goto out; /* set_load_dir freed the set */
	} else {
		set.m = (struct cp_migration *)cp_migrate_embedded(&set.n);
		set.owned = false;
	}
	if (set.n == 0) {
		set_err(err, errlen, "no migrations found%s%s", dir ? " in " : "", dir ? dir : "");
		rc = -EINVAL;
		goto out;
	}

	snprintf(key, sizeof(key), "%lld", (long long)CP_MIGRATE_LOCK_KEY);
	rc = take_lock(conn, key, err, errlen);
	if (rc < 0)
		goto out;
	locked = true;
	rc = ensure_table(conn, err, errlen);
	if (rc < 0)
		goto out;
	rc = verify_applied(conn, &set, &max_applied, &rep.already, err, errlen);
	if (rc < 0)
		goto out;
	rep.version = max_applied;
	for (i = 0; i < set.n; i++) {
		const struct cp_migration *m = &set.m[i];

		if (m->version <= max_applied) {
			/* Verified above when applied; a lower unapplied one is a gap. */
			PGresult *res;
			char v[16];
			const char *params[1] = { v };
			bool applied;

			snprintf(v, sizeof(v), "%d", m->version);
			res = PQexecParams(conn,
					   "SELECT 1 FROM schema_migrations WHERE version = $1::integer",
					   1, NULL, params, NULL, NULL, 0);
			applied = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1;
			PQclear(res);
			if (!applied) {
				set_err(err, errlen,
					"migration %s is pending but %04d is already applied",
					m->name, max_applied);
				rc = -EPROTO;
				goto out;
			}
			continue;
		}
		rc = apply_one(conn, m, err, errlen);
		if (rc < 0)
			goto out;
		rep.applied++;
		rep.version = m->version;
	}
	rc = 0;
out:
	if (locked) {
		rollback_quietly(conn);
		release_lock(conn, key);
	}
	if (report)
		*report = rep;
	set_free(&set);
	/* err always says why (the header's contract): the paths that only return a code. */
	if (rc < 0 && err && errlen && err[0] == '\0')
		set_err(err, errlen, "%s", strerror(-rc));
	return rc;
}
