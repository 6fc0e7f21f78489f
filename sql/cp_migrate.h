/*
 * cp_migrate.h - apply the numbered SQL migrations of sql/migrations/ to a
 * PostgreSQL database (issue 4). Called by decp-control at start, by decpctl
 * and by the decp-migrate program.
 *
 * Migrations
 * ----------
 * Files named NNNN_name.sql (NNNN = version, 4 digits, >= 1; name
 * [a-z0-9_]+). They are embedded into the binary at build time
 * (sql/embed_migrations.py generates cp_migrations_embedded.c), so an
 * installed program needs no source tree; a directory can be given instead
 * (tests, or an operator applying a newer set).
 *
 * What cp_migrate_apply() does, in order:
 *   1. waits up to 60 s for the session advisory lock CP_MIGRATE_LOCK_KEY, so
 *      two runners at once apply each migration once (the second one finds
 *      everything applied);
 *   2. creates schema_migrations(version, name, checksum, applied_at) if
 *      missing;
 *   3. refuses (-EBADMSG) if the SHA-256 of any applied migration differs
 *      from the file's now, and (-EPROTO) if the database has a version this
 *      set does not contain or a pending version is lower than an applied one;
 *   4. applies each pending migration in version order, each in its own
 *      transaction together with its schema_migrations row; the first failure
 *      rolls that migration back and stops (earlier ones stay applied);
 *   5. releases the lock.
 * Running it again is a no-op.
 *
 * Every SQL statement the runner sends is a constant string; values travel as
 * parameters (PQexecParams). The migration files are sent as they are.
 *
 * Threads: any thread, one call per PGconn at a time. The connection must be
 * idle (no transaction open) and is left idle.
 */
#ifndef DECP_SQL_CP_MIGRATE_H
#define DECP_SQL_CP_MIGRATE_H

#include <stddef.h>

#include <libpq-fe.h>

/* pg_advisory_lock key ("decpmigr" as ASCII). */
#define CP_MIGRATE_LOCK_KEY 0x646563706d696772LL

#define CP_MIGRATE_SHA256_HEX 65	/* 64 hex digits + NUL */

/* One migration: the embedded table (cp_migrate_embedded) uses this too. */
struct cp_migration {
	int version;
	const char *name;	/* "0001_core" (file name without .sql) */
	const char *sql;	/* NUL-terminated file contents */
	size_t len;		/* bytes of sql, without the NUL */
};

struct cp_migrate_report {
	int applied;		/* migrations applied by this call */
	int already;		/* migrations found applied (checksum verified) */
	int version;		/* highest version applied in the database after the call */
};

/* The migrations compiled into this binary, sorted by version. Never NULL;
 * *count gets the number (may be 0). Static storage. */
const struct cp_migration *cp_migrate_embedded(size_t *count);

/* Apply pending migrations from dir (NULL = the embedded set) to conn.
 * report may be NULL; err (may be NULL) receives a one-line reason on
 * failure, truncated to errlen: the whole message (it names the cause; a
 * caller adds no strerror of the return value).
 * Returns 0 on success (including "nothing to do"), or:
 *   -EINVAL      bad arguments, bad file name, duplicate version, empty set
 *   -ENOENT      dir cannot be read;   -ENOMEM
 *   -ETIMEDOUT   the advisory lock was held by someone else for 60 s
 *   -EBADMSG     an applied migration's file changed (checksum mismatch)
 *   -EPROTO      database has a version unknown to this set, or a pending
 *                version below the highest applied one
 *   -EIO         a statement failed (err has PostgreSQL's message) or the
 *                connection is bad */
int cp_migrate_apply(PGconn *conn, const char *dir, struct cp_migrate_report *report,
		     char *err, size_t errlen);

/* SHA-256 of len bytes as 64 lower-case hex digits + NUL into out
 * (CP_MIGRATE_SHA256_HEX bytes). Returns 0 or -EIO (OpenSSL failure). */
int cp_migrate_checksum(const void *data, size_t len, char out[CP_MIGRATE_SHA256_HEX]);

#endif
