/*
 * cp_auth: masters and license tokens from PostgreSQL for the edge role (SPEC §2 "Tokens").
 *
 * Loads `masters` (id, HMAC secret, Ed25519 public key, disabled) and `license_tokens`
 * (SHA-256 of the token, master, revoked/expired) into memory, and turns them into
 * dataplane control commands. Changes are followed with LISTEN decp_auth: a statement
 * trigger on both tables NOTIFYs that channel (sql/migrations/0005_auth_notify.sql), plus
 * a full reload every auth_reload_s (token expiry needs no NOTIFY).
 *
 * A token is pushed as REVOKE_TOKEN when it is revoked, expired, its master is disabled,
 * or it disappeared from the table since the previous load; otherwise ADD_TOKEN.
 * The database holds hmac_secret at exactly 32 bytes (sql 0005), the size of
 * dp_ctrl_cmd's key slot; a longer one (an unmigrated database) is skipped with an error
 * line (its tokens are revoked).
 *
 * Threading: one thread (the edge's).
 */
#ifndef DECP_CP_AUTH_H
#define DECP_CP_AUTH_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cp_config.h"
#include "cp_pg.h"
#include "dp_shm.h"

struct cp_auth_master {
	uint64_t id;
	uint32_t secret_len;
	uint8_t secret[32];
	uint8_t pubkey[32];
	/* Key rotation overlap (sql 0014): the previous HMAC secret while hmac_prev_until is
	 * in the future; prev_len 0 = none (never rotated, revoked, or the overlap is over). */
	uint32_t prev_len;
	uint8_t prev[32];
	int64_t prev_until_ns;       /* CLOCK_REALTIME */
	bool usable; /* not disabled and keys fit */
};

struct cp_auth_token {
	uint8_t hash[32];
	uint64_t master_id;
	bool revoked;
};

struct cp_auth {
	const struct cp_config *cfg;
	struct cp_pg pg;                /* LISTEN decp_auth on every session */
	struct cp_auth_master *masters;
	size_t n_masters;
	struct cp_auth_token *tokens;   /* sorted by hash */
	size_t n_tokens;
	struct cp_auth_token *gone;     /* tokens of the previous load missing now */
	size_t n_gone;
	bool loaded;                    /* at least one successful load */
	uint64_t loads;
};

void cp_auth_init(struct cp_auth *a, const struct cp_config *cfg);
void cp_auth_close(struct cp_auth *a);

/*
 * (Re)connect if needed (respecting backoff), create the trigger (first connect), LISTEN,
 * and load both tables in one REPEATABLE READ transaction. Returns 0; -EAGAIN PostgreSQL
 * unavailable or the load failed (logged rate-limited; the previous data stays).
 */
int cp_auth_load(struct cp_auth *a);

/*
 * Non-blocking check for NOTIFYs. Returns 1 when a change was announced (call
 * cp_auth_load), 0 none, -EAGAIN the connection broke (reconnect via cp_auth_load).
 */
int cp_auth_poll(struct cp_auth *a);

/*
 * Fill up to cap commands for the current data: SET_MASTER then SET_MASTER_PREV (the
 * previous HMAC secret and its end of overlap, or none) for usable masters,
 * ADD_TOKEN / REVOKE_TOKEN for every token (and REVOKE_TOKEN for gone ones).
 * Cookies are left 0. Returns the number of commands needed (may exceed cap: call again
 * with a bigger array).
 */
size_t cp_auth_commands(const struct cp_auth *a, struct dp_ctrl_cmd *cmds, size_t cap);

#endif
