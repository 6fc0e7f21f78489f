/*
 * decp_dll_pvt: what the two files of decp.dll's exports share (decp_dll.c: handles,
 * crypto, master, receiver; decp_dll_resync.c: re-sync by snapshot and the master's
 * positions, issue 19). The ABI is decp_dll.h; nothing here is exported.
 */
#ifndef DECP_DLL_PVT_H
#define DECP_DLL_PVT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <wchar.h>

#include "decp_crypto.h"
#include "decp_dll.h"
#include "decp_ws.h"
#include "guard.h"
#include "proto_wire.h"

/*
 * Handles index a fixed table (decp_dll.c): a handle is (kind << 40 | generation << 16 |
 * slot), so a stale or forged number is recognised and never dereferenced.
 */
#define SLOTS 256
enum kind { K_FREE = 0, K_BUSY = 1, K_MASTER = 2, K_RX = 3 };

struct master {
	uint64_t id;
	uint8_t hmac_key[DECP_CRYPTO_HMAC_KEY_MAX];
	size_t hmac_len;
	struct decp_ed25519 *key;
	/* the positions queued for the next decp_master_positions */
	struct proto_wire_book_entry pos[DECP_MASTER_POSITIONS_MAX];
	uint32_t npos;
};

/* A report kept until the server's ReportAck: its id and ClientMessage bytes. */
struct report {
	uint64_t id;
	uint16_t len;
	uint8_t p[256];
};

struct rx {
	struct guard_sub sub;
	/* pol is the policy in force: server narrowed by local (rx_policy_update), or local
	 * while no server policy arrived (server.version 0) */
	struct guard_policy pol, local, server;
	bool local_set;
	uint64_t subscription_id; /* from the server's CopyPolicy */
	struct guard_clock clk;
	/* the broker account (decp_rx_account_state) and the positions queued for the next
	 * AccountState */
	struct guard_account acct;
	uint32_t acct_positions;
	struct proto_wire_account_position pos[DECP_RX_POSITIONS_MAX];
	uint32_t npos;
	/* reports kept until acknowledged, oldest first; report ids base + ++report_n */
	struct report unacked[DECP_RX_UNACKED_MAX];
	uint32_t nunacked;
	uint64_t acked, forgotten, report_base, report_n;
	struct decp_ed25519 *key;
	/* Key rotation (decp_rx_message kind 10, docs/protocol.md "Key announcement"): pub is
	 * the trusted key (key's public half); after an accepted announcement prev is the old
	 * key, still verifying until prev_until_ns on the server clock. */
	uint8_t pub[DECP_ED25519_PUB_LEN];
	struct decp_ed25519 *prev;
	int64_t prev_until_ns;
	int64_t check_server_ns; /* server clock at the running decp_rx_check (INT64_MAX: none) */
	char ws_key[DECP_WS_KEY_LEN + 1];
	bool replaying;
	/* the envelope decp_rx_message kept for decp_rx_check (owns its bytes) */
	bool pending;
	struct guard_envelope env;
	uint8_t body[PROTO_SIGNAL_BODY_MAX], sig[DECP_ED25519_SIG_LEN];
	/* re-sync by snapshot (decp_rx_resync; NULL: off). snap_gap: the guard is
	 * DEGRADED_GAP because of a snapshot: only decp_rx_resync_done ends it, never a
	 * SyncEnd (which would skip the history unreconciled) */
	struct decp_resync *rs;
	bool snap_gap;
	/* A re-sync owed (decp_rx_resync_ask, rx_ask_owe): the account may be out of line with
	 * the master from sequence ask_from on (0: nothing owed), a signal consumed and never
	 * executed (refused stale, from the "future", or while the guard was halted; the
	 * signals a snapshot dropped while halted settled). Asked from local time ask_due_ns
	 * (that signal >= DECP_RX_RESYNC_ASK_AGE_MS old: the fan-out replays a younger from),
	 * only while the guard is SYNCED or DEGRADED_GAP and no replay runs; ask_ns: when it
	 * was last asked (0: not yet), again after DECP_RX_RESYNC_ASK_AGAIN_MS until a
	 * snapshot that will be planned begins. msg_ns: the local time of the last
	 * decp_rx_message (decp_rx_resync_plan takes none). */
	uint64_t ask_from;
	int64_t ask_due_ns, ask_ns, msg_ns;
	/* Error{CODE_RANGE} for this master: the next decp_rx_subscribe asks from 0 (live) */
	bool range_lost;
	/* the last check, for decp_rx_report / decp_rx_protection */
	bool checked;
	struct guard_verdict verdict;
	struct guard_envelope checked_env;
};

/* The object behind handle h of kind k, or NULL (unknown, freed, other kind). */
void *decp_handle_get(int64_t h, enum kind k);

/* A negative errno of the modules below as a DECP_E_* code (>= 0 passes through). */
int32_t decp_status_of(long rc);

/* A buffer argument: non-NULL with 0 <= len (NULL allowed only when len == 0). */
bool decp_buf_ok(const void *p, int32_t len);

/* MQL5 string (UTF-16) -> ASCII: printable characters only (0x20..0x7e when spaces are
 * allowed, else 0x21..0x7e), 0..cap-1 of them, NUL-terminated. Returns the length or -1. */
int decp_ascii_of(const wchar_t *w, char *out, size_t cap, bool spaces);

/* A payload (n: its length or a negative errno) framed for TCP (4-byte length) / as a
 * masked binary WebSocket frame into out. Returns the frame length or a DECP_E_* code. */
int32_t decp_tcp_frame(const uint8_t *payload, int n, uint8_t *out, int32_t cap);
int32_t decp_ws_frame(const uint8_t *payload, int n, uint8_t *out, int32_t cap);

/* The pip (1e-5) the guard uses for an instrument as the master names it (its built-in
 * registry, decorations allowed); 0 when the registry does not know it. */
int64_t decp_guard_pip(const char *master_symbol);

/* decp_rx_check's view[0..8] (quote, volume spec, pip value, wallet, equity) and, when
 * nview >= 14, view[13] (the broker's contract size) into v; view[12] (a rate) is the
 * caller's. -1 when an optional entry is negative (DECP_E_INVAL), else 0. */
int decp_view_of(const int64_t *view, int32_t nview, int64_t local_now_ns,
		 struct guard_view *v);

/* decp_rx_message's members 9, 11, 12 (decp_dll_resync.c): m is proto_wire's decode.
 * Returns the kind or the refusal's code, info filled as decp_dll.h says. */
int32_t decp_rx_snapshot(struct rx *r, int k, const struct proto_wire_msg *m, int64_t *info);

/* A re-sync owed from sequence `from`, askable from local time due_ns (decp_rx_resync_ask);
 * now_ns: the local time. Keeps an owed ask that is earlier or was asked within
 * DECP_RX_RESYNC_ASK_AGAIN_MS; replaces one asked longer ago. Nothing with re-sync off. */
void decp_rx_ask_owe(struct rx *r, uint64_t from, int64_t due_ns, int64_t now_ns);

#endif
