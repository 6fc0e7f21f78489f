/*
 * test_cp_migrate.c - the migration runner against a real PostgreSQL 15:
 * applies in order, re-run is a no-op, a changed applied file is refused,
 * unknown/out-of-order versions are refused, a failing migration is rolled
 * back whole, and several runners at once apply each migration once.
 */
#include "cp_migrate.h"
#include "sqltest.h"

#include <CUnit/Basic.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef SQL_MIGRATIONS_DIR
#error "SQL_MIGRATIONS_DIR must name sql/migrations (set by meson)"
#endif

static struct harness_pg *pg;
static PGconn *own;	/* owner connection to the default test database */
static char tmpdir[256];

static int suite_init(void)
{
	pg = harness_pg_start(NULL);
	if (!pg)
		return 1;
	own = sqltest_connect(pg, NULL, "postgres");
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/decp-migtest-XXXXXX");
	if (!own || !mkdtemp(tmpdir))
		return 1;
	return 0;
}

static void clear_dir(const char *dir)
{
	char path[512];
	struct dirent *e;
	DIR *d = opendir(dir);

	if (!d)
		return;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		unlink(path);
	}
	closedir(d);
}

static int suite_clean(void)
{
	clear_dir(tmpdir);
	rmdir(tmpdir);
	PQfinish(own);
	harness_pg_destroy(pg);
	return 0;
}

static bool write_file(const char *dir, const char *name, const char *text, const char *mode)
{
	char path[512];
	FILE *f;
	bool ok;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, mode);
	if (!f)
		return false;
	ok = fputs(text, f) >= 0;
	return fclose(f) == 0 && ok;
}

/* Copy sql/migrations/NNNN_*.sql into tmpdir (emptied first). */
static bool copy_migrations(void)
{
	size_t n, i;
	const struct cp_migration *m = cp_migrate_embedded(&n);
	char name[128];

	clear_dir(tmpdir);
	for (i = 0; i < n; i++) {
		char path[512];
		FILE *in, *out;
		char buf[4096];
		size_t got;

		snprintf(name, sizeof(name), "%s.sql", m[i].name);
		snprintf(path, sizeof(path), "%s/%s", SQL_MIGRATIONS_DIR, name);
		in = fopen(path, "rb");
		if (!in)
			return false;
		snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
		out = fopen(path, "wb");
		if (!out) {
			fclose(in);
			return false;
		}
		while ((got = fread(buf, 1, sizeof(buf), in)) > 0)
			fwrite(buf, 1, got, out);
		fclose(in);
		if (fclose(out) != 0)
			return false;
	}
	return true;
}

/* CREATE DATABASE takes no parameters; the names here are constants. */
static PGconn *fresh_db(const char *create_sql, const char *name)
{
	if (!sqltest_expect(own, "", create_sql, 0))
		return NULL;
	return sqltest_connect(pg, name, "postgres");
}

static const char *count_applied = "SELECT count(*) FROM schema_migrations";

static void test_apply_and_rerun(void)
{
	struct cp_migrate_report rep;
	char err[512], v[128];
	size_t n;
	PGconn *c = fresh_db("CREATE DATABASE mig_rerun", "mig_rerun");

	const struct cp_migration *m = cp_migrate_embedded(&n);
	int top;

	CU_ASSERT_FATAL(c != NULL);
	CU_ASSERT_FATAL(n >= 4);
	top = m[n - 1].version; /* the highest: numbers may skip one (another branch's) */
	CU_ASSERT_EQUAL(cp_migrate_apply(c, NULL, &rep, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(rep.applied, (int)n);
	CU_ASSERT_EQUAL(rep.already, 0);
	CU_ASSERT_EQUAL(rep.version, top);
	/* Re-run: nothing applied, nothing changed. */
	CU_ASSERT(sqltest_value(c, v, sizeof(v), "SELECT max(applied_at)::text FROM schema_migrations",
				0));
	CU_ASSERT_EQUAL(cp_migrate_apply(c, NULL, &rep, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(rep.applied, 0);
	CU_ASSERT_EQUAL(rep.already, (int)n);
	CU_ASSERT_EQUAL(rep.version, top);
	{
		char v2[64];

		CU_ASSERT(sqltest_value(c, v2, sizeof(v2),
					"SELECT max(applied_at)::text FROM schema_migrations", 0));
		CU_ASSERT_STRING_EQUAL(v, v2);
	}
	/* The source files and the embedded copies are the same bytes. */
	CU_ASSERT_EQUAL(cp_migrate_apply(c, SQL_MIGRATIONS_DIR, &rep, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(rep.applied, 0);
	/* Recorded checksums are the SHA-256 of the files. */
	{
		const struct cp_migration *m = cp_migrate_embedded(&n);
		char sum[CP_MIGRATE_SHA256_HEX], ver[16];

		CU_ASSERT_EQUAL(cp_migrate_checksum(m[0].sql, m[0].len, sum), 0);
		snprintf(ver, sizeof(ver), "%d", m[0].version);
		CU_ASSERT(sqltest_value(c, v, sizeof(v),
					"SELECT checksum FROM schema_migrations WHERE version = $1", 1,
					ver));
		CU_ASSERT_STRING_EQUAL(v, sum);
	}
	/* The connection is left idle and usable. */
	CU_ASSERT_EQUAL(PQtransactionStatus(c), PQTRANS_IDLE);
	PQfinish(c);
}

static void test_checksum_known_vector(void)
{
	char sum[CP_MIGRATE_SHA256_HEX];

	/* FIPS 180-2 example: SHA-256("abc"). */
	CU_ASSERT_EQUAL(cp_migrate_checksum("abc", 3, sum), 0);
	CU_ASSERT_STRING_EQUAL(sum, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_changed_and_unknown_files(void)
{
	struct cp_migrate_report rep;
	char err[512], v[64];
	size_t n;
	PGconn *c = fresh_db("CREATE DATABASE mig_changed", "mig_changed");

	cp_migrate_embedded(&n);
	CU_ASSERT_FATAL(c != NULL);
	CU_ASSERT_FATAL(copy_migrations());
	CU_ASSERT_EQUAL(cp_migrate_apply(c, tmpdir, &rep, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(rep.applied, (int)n);

	/* Edit an applied file: refused, nothing applied. */
	CU_ASSERT_FATAL(write_file(tmpdir, "0002_money.sql", "\n-- edited\n", "a"));
	CU_ASSERT_FATAL(write_file(tmpdir, "0090_extra.sql", "CREATE TABLE extra (x int);\n", "w"));
	CU_ASSERT_EQUAL(cp_migrate_apply(c, tmpdir, &rep, err, sizeof(err)), -EBADMSG);
	CU_ASSERT(strstr(err, "0002_money") != NULL);
	CU_ASSERT_EQUAL(rep.applied, 0);
	CU_ASSERT(sqltest_value(c, v, sizeof(v), "SELECT to_regclass('extra') IS NULL", 0));
	CU_ASSERT_STRING_EQUAL(v, "t");

	/* Restored: the pending 0090 is applied, in its own transaction. */
	CU_ASSERT_FATAL(copy_migrations());
	CU_ASSERT_FATAL(write_file(tmpdir, "0090_extra.sql", "CREATE TABLE extra (x int);\n", "w"));
	CU_ASSERT_EQUAL(cp_migrate_apply(c, tmpdir, &rep, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(rep.applied, 1);
	CU_ASSERT_EQUAL(rep.version, 90);

	/* The built-in set does not know 0090: refused. */
	CU_ASSERT_EQUAL(cp_migrate_apply(c, NULL, &rep, err, sizeof(err)), -EPROTO);

	/* A pending version below the highest applied one: refused. */
	CU_ASSERT_FATAL(write_file(tmpdir, "0050_late.sql", "CREATE TABLE late (x int);\n", "w"));
	CU_ASSERT_EQUAL(cp_migrate_apply(c, tmpdir, &rep, err, sizeof(err)), -EPROTO);
	{
		char path[512];

		snprintf(path, sizeof(path), "%s/0050_late.sql", tmpdir);
		unlink(path);
	}

	/* A failing migration rolls back whole and stops. */
	CU_ASSERT_FATAL(write_file(tmpdir, "0091_bad.sql",
				   "CREATE TABLE half (x int);\nSELECT 1/0;\n", "w"));
	CU_ASSERT_FATAL(write_file(tmpdir, "0092_after.sql", "CREATE TABLE after (x int);\n", "w"));
	CU_ASSERT_EQUAL(cp_migrate_apply(c, tmpdir, &rep, err, sizeof(err)), -EIO);
	CU_ASSERT(strstr(err, "0091_bad") != NULL);
	CU_ASSERT(sqltest_value(c, v, sizeof(v),
				"SELECT concat_ws(' ', to_regclass('half') IS NULL,"
				" to_regclass('after') IS NULL, max(version)) FROM schema_migrations", 0));
	CU_ASSERT_STRING_EQUAL(v, "t t 90");
	CU_ASSERT_EQUAL(PQtransactionStatus(c), PQTRANS_IDLE);

	/* A migration may not end the runner's transaction itself. */
	CU_ASSERT_FATAL(write_file(tmpdir, "0091_bad.sql", "COMMIT;\nCREATE TABLE c1 (x int);\n", "w"));
	CU_ASSERT_EQUAL(cp_migrate_apply(c, tmpdir, &rep, err, sizeof(err)), -EIO);

	/* Bad file names and duplicate versions are refused before any SQL. */
	CU_ASSERT_FATAL(write_file(tmpdir, "0091_bad.sql", "SELECT 1;\n", "w"));
	CU_ASSERT_FATAL(write_file(tmpdir, "0091_dup.sql", "SELECT 1;\n", "w"));
	CU_ASSERT_EQUAL(cp_migrate_apply(c, tmpdir, &rep, err, sizeof(err)), -EINVAL);
	CU_ASSERT_FATAL(copy_migrations());
	CU_ASSERT_FATAL(write_file(tmpdir, "91-Bad.sql", "SELECT 1;\n", "w"));
	CU_ASSERT_EQUAL(cp_migrate_apply(c, tmpdir, &rep, err, sizeof(err)), -EINVAL);
	CU_ASSERT_EQUAL(cp_migrate_apply(c, "/nonexistent/decp", &rep, err, sizeof(err)), -ENOENT);
	CU_ASSERT_EQUAL(cp_migrate_apply(NULL, NULL, &rep, err, sizeof(err)), -EINVAL);

	CU_ASSERT(sqltest_value(c, v, sizeof(v), count_applied, 0));
	snprintf(err, sizeof(err), "%zu", n + 1);
	CU_ASSERT_STRING_EQUAL(v, err);
	PQfinish(c);
}

struct runner {
	pthread_t tid;
	pthread_barrier_t *start;
	int rc;
	struct cp_migrate_report rep;
	char err[512];
};

static void *runner_main(void *arg)
{
	struct runner *r = arg;
	PGconn *c = sqltest_connect(pg, "mig_race", "postgres");

	pthread_barrier_wait(r->start);
	if (!c) {
		r->rc = -EIO;
		return NULL;
	}
	r->rc = cp_migrate_apply(c, NULL, &r->rep, r->err, sizeof(r->err));
	PQfinish(c);
	return NULL;
}

#define RUNNERS 4

static void test_runners_at_once(void)
{
	struct runner r[RUNNERS];
	pthread_barrier_t start;
	int i, applied = 0;
	size_t n;
	char v[32], want[32];
	PGconn *c = fresh_db("CREATE DATABASE mig_race", "mig_race");
	const struct cp_migration *m = cp_migrate_embedded(&n);

	CU_ASSERT_FATAL(c != NULL);
	pthread_barrier_init(&start, NULL, RUNNERS);
	for (i = 0; i < RUNNERS; i++) {
		memset(&r[i], 0, sizeof(r[i]));
		r[i].start = &start;
		CU_ASSERT_FATAL(pthread_create(&r[i].tid, NULL, runner_main, &r[i]) == 0);
	}
	for (i = 0; i < RUNNERS; i++) {
		pthread_join(r[i].tid, NULL);
		CU_ASSERT_EQUAL(r[i].rc, 0);
		if (r[i].rc)
			fprintf(stderr, "runner %d: %s\n", i, r[i].err);
		CU_ASSERT_EQUAL(r[i].rep.version, m[n - 1].version);
		applied += r[i].rep.applied;
	}
	pthread_barrier_destroy(&start);
	CU_ASSERT_EQUAL(applied, (int)n);
	CU_ASSERT(sqltest_value(c, v, sizeof(v), count_applied, 0));
	snprintf(want, sizeof(want), "%zu", n);
	CU_ASSERT_STRING_EQUAL(v, want);
	PQfinish(c);
}

int main(void)
{
	static const struct sqltest_case cases[] = {
		{ "checksum_known_vector", test_checksum_known_vector },
		{ "apply_and_rerun", test_apply_and_rerun },
		{ "changed_and_unknown_files", test_changed_and_unknown_files },
		{ "runners_at_once", test_runners_at_once },
	};

	return sqltest_main("cp_migrate", suite_init, suite_clean, cases,
			    sizeof(cases) / sizeof(cases[0]));
}
