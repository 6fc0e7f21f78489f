/*
 * cp_tier: the warm and cold archive tiers (issue 22; docs/database.md "Retention and
 * archival", docs/operations.md "Archive runbook").
 *
 * A day's partition of signal_archive or protection_logs past the hot window is exported
 * as one gzip-compressed file of PostgreSQL COPY text (one row per line, every column as
 * PostgreSQL prints it, so a restore gives back exactly the same values) and a manifest
 * (JSON: table, day, schema version, columns and types, row count, first/last key, time
 * range, SHA-256 of the compressed file and of the uncompressed data, and the rows digest:
 * archive_rows_digest(), sql 0041, an order-independent digest of the day's rows taken in
 * the COPY's snapshot). The file is read back and checked against what the export counted
 * and hashed before the database is asked to drop the partition (archive_drop(), which
 * recomputes the rows digest under an exclusive lock: a row written, deleted or changed
 * after the export, even one that leaves the count equal, refuses the drop (DP023) and the
 * next pass exports again). Later the files move to the cold tier: copied, verified there,
 * recorded, and only then removed from warm.
 *
 *   <tier>/<table>/<table>_pYYYYMMDD.tsv.gz
 *   <tier>/<table>/<table>_pYYYYMMDD.manifest.json
 *
 * Used by the archiver role (its maintenance, on the application role) and by
 * `decpctl archive` (list, verify, restore, and run with a test clock on the owner role).
 * Blocking libpq and file I/O: call it where waiting is allowed, never on a delivery path.
 */
#ifndef DECP_CP_TIER_H
#define DECP_CP_TIER_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#define CP_TIER_ERR_LEN 512

struct cp_tier_conf {
	const char *warm_dir;   /* required: where exports go */
	const char *cold_dir;   /* NULL or "" = no cold tier (files stay warm) */
	/* Test clock: "YYYY-MM-DD" and the hot window in days, through the owner-only
	 * archive_*_at() functions. NULL = today in UTC and the application's pinned 90 days. */
	const char *today;
	int hot_days;
	int cold_after_days;    /* a day older than this (from today) moves to cold; >= hot */
};

struct cp_tier_result {
	unsigned exported;      /* days written and verified in warm */
	unsigned dropped;       /* partitions dropped after their export */
	unsigned cooled;        /* days moved to the cold tier */
	unsigned failed;        /* days left as they were because a step failed */
	uint64_t rows;          /* rows exported */
	char error[CP_TIER_ERR_LEN]; /* the first failure, "" when none */
};

/* One pass: export, verify and drop every day past the hot window; move every day past
 * cold_after_days to the cold tier. A day whose step fails is left untouched (counted in
 * failed, first error in r->error) and the pass goes on with the next. Returns 0 when
 * nothing failed, -EIO when some day failed, -EINVAL for a bad configuration. */
int cp_tier_run(PGconn *c, const struct cp_tier_conf *tc, struct cp_tier_result *r);

/* What a manifest says (and what checking its file found). */
struct cp_tier_manifest {
	char table[32];
	char day[11];           /* YYYY-MM-DD */
	long long rows;
	long long bytes;
	int schema_version;
	char file_sha256[65];
	char data_sha256[65];
	char rows_digest[33];   /* archive_rows_digest(); "" in a format-1 manifest (before
				 * sql 0041), which still verifies and restores */
	char manifest_sha256[65]; /* of the manifest file itself */
};

/* Check one day in one tier: the manifest parses, the file's SHA-256 and size match it,
 * and the decompressed data has its row count and SHA-256. Returns 0, -ENOENT when the day
 * is not in that tier, -EBADMSG on a mismatch (err says what), other -errno on I/O. */
int cp_tier_verify_day(const char *tier_dir, const char *table, const char *day,
		       struct cp_tier_manifest *m, char *err, size_t errlen);

/* Restore a verified day into a new table `into` (columns and types from the manifest),
 * in one transaction; with a format-2 manifest the restored rows must have its rows digest
 * (archive_rows_digest() of the new table). Returns the number of rows restored, or -errno
 * (err says why; -EEXIST when the table exists, -EBADMSG on a mismatch). */
long long cp_tier_restore(PGconn *c, const char *tier_dir, const char *table, const char *day,
			  const char *into, char *err, size_t errlen);

/* File helpers of the tiers, also used by decpctl's backups: SHA-256 (hex) and size of a
 * whole file; copy a file to `to` atomically (to.tmp, fsync, rename, fsync the directory).
 * 0 or -errno. */
int cp_tier_file_sha256(const char *path, char hex[65], long long *bytes);
int cp_tier_copy_file(const char *from, const char *to);

#endif
