/* cp_tier: export a day's partition to the warm tier, verify, drop; move to cold.
 * Contract and file layout in cp_tier.h. */
#include "cp_tier.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <zlib.h>

/* Format 2 (sql 0041) adds rows_digest; format 1 manifests (no digest) still verify and
 * restore. */
#define MANIFEST_FORMAT "decp-archive/2"
#define MANIFEST_FORMAT_1 "decp-archive/1"
#define IO_CHUNK 65536
#define MAX_COLUMNS 64

struct table_def {
	const char *name;
	const char *time_col;
	const char *order;      /* export order: the key restore and readers rely on */
	const char *first_key;  /* the manifest's first/last key, as text */
};

static const struct table_def tables[] = {
	{"signal_archive", "arrival_time", "master_id, sequence",
	 "master_id::text || ':' || sequence::text"},
	{"protection_logs", "event_time", "id", "id::text"},
};

static const struct table_def *table_find(const char *name)
{
	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++)
		if (strcmp(tables[i].name, name) == 0)
			return &tables[i];
	return NULL;
}

static int fail(char *err, size_t len, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t len, int rc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return rc;
}

/* "YYYY-MM-DD" -> "YYYYMMDD"; false when it is not a date of that shape. */
static bool day_compact(const char *day, char out[9])
{
	static const char shape[] = "dddd-dd-dd";
	if (strlen(day) != 10)
		return false;
	for (int i = 0, j = 0; i < 10; i++) {
		if (shape[i] == '-') {
			if (day[i] != '-')
				return false;
		} else {
			if (day[i] < '0' || day[i] > '9')
				return false;
			out[j++] = day[i];
		}
	}
	out[8] = '\0';
	return true;
}

/* <tier>/<table>/<table>_pYYYYMMDD<suffix> */
static int day_path(char *out, size_t len, const char *tier, const char *table,
		    const char *day, const char *suffix)
{
	char d[9];
	if (!day_compact(day, d))
		return -EINVAL;
	int n = snprintf(out, len, "%s/%s/%s_p%s%s", tier, table, table, d, suffix);
	return n > 0 && (size_t)n < len ? 0 : -ENAMETOOLONG;
}

static void hex32(const unsigned char *md, char out[65])
{
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static int mkdir_p(const char *path)
{
	char buf[4096];
	size_t n = strlen(path);
	if (n == 0 || n >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		char c = buf[i];
		buf[i] = '\0';
		if (mkdir(buf, 0750) != 0 && errno != EEXIST)
			return -errno;
		buf[i] = c;
	}
	return 0;
}

static int fsync_dir(const char *file)
{
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s", file);
	char *slash = strrchr(dir, '/');
	if (slash == NULL)
		return 0;
	*slash = '\0';
	int fd = open(dir, O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return -errno;
	int rc = fsync(fd) == 0 ? 0 : -errno;
	close(fd);
	return rc;
}

/* SHA-256 and size of a whole file. */
int cp_tier_file_sha256(const char *path, char hex[65], long long *bytes)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -errno;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(ctx);
		close(fd);
		return -ENOMEM;
	}
	unsigned char buf[IO_CHUNK], md[32];
	long long total = 0;
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		EVP_DigestUpdate(ctx, buf, (size_t)n);
		total += n;
	}
	int rc = n < 0 ? -errno : 0;
	close(fd);
	EVP_DigestFinal_ex(ctx, md, NULL);
	EVP_MD_CTX_free(ctx);
	if (rc == 0) {
		hex32(md, hex);
		*bytes = total;
	}
	return rc;
}

/* Decompress a data file: its row count (lines: COPY text escapes newlines inside values)
 * and the SHA-256 of the uncompressed bytes. With sink, each chunk is also passed on. */
typedef int (*chunk_fn)(void *arg, const char *buf, int len);

static int data_scan(const char *path, long long *rows, char hex[65], chunk_fn sink, void *arg)
{
	gzFile gz = gzopen(path, "rb");
	if (gz == NULL)
		return errno ? -errno : -ENOMEM;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(ctx);
		gzclose(gz);
		return -ENOMEM;
	}
	char buf[IO_CHUNK];
	unsigned char md[32];
	long long lines = 0;
	int n, rc = 0;
	while ((n = gzread(gz, buf, sizeof(buf))) > 0) {
		EVP_DigestUpdate(ctx, buf, (size_t)n);
		for (const char *p = buf; (p = memchr(p, '\n', (size_t)(buf + n - p))) != NULL; p++)
			lines++;
		if (sink != NULL && (rc = sink(arg, buf, n)) != 0)
			break;
	}
	int gzerr = 0;
	if (n < 0 || (gzerror(gz, &gzerr), gzerr != Z_OK && gzerr != Z_STREAM_END))
		rc = rc ? rc : -EBADMSG;
	gzclose(gz);
	EVP_DigestFinal_ex(ctx, md, NULL);
	EVP_MD_CTX_free(ctx);
	if (rc == 0) {
		hex32(md, hex);
		*rows = lines;
	}
	return rc;
}

/* Write buf to path atomically: path.tmp, fsync, rename, fsync the directory. */
static int write_atomic(const char *path, const char *buf, size_t len)
{
	char tmp[4096 + 8];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0)
		return -errno;
	int rc = 0;
	for (size_t off = 0; off < len && rc == 0;) {
		ssize_t n = write(fd, buf + off, len - off);
		if (n < 0)
			rc = -errno;
		else
			off += (size_t)n;
	}
	if (rc == 0 && fsync(fd) != 0)
		rc = -errno;
	close(fd);
	if (rc == 0 && rename(tmp, path) != 0)
		rc = -errno;
	if (rc != 0)
		unlink(tmp);
	return rc ? rc : fsync_dir(path);
}

int cp_tier_copy_file(const char *from, const char *to)
{
	int in = open(from, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return -errno;
	char tmp[4096 + 8];
	snprintf(tmp, sizeof(tmp), "%s.tmp", to);
	int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (out < 0) {
		int e = -errno;
		close(in);
		return e;
	}
	char buf[IO_CHUNK];
	ssize_t n;
	int rc = 0;
	while (rc == 0 && (n = read(in, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			rc = -errno;
			break;
		}
		for (ssize_t off = 0; off < n && rc == 0;) {
			ssize_t w = write(out, buf + off, (size_t)(n - off));
			if (w < 0)
				rc = -errno;
			else
				off += w;
		}
	}
	if (rc == 0 && fsync(out) != 0)
		rc = -errno;
	close(in);
	close(out);
	if (rc == 0 && rename(tmp, to) != 0)
		rc = -errno;
	if (rc != 0)
		unlink(tmp);
	return rc ? rc : fsync_dir(to);
}

/* ---- the manifest ---- */

/* s is exactly len lower-case hex digits. */
static bool hex_ok(const char *s, size_t len)
{
	if (s == NULL || strlen(s) != len)
		return false;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return false;
	return true;
}

static int manifest_load(const char *path, json_t **out, struct cp_tier_manifest *m,
			 char *err, size_t errlen)
{
	long long bytes;
	int rc = cp_tier_file_sha256(path, m->manifest_sha256, &bytes);
	if (rc == -ENOENT)
		return rc;
	if (rc != 0)
		return fail(err, errlen, rc, "%s: %s", path, strerror(-rc));
	json_error_t je;
	json_t *j = json_load_file(path, 0, &je);
	if (j == NULL)
		return fail(err, errlen, -EBADMSG, "%s: not a manifest (%s, line %d)", path, je.text,
			    je.line);
	const char *fmt = json_string_value(json_object_get(j, "format"));
	const char *table = json_string_value(json_object_get(j, "table"));
	const char *day = json_string_value(json_object_get(j, "day"));
	const char *fsha = json_string_value(json_object_get(j, "file_sha256"));
	const char *dsha = json_string_value(json_object_get(j, "data_sha256"));
	json_t *rows = json_object_get(j, "rows"), *fbytes = json_object_get(j, "bytes");
	json_t *cols = json_object_get(j, "columns");
	bool v1 = fmt != NULL && strcmp(fmt, MANIFEST_FORMAT_1) == 0;
	const char *rdig = json_string_value(json_object_get(j, "rows_digest"));
	if (fmt == NULL || (!v1 && strcmp(fmt, MANIFEST_FORMAT) != 0) ||
	    (!v1 && !hex_ok(rdig, 32)) || table == NULL || day == NULL ||
	    fsha == NULL || strlen(fsha) != 64 || dsha == NULL || strlen(dsha) != 64 ||
	    !json_is_integer(rows) || !json_is_integer(fbytes) || !json_is_array(cols) ||
	    json_array_size(cols) == 0 || json_array_size(cols) > MAX_COLUMNS ||
	    strlen(table) >= sizeof(m->table) || strlen(day) != 10) {
		json_decref(j);
		return fail(err, errlen, -EBADMSG, "%s: manifest fields missing or invalid", path);
	}
	snprintf(m->table, sizeof(m->table), "%s", table);
	snprintf(m->day, sizeof(m->day), "%s", day);
	snprintf(m->file_sha256, sizeof(m->file_sha256), "%s", fsha);
	snprintf(m->data_sha256, sizeof(m->data_sha256), "%s", dsha);
	snprintf(m->rows_digest, sizeof(m->rows_digest), "%s", v1 ? "" : rdig);
	m->rows = json_integer_value(rows);
	m->bytes = json_integer_value(fbytes);
	m->schema_version = (int)json_integer_value(json_object_get(j, "schema_version"));
	if (out != NULL)
		*out = j;
	else
		json_decref(j);
	return 0;
}

int cp_tier_verify_day(const char *tier_dir, const char *table, const char *day,
		       struct cp_tier_manifest *m, char *err, size_t errlen)
{
	char mpath[4096], dpath[4096];
	struct cp_tier_manifest tmp;
	if (m == NULL)
		m = &tmp;
	memset(m, 0, sizeof(*m));
	err[0] = '\0';
	if (table_find(table) == NULL)
		return fail(err, errlen, -EINVAL, "unknown table %s", table);
	if (day_path(mpath, sizeof(mpath), tier_dir, table, day, ".manifest.json") != 0 ||
	    day_path(dpath, sizeof(dpath), tier_dir, table, day, ".tsv.gz") != 0)
		return fail(err, errlen, -EINVAL, "bad day %s (want YYYY-MM-DD)", day);
	int rc = manifest_load(mpath, NULL, m, err, errlen);
	if (rc == -ENOENT)
		return fail(err, errlen, rc, "%s: not in this tier", mpath);
	if (rc != 0)
		return rc;
	if (strcmp(m->table, table) != 0 || strcmp(m->day, day) != 0)
		return fail(err, errlen, -EBADMSG, "%s: manifest names %s %s", mpath, m->table, m->day);
	char sha[65];
	long long bytes;
	rc = cp_tier_file_sha256(dpath, sha, &bytes);
	if (rc != 0)
		return fail(err, errlen, rc, "%s: %s", dpath, strerror(-rc));
	if (bytes != m->bytes || strcmp(sha, m->file_sha256) != 0)
		return fail(err, errlen, -EBADMSG,
			    "%s: SHA-256 %s, %lld bytes; the manifest says %s, %lld bytes", dpath,
			    sha, bytes, m->file_sha256, m->bytes);
	long long rows;
	rc = data_scan(dpath, &rows, sha, NULL, NULL);
	if (rc != 0)
		return fail(err, errlen, -EBADMSG, "%s: does not decompress", dpath);
	if (rows != m->rows || strcmp(sha, m->data_sha256) != 0)
		return fail(err, errlen, -EBADMSG, "%s: %lld rows, data SHA-256 %s; the manifest says "
			    "%lld, %s", dpath, rows, sha, m->rows, m->data_sha256);
	return 0;
}

/* ---- export ---- */

static PGresult *q(PGconn *c, const char *sql, int n, const char *const *v)
{
	return PQexecParams(c, sql, n, NULL, v, NULL, NULL, 0);
}

static bool ok(PGresult *r)
{
	ExecStatusType s = PQresultStatus(r);
	return s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
}

static int exec_simple(PGconn *c, const char *sql, char *err, size_t errlen)
{
	PGresult *r = PQexec(c, sql);
	int rc = ok(r) ? 0 : fail(err, errlen, -EIO, "%s: %s", sql, PQerrorMessage(c));
	PQclear(r);
	return rc;
}

struct export {
	const struct table_def *t;
	const char *day;
	long long rows, bytes;
	char data_sha[65], file_sha[65], manifest_sha[65];
	char rows_digest[33];   /* archive_rows_digest() in the COPY's snapshot */
	char file_rel[256];
};

/* The day's row count and archive_rows_digest() (sql 0041), in the caller's snapshot. */
static int rows_digest(PGconn *c, const char *rel, const char *day, long long *rows,
		       char digest[33], char *err, size_t errlen)
{
	const char *v[] = {rel, day};
	PGresult *r = q(c, "SELECT rows, rows_digest FROM archive_rows_digest($1::regclass,"
			   " $2::date)", 2, v);
	int rc = 0;
	if (!ok(r) || PQntuples(r) != 1 || !hex_ok(PQgetvalue(r, 0, 1), 32))
		rc = fail(err, errlen, -EIO, "rows digest of %s %s: %s", rel, day ? day : "",
			  PQerrorMessage(c));
	else {
		*rows = atoll(PQgetvalue(r, 0, 0));
		snprintf(digest, 33, "%s", PQgetvalue(r, 0, 1));
	}
	PQclear(r);
	return rc;
}

/* The manifest's descriptive part, from the snapshot the COPY reads. */
static json_t *describe(PGconn *c, const struct export *e, const char *lo, const char *hi,
			long long schema_version, char *err, size_t errlen)
{
	json_t *j = json_object();
	json_t *cols = json_array();
	json_object_set_new(j, "format", json_string(MANIFEST_FORMAT));
	json_object_set_new(j, "table", json_string(e->t->name));
	json_object_set_new(j, "day", json_string(e->day));
	json_object_set_new(j, "columns", cols);
	json_object_set_new(j, "schema_version", json_integer(schema_version));

	const char *pv[] = {e->t->name};
	PGresult *r = q(c, "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute"
			   " WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped"
			   " ORDER BY attnum", 1, pv);
	if (!ok(r) || PQntuples(r) == 0 || PQntuples(r) > MAX_COLUMNS) {
		fail(err, errlen, -EIO, "columns of %s: %s", e->t->name, PQerrorMessage(c));
		PQclear(r);
		json_decref(j);
		return NULL;
	}
	for (int i = 0; i < PQntuples(r); i++) {
		json_t *col = json_object();
		json_object_set_new(col, "name", json_string(PQgetvalue(r, i, 0)));
		json_object_set_new(col, "type", json_string(PQgetvalue(r, i, 1)));
		json_array_append_new(cols, col);
	}
	PQclear(r);

	char sql[1024];
	snprintf(sql, sizeof(sql),
		 "SELECT count(*), min(%s), max(%s),"
		 " (SELECT %s FROM %s WHERE %s >= $1 AND %s < $2 ORDER BY %s LIMIT 1),"
		 " (SELECT %s FROM %s WHERE %s >= $1 AND %s < $2 ORDER BY %s DESC LIMIT 1)"
		 " FROM %s WHERE %s >= $1 AND %s < $2",
		 e->t->time_col, e->t->time_col,
		 e->t->first_key, e->t->name, e->t->time_col, e->t->time_col, e->t->order,
		 e->t->first_key, e->t->name, e->t->time_col, e->t->time_col,
		 /* DESC on each key column */
		 strcmp(e->t->name, "signal_archive") == 0 ? "master_id DESC, sequence" : "id",
		 e->t->name, e->t->time_col, e->t->time_col);
	const char *range[] = {lo, hi};
	r = q(c, sql, 2, range);
	if (!ok(r) || PQntuples(r) != 1) {
		fail(err, errlen, -EIO, "summary of %s %s: %s", e->t->name, e->day, PQerrorMessage(c));
		PQclear(r);
		json_decref(j);
		return NULL;
	}
	json_object_set_new(j, "expected_rows", json_integer(atoll(PQgetvalue(r, 0, 0))));
	for (int i = 1; i <= 4; i++) {
		static const char *const names[] = {NULL, "time_min", "time_max", "first_key",
						    "last_key"};
		json_object_set_new(j, names[i], PQgetisnull(r, 0, i) ? json_null()
								: json_string(PQgetvalue(r, 0, i)));
	}
	json_object_set_new(j, "key_columns", json_string(e->t->order));
	PQclear(r);
	return j;
}

/* COPY the day out into <warm>/<table>/<file>.tsv.gz.tmp, counting and hashing. */
static int copy_out(PGconn *c, const struct export *e, const char *lo, const char *hi,
		    const char *tmp, long long *rows, char data_sha[65], char *err, size_t errlen)
{
	char *l = PQescapeLiteral(c, lo, strlen(lo)), *h = PQescapeLiteral(c, hi, strlen(hi));
	char sql[1024];
	snprintf(sql, sizeof(sql), "COPY (SELECT * FROM %s WHERE %s >= %s AND %s < %s ORDER BY %s)"
		 " TO STDOUT", e->t->name, e->t->time_col, l ? l : "NULL", e->t->time_col,
		 h ? h : "NULL", e->t->order);
	PQfreemem(l);
	PQfreemem(h);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0)
		return fail(err, errlen, -errno, "%s: %s", tmp, strerror(errno));
	int gfd = dup(fd);
	gzFile gz = gfd >= 0 ? gzdopen(gfd, "wb6") : NULL;
	if (gz == NULL) {
		if (gfd >= 0)
			close(gfd);
		close(fd);
		return fail(err, errlen, -ENOMEM, "%s: gzdopen failed", tmp);
	}
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	int rc = 0;
	long long lines = 0;
	PGresult *r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_COPY_OUT)
		rc = fail(err, errlen, -EIO, "COPY %s %s: %s", e->t->name, e->day, PQerrorMessage(c));
	PQclear(r);
	char *buf;
	int n;
	while (rc == 0 && (n = PQgetCopyData(c, &buf, 0)) > 0) {
		EVP_DigestUpdate(ctx, buf, (size_t)n);
		lines++; /* PQgetCopyData returns one row per call */
		if (gzwrite(gz, buf, (unsigned)n) != n) {
			int zerr;
			const char *zmsg = gzerror(gz, &zerr);
			rc = fail(err, errlen, errno ? -errno : -EIO, "%s: write: %s", tmp,
				  zerr == Z_ERRNO ? strerror(errno) : zmsg);
		}
		PQfreemem(buf);
	}
	if (rc != 0) {
		/* Drain the COPY so the session stays usable. */
		while ((n = PQgetCopyData(c, &buf, 0)) > 0)
			PQfreemem(buf);
	}
	while ((r = PQgetResult(c)) != NULL) {
		if (rc == 0 && PQresultStatus(r) != PGRES_COMMAND_OK)
			rc = fail(err, errlen, -EIO, "COPY %s %s: %s", e->t->name, e->day,
				  PQerrorMessage(c));
		PQclear(r);
	}
	int zrc = gzclose(gz);
	if (rc == 0 && zrc != Z_OK)
		rc = fail(err, errlen, -EIO, "%s: %s", tmp,
			  zrc == Z_ERRNO ? strerror(errno) : "compression failed");
	if (rc == 0 && fsync(fd) != 0)
		rc = fail(err, errlen, -errno, "%s: fsync: %s", tmp, strerror(errno));
	close(fd);
	unsigned char md[32];
	EVP_DigestFinal_ex(ctx, md, NULL);
	EVP_MD_CTX_free(ctx);
	hex32(md, data_sha);
	*rows = lines;
	return rc;
}

/* Export one day to the warm tier and verify it there. On success e has the file's and
 * manifest's hashes; on failure nothing is left in the tier but what was there before. */
static int export_day(PGconn *c, const struct cp_tier_conf *tc, struct export *e,
		      char *err, size_t errlen)
{
	char dir[4096], dpath[4096], mpath[4096], tmp[4200];
	snprintf(dir, sizeof(dir), "%s/%s", tc->warm_dir, e->t->name);
	int rc = mkdir_p(dir);
	if (rc != 0)
		return fail(err, errlen, rc, "%s: %s", dir, strerror(-rc));
	if (day_path(dpath, sizeof(dpath), tc->warm_dir, e->t->name, e->day, ".tsv.gz") != 0 ||
	    day_path(mpath, sizeof(mpath), tc->warm_dir, e->t->name, e->day, ".manifest.json") != 0)
		return fail(err, errlen, -EINVAL, "bad day %s", e->day);
	snprintf(tmp, sizeof(tmp), "%s.tmp", dpath);
	char d[9];
	day_compact(e->day, d);
	snprintf(e->file_rel, sizeof(e->file_rel), "%s/%s_p%s.tsv.gz", e->t->name, e->t->name, d);

	/* Day bounds as the database computes them (UTC). */
	char lo[64], hi[64];
	const char *pv[] = {e->day};
	PGresult *r = q(c, "SELECT ($1::date)::timestamp AT TIME ZONE 'UTC',"
			   " ($1::date + 1)::timestamp AT TIME ZONE 'UTC'", 1, pv);
	if (!ok(r) || PQntuples(r) != 1) {
		rc = fail(err, errlen, -EIO, "day %s: %s", e->day, PQerrorMessage(c));
		PQclear(r);
		return rc;
	}
	snprintf(lo, sizeof(lo), "%s", PQgetvalue(r, 0, 0));
	snprintf(hi, sizeof(hi), "%s", PQgetvalue(r, 0, 1));
	PQclear(r);

	/* The schema the rows were written under (the last migration applied). */
	r = PQexec(c, "SELECT coalesce(max(version), 0) FROM schema_migrations");
	if (!ok(r) || PQntuples(r) != 1) {
		rc = fail(err, errlen, -EIO, "schema_migrations: %s", PQerrorMessage(c));
		PQclear(r);
		return rc;
	}
	long long schema_version = atoll(PQgetvalue(r, 0, 0));
	PQclear(r);

	/* One snapshot for the description and the COPY. */
	if ((rc = exec_simple(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", err, errlen)))
		return rc;
	json_t *man = describe(c, e, lo, hi, schema_version, err, errlen);
	long long digested = -1;
	rc = man == NULL ? -EIO : rows_digest(c, e->t->name, e->day, &digested, e->rows_digest,
					      err, errlen);
	if (rc == 0)
		rc = copy_out(c, e, lo, hi, tmp, &e->rows, e->data_sha, err, errlen);
	char scratch[CP_TIER_ERR_LEN];
	int end = exec_simple(c, rc == 0 ? "COMMIT" : "ROLLBACK", scratch, sizeof(scratch));
	if (rc == 0 && end != 0)
		rc = fail(err, errlen, end, "%s", scratch);
	if (rc == 0 && (json_integer_value(json_object_get(man, "expected_rows")) != e->rows ||
			digested != e->rows))
		rc = fail(err, errlen, -EBADMSG, "%s %s: COPY gave %lld rows, count(*) %lld, the "
			  "rows digest %lld", e->t->name, e->day, e->rows,
			  (long long)json_integer_value(json_object_get(man, "expected_rows")),
			  digested);

	/* Read back what was written before anything relies on it. */
	if (rc == 0 && (rc = cp_tier_file_sha256(tmp, e->file_sha, &e->bytes)) != 0)
		fail(err, errlen, rc, "%s: %s", tmp, strerror(-rc));
	if (rc == 0) {
		long long rows;
		char sha[65];
		rc = data_scan(tmp, &rows, sha, NULL, NULL);
		if (rc == 0 && (rows != e->rows || strcmp(sha, e->data_sha) != 0))
			rc = -EBADMSG;
		if (rc != 0)
			fail(err, errlen, rc, "%s: read back %lld rows, data SHA-256 %s; exported %lld, "
			     "%s", tmp, rc == -EBADMSG ? rows : -1LL, rc == -EBADMSG ? sha : "-",
			     e->rows, e->data_sha);
	}
	if (rc == 0) {
		json_object_del(man, "expected_rows");
		json_object_set_new(man, "rows", json_integer(e->rows));
		json_object_set_new(man, "bytes", json_integer(e->bytes));
		json_object_set_new(man, "file", json_string(strrchr(dpath, '/') + 1));
		json_object_set_new(man, "file_sha256", json_string(e->file_sha));
		json_object_set_new(man, "data_sha256", json_string(e->data_sha));
		json_object_set_new(man, "rows_digest", json_string(e->rows_digest));
		json_object_set_new(man, "compression", json_string("gzip"));
		json_object_set_new(man, "encoding", json_string("postgresql-copy-text"));
		char *text = json_dumps(man, JSON_INDENT(2) | JSON_SORT_KEYS);
		if (text == NULL) {
			rc = fail(err, errlen, -ENOMEM, "manifest: out of memory");
		} else {
			size_t len = strlen(text);
			text[len] = '\n'; /* json_dumps' NUL becomes the final newline */
			if ((rc = rename(tmp, dpath) == 0 ? fsync_dir(dpath) : -errno) != 0 ||
			    (rc = write_atomic(mpath, text, len + 1)) != 0)
				fail(err, errlen, rc, "%s: %s", mpath, strerror(-rc));
			free(text);
		}
	}
	json_decref(man);
	if (rc != 0) {
		unlink(tmp);
		return rc;
	}
	/* The files as a reader will find them. */
	struct cp_tier_manifest m;
	rc = cp_tier_verify_day(tc->warm_dir, e->t->name, e->day, &m, err, errlen);
	if (rc == 0)
		memcpy(e->manifest_sha, m.manifest_sha256, sizeof(e->manifest_sha));
	return rc;
}

static int drop_day(PGconn *c, const struct cp_tier_conf *tc, const struct export *e,
		    char *err, size_t errlen)
{
	char rows[24], bytes[24], hot[16];
	snprintf(rows, sizeof(rows), "%lld", e->rows);
	snprintf(bytes, sizeof(bytes), "%lld", e->bytes);
	snprintf(hot, sizeof(hot), "%d", tc->hot_days);
	PGresult *r;
	if (tc->today != NULL) {
		const char *v[] = {tc->today, hot, e->t->name, e->day, rows, bytes, e->file_rel,
				   e->file_sha, e->manifest_sha, e->rows_digest};
		r = q(c, "SELECT archive_drop_at($1::date, $2::integer, $3, $4::date, $5::bigint,"
			 " $6::bigint, $7, $8, $9, $10)", 10, v);
	} else {
		const char *v[] = {e->t->name, e->day, rows, bytes, e->file_rel, e->file_sha,
				   e->manifest_sha, e->rows_digest};
		r = q(c, "SELECT archive_drop($1, $2::date, $3::bigint, $4::bigint, $5, $6, $7, $8)",
		      8, v);
	}
	int rc = ok(r) ? 0 : fail(err, errlen, -EIO, "drop %s %s: %s", e->t->name, e->day,
				   PQerrorMessage(c));
	PQclear(r);
	return rc;
}

static void note_failure(struct cp_tier_result *r, const char *err)
{
	r->failed++;
	if (r->error[0] == '\0')
		snprintf(r->error, sizeof(r->error), "%s", err);
}

/* Move one day warm -> cold: verify warm, copy, verify cold, record, remove warm. */
static int cool_day(PGconn *c, const struct cp_tier_conf *tc, const char *table,
		    const char *day, char *err, size_t errlen)
{
	struct cp_tier_manifest m;
	int rc = cp_tier_verify_day(tc->warm_dir, table, day, &m, err, errlen);
	if (rc != 0)
		return rc;
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s/%s", tc->cold_dir, table);
	if ((rc = mkdir_p(dir)) != 0)
		return fail(err, errlen, rc, "%s: %s", dir, strerror(-rc));
	static const char *const suffix[] = {".tsv.gz", ".manifest.json"};
	char from[2][4096], to[2][4096];
	for (int i = 0; i < 2; i++) {
		day_path(from[i], sizeof(from[i]), tc->warm_dir, table, day, suffix[i]);
		day_path(to[i], sizeof(to[i]), tc->cold_dir, table, day, suffix[i]);
		if ((rc = cp_tier_copy_file(from[i], to[i])) != 0)
			return fail(err, errlen, rc, "%s -> %s: %s", from[i], to[i], strerror(-rc));
	}
	struct cp_tier_manifest cm;
	if ((rc = cp_tier_verify_day(tc->cold_dir, table, day, &cm, err, errlen)) != 0)
		return rc;
	if (strcmp(cm.manifest_sha256, m.manifest_sha256) != 0)
		return fail(err, errlen, -EBADMSG, "%s %s: cold manifest differs from warm", table, day);
	const char *v[] = {table, day};
	PGresult *r = q(c, "SELECT archive_cooled($1, $2::date)", 2, v);
	rc = ok(r) ? 0 : fail(err, errlen, -EIO, "archive_cooled %s %s: %s", table, day,
			      PQerrorMessage(c));
	PQclear(r);
	if (rc == 0)
		for (int i = 0; i < 2; i++)
			unlink(from[i]);
	return rc;
}

static long long restore_into(PGconn *c, const char *tier_dir, const char *table, const char *day,
			      const char *into, bool temp, char *err, size_t errlen);

/*
 * A day that is in the catalog already (archived and dropped) and has a partition again:
 * rows were written to it afterwards (a signal redelivered once its dedup key was pruned,
 * an event dated in that day). Its export would replace the archived files, the day's only
 * copy, with a file of the late rows alone. So the archived rows are put back into the
 * partition first (each signal once: one whose (master, sequence) is archived again, a
 * redelivery of the same Redis record, is skipped; each event by its id), and the export
 * then holds both. The file must verify in the tier the catalog names; when it cannot be
 * read (no cold tier given, a mismatch) the day fails and keeps its partition. Returns 0
 * (nothing to merge, or merged) or -errno with err.
 */
static int merge_archived(PGconn *c, const struct cp_tier_conf *tc, const struct export *e,
			  char *err, size_t errlen)
{
	const char *pv[] = {e->t->name, e->day};
	PGresult *r = q(c, "SELECT tier FROM archive_catalog WHERE parent = $1 AND day = $2::date",
			2, pv);
	if (!ok(r)) {
		int rc = fail(err, errlen, -EIO, "archive_catalog %s %s: %s", e->t->name, e->day,
			      PQerrorMessage(c));
		PQclear(r);
		return rc;
	}
	bool cold = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "cold") == 0;
	bool archived = PQntuples(r) == 1;
	PQclear(r);
	if (!archived)
		return 0;
	const char *dir = cold ? tc->cold_dir : tc->warm_dir;
	if (dir == NULL || dir[0] == '\0')
		return fail(err, errlen, -ENOENT, "%s %s was archived to the cold tier and has rows "
			    "again: give the cold tier to merge them", e->t->name, e->day);
	char sub[CP_TIER_ERR_LEN];
	if (exec_simple(c, "DROP TABLE IF EXISTS pg_temp.archive_merge", err, errlen) != 0)
		return -EIO;
	long long n = restore_into(c, dir, e->t->name, e->day, "archive_merge", true, sub, sizeof(sub));
	if (n < 0)
		return fail(err, errlen, (int)n, "%s %s has rows again; its archived rows cannot be "
			    "read back to merge them: %s", e->t->name, e->day, sub);
	const char *absent = strcmp(e->t->name, "signal_archive") == 0
		? "signal_archive_keys k WHERE k.master_id = o.master_id AND k.sequence = o.sequence"
		: "protection_logs p WHERE p.id = o.id AND p.event_time = o.event_time";
	/* the columns the file has (its manifest's, quoted by the server), which the table
	 * must still have */
	r = PQexec(c, "SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute"
		      " WHERE attrelid = 'pg_temp.archive_merge'::regclass AND attnum > 0"
		      " AND NOT attisdropped");
	int rc = 0;
	if (!ok(r) || PQntuples(r) != 1 || PQgetisnull(r, 0, 0)) {
		rc = fail(err, errlen, -EIO, "merge %s %s: %s", e->t->name, e->day, PQerrorMessage(c));
	} else {
		const char *cols = PQgetvalue(r, 0, 0);
		size_t len = 2 * strlen(cols) + strlen(absent) + 256;
		char *ins = malloc(len);
		if (ins == NULL) {
			rc = fail(err, errlen, -ENOMEM, "merge: out of memory");
		} else {
			snprintf(ins, len, "INSERT INTO %s (%s) SELECT %s FROM pg_temp.archive_merge o"
				 " WHERE NOT EXISTS (SELECT 1 FROM %s)", e->t->name, cols, cols, absent);
			rc = exec_simple(c, ins, err, errlen);
			free(ins);
		}
	}
	PQclear(r);
	exec_simple(c, "DROP TABLE IF EXISTS pg_temp.archive_merge", sub, sizeof(sub));
	return rc;
}

int cp_tier_run(PGconn *c, const struct cp_tier_conf *tc, struct cp_tier_result *res)
{
	memset(res, 0, sizeof(*res));
	/* Days and times as ISO text whatever the server's DateStyle: the file names, the
	 * manifest and the exported rows are read back by that text (under 'SQL, DMY' a day
	 * came back as 07/08/2026 and no day could be archived). */
	PQclear(PQexec(c, "SET DateStyle = 'ISO, YMD'"));
	if (tc->warm_dir == NULL || tc->warm_dir[0] != '/' || tc->hot_days < 1 ||
	    tc->cold_after_days < tc->hot_days ||
	    (tc->cold_dir != NULL && tc->cold_dir[0] != '\0' && tc->cold_dir[0] != '/')) {
		snprintf(res->error, sizeof(res->error),
			 "archive: tier directories must be absolute paths and cold_after_days >= "
			 "hot_days >= 1");
		return -EINVAL;
	}
	char err[CP_TIER_ERR_LEN];
	char hot[16];
	snprintf(hot, sizeof(hot), "%d", tc->hot_days);
	PGresult *due;
	if (tc->today != NULL) {
		const char *v[] = {tc->today, hot};
		due = q(c, "SELECT parent, day FROM archive_due_at($1::date, $2::integer)", 2, v);
	} else {
		due = PQexec(c, "SELECT parent, day FROM archive_due_partitions()");
	}
	if (!ok(due)) {
		snprintf(err, sizeof(err), "archive_due: %s", PQerrorMessage(c));
		note_failure(res, err);
		PQclear(due);
		return -EIO;
	}
	for (int i = 0; i < PQntuples(due); i++) {
		struct export e = {.t = table_find(PQgetvalue(due, i, 0)), .day = PQgetvalue(due, i, 1)};
		err[0] = '\0';
		if (e.t == NULL)
			continue;
		int rc = merge_archived(c, tc, &e, err, sizeof(err));
		if (rc == 0)
			rc = export_day(c, tc, &e, err, sizeof(err));
		if (rc == 0) {
			res->exported++;
			res->rows += (uint64_t)e.rows;
			rc = drop_day(c, tc, &e, err, sizeof(err));
		}
		if (rc == 0)
			res->dropped++;
		else
			note_failure(res, err);
	}
	PQclear(due);

	if (tc->cold_dir == NULL || tc->cold_dir[0] == '\0')
		return res->failed ? -EIO : 0;
	char age[16];
	snprintf(age, sizeof(age), "%d", tc->cold_after_days);
	const char *v[] = {tc->today, age};
	PGresult *warm = q(c, "SELECT parent, day FROM archive_catalog WHERE tier = 'warm'"
			      " AND day < coalesce($1::date, (now() AT TIME ZONE 'UTC')::date)"
			      " - $2::integer ORDER BY day, parent", 2, v);
	if (!ok(warm)) {
		snprintf(err, sizeof(err), "archive_catalog: %s", PQerrorMessage(c));
		note_failure(res, err);
		PQclear(warm);
		return -EIO;
	}
	for (int i = 0; i < PQntuples(warm); i++) {
		err[0] = '\0';
		if (cool_day(c, tc, PQgetvalue(warm, i, 0), PQgetvalue(warm, i, 1), err,
			     sizeof(err)) == 0)
			res->cooled++;
		else
			note_failure(res, err);
	}
	PQclear(warm);
	return res->failed ? -EIO : 0;
}

/* ---- restore ---- */

struct restore_sink {
	PGconn *c;
	char *err;
	size_t errlen;
};

static int put_copy(void *arg, const char *buf, int len)
{
	struct restore_sink *s = arg;
	if (PQputCopyData(s->c, buf, len) != 1)
		return fail(s->err, s->errlen, -EIO, "COPY FROM: %s", PQerrorMessage(s->c));
	return 0;
}

/* A column type as format_type() prints it: letters, digits, spaces, _ , ( ) [ ] only. */
static bool type_text_ok(const char *t)
{
	if (t == NULL || t[0] == '\0' || strlen(t) > 64)
		return false;
	for (; *t; t++)
		if (!((*t >= 'a' && *t <= 'z') || (*t >= '0' && *t <= '9') ||
		      strchr(" _,()[]", *t) != NULL))
			return false;
	return true;
}

/* cp_tier_restore into a new table, or (temp) a temporary one of this session. */
static long long restore_into(PGconn *c, const char *tier_dir, const char *table, const char *day,
			      const char *into, bool temp, char *err, size_t errlen)
{
	struct cp_tier_manifest m;
	int rc = cp_tier_verify_day(tier_dir, table, day, &m, err, errlen);
	if (rc != 0)
		return rc;
	char mpath[4096], dpath[4096];
	day_path(mpath, sizeof(mpath), tier_dir, table, day, ".manifest.json");
	day_path(dpath, sizeof(dpath), tier_dir, table, day, ".tsv.gz");
	json_t *man = NULL;
	if ((rc = manifest_load(mpath, &man, &m, err, errlen)) != 0)
		return rc;

	/* CREATE TABLE "into" (col type, ...) from the manifest, identifiers escaped. */
	size_t cap = 8192, len = 0;
	char *sql = malloc(cap);
	char *id = PQescapeIdentifier(c, into, strlen(into));
	rc = sql && id ? 0 : -ENOMEM;
	if (rc == 0)
		len = (size_t)snprintf(sql, cap, "CREATE %sTABLE %s (", temp ? "TEMPORARY " : "", id);
	PQfreemem(id);
	json_t *cols = json_object_get(man, "columns"), *col;
	size_t i;
	json_array_foreach(cols, i, col) {
		const char *name = json_string_value(json_object_get(col, "name"));
		const char *type = json_string_value(json_object_get(col, "type"));
		if (rc != 0)
			break;
		if (name == NULL || !type_text_ok(type)) {
			rc = fail(err, errlen, -EBADMSG, "%s: column %zu has no valid name/type", mpath, i);
			break;
		}
		char *cid = PQescapeIdentifier(c, name, strlen(name));
		int n = cid ? snprintf(sql + len, cap - len, "%s%s %s", i ? ", " : "", cid, type) : -1;
		PQfreemem(cid);
		if (n < 0 || (size_t)n >= cap - len - 2)
			rc = fail(err, errlen, -E2BIG, "%s: too many columns", mpath);
		else
			len += (size_t)n;
	}
	json_decref(man);
	if (rc == 0)
		snprintf(sql + len, cap - len, ")");

	long long restored = -1;
	if (rc == 0 && (rc = exec_simple(c, "BEGIN", err, errlen)) == 0) {
		PGresult *r = PQexec(c, sql);
		if (!ok(r)) {
			const char *st = PQresultErrorField(r, PG_DIAG_SQLSTATE) ?: "";
			/* 42501: the role may not create tables (decp_app, control.conf's role,
			 * has no CREATE on the schema): say who can. */
			if (strcmp(st, "42501") == 0)
				rc = fail(err, errlen, -EACCES, "create %s: %s: a restored day is a "
					  "new table; restore as the database owner (--conninfo "
					  "\"dbname=decp user=decp_owner\"), not as decp_app", into,
					  PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) ?: "denied");
			else
				rc = fail(err, errlen, strcmp(st, "42P07") == 0 ? -EEXIST : -EIO,
					  "create %s: %s", into, PQerrorMessage(c));
		}
		PQclear(r);
		if (rc == 0) {
			char *qi = PQescapeIdentifier(c, into, strlen(into));
			snprintf(sql, cap, "COPY %s FROM STDIN", qi ? qi : "\"\"");
			PQfreemem(qi);
			r = PQexec(c, sql);
			if (PQresultStatus(r) != PGRES_COPY_IN)
				rc = fail(err, errlen, -EIO, "COPY %s: %s", into, PQerrorMessage(c));
			PQclear(r);
		}
		if (rc == 0) {
			struct restore_sink s = {c, err, errlen};
			long long rows = -1;
			char sha[65] = "";
			rc = data_scan(dpath, &rows, sha, put_copy, &s);
			if (PQputCopyEnd(c, rc == 0 ? NULL : "restore aborted") != 1 && rc == 0)
				rc = fail(err, errlen, -EIO, "COPY end: %s", PQerrorMessage(c));
			while ((r = PQgetResult(c)) != NULL) {
				if (rc == 0 && PQresultStatus(r) != PGRES_COMMAND_OK)
					rc = fail(err, errlen, -EIO, "COPY %s: %s", into, PQerrorMessage(c));
				else if (rc == 0)
					restored = atoll(PQcmdTuples(r));
				PQclear(r);
			}
			if (rc == 0 && (restored != m.rows || rows != m.rows || strcmp(sha, m.data_sha256)))
				rc = fail(err, errlen, -EBADMSG, "restored %lld rows, manifest says %lld",
					  restored, m.rows);
		}
		/* The rows as the table now holds them have the digest of the rows exported
		 * (format 2): what the drop checked is what came back. */
		if (rc == 0 && m.rows_digest[0] != '\0') {
			char *qi = PQescapeIdentifier(c, into, strlen(into));
			long long n = -1;
			char dig[33] = "";
			rc = qi ? rows_digest(c, qi, NULL, &n, dig, err, errlen) : -ENOMEM;
			PQfreemem(qi);
			if (rc == 0 && (n != m.rows || strcmp(dig, m.rows_digest) != 0))
				rc = fail(err, errlen, -EBADMSG, "restored rows have digest %s, the "
					  "manifest says %s", dig, m.rows_digest);
		}
		char e2[64];
		exec_simple(c, rc == 0 ? "COMMIT" : "ROLLBACK", e2, sizeof(e2));
	}
	free(sql);
	return rc != 0 ? rc : restored;
}

long long cp_tier_restore(PGconn *c, const char *tier_dir, const char *table, const char *day,
			  const char *into, char *err, size_t errlen)
{
	return restore_into(c, tier_dir, table, day, into, false, err, errlen);
}
