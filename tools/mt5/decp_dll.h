/*
 * decp.dll: the C ABI MetaTrader 5 EAs (DecpMaster.mq5, DecpReceiver.mq5) #import.
 * Reference: docs/mt5.md. The MQL5 #import block, decp.mqh, is generated from this
 * header by tools/mt5/gen_mqh.py; a test fails when the two disagree.
 *
 * What the DLL is: pure computation, no threads, no sockets, no files. The EA owns the
 * sockets (MQL5 SocketCreate/SocketTlsHandshake) and hands the DLL the bytes it read;
 * the DLL builds the bytes to send. Inside: proto/proto_wire (decp.proto without
 * protobuf-c), proto/proto_login_msg (the login proof's message), proto/proto_frame
 * (TCP framing), guard/ (ExecutionGuard, compiled from the same sources as
 * decp-subscriber's), and libgcrypt (HMAC-SHA256, SHA-256, SHA-1, Ed25519, random
 * numbers), linked statically.
 *
 * ABI rules, so that MQL5 can call every function and no input can crash the terminal:
 *   - parameter types: int32_t (MQL5 int), int64_t (long), const uint8_t * / uint8_t *
 *     (const uchar &x[] / uchar &x[]), const int64_t * / int64_t * (const long &x[] /
 *     long &x[]), const wchar_t * (string, UTF-16, NUL-terminated). No structs, no
 *     callbacks, no other pointer types. Every buffer comes with its length in elements.
 *   - every function returns int32_t or int64_t: >= 0 success (a length, a count, a
 *     kind, a handle), < 0 one of the DECP_E_* codes below. No errno, no exceptions.
 *   - NULL buffers, negative or short lengths, garbage bytes, unknown or freed handles
 *     and handles of the wrong kind are refused with a code, never dereferenced.
 *   - state lives behind opaque handles (int64_t > 0) created and freed by the EA; a
 *     handle is used by one thread at a time (its EA's); different handles may be used
 *     from different threads (one terminal runs each EA in its own thread).
 *
 * Units (decp.proto): prices 1e-5, volumes 0.01 lot, money 1e-4, times ns since the
 * Unix epoch. The EA converts MQL5 doubles once, at the edge (docs/mt5.md).
 */
#ifndef DECP_DLL_H
#define DECP_DLL_H

#include <stdint.h>
#include <wchar.h>

#ifdef DECP_DLL_BUILD
#define DECP_API __declspec(dllexport)
#elif defined(_WIN32)
#define DECP_API __declspec(dllimport)
#else
#define DECP_API
#endif

/* ABI version: decp_version() returns it; bump on any incompatible change. */
#define DECP_DLL_VERSION 9 /* 2: protocol-2 login (decp_master_login_proof); 3: the
				  * server's copy policy, account state, report ids; 4: re-sync
				  * by snapshot (decp_rx_resync*), the master's positions
				  * (decp_master_position*), DECP_E_SNAPSHOT; 5: a re-sync asked
				  * after a stale signal (decp_rx_resync_ask), live after
				  * Error{CODE_RANGE}, held copies' master volume
				  * (decp_rx_resync_held_master), decp_now_ns, decp_pip; 6: the
				  * guard's pip of the master's instrument with each envelope
				  * (info[12]) and snapshot entry (info[8]); 7: equity
				  * protection kept over a restart (decp_rx_equity_restore,
				  * decp_rx_state st[15]), the clock's error bound (st[16]);
				  * 8: a signal from the "future" (decp_rx_check verdict[16]):
				  * the clock estimate dropped, a re-sync asked; 9: a re-sync
				  * owed, not only asked after a check: after a halt (funds
				  * returned), deferred until the signal is 300 ms old, asked
				  * again every 5 s until answered (decp_rx_resync_ask on a
				  * timer) */

/* Status codes (negative returns). Stable numbers: the EAs log them. */
#define DECP_OK 0
#define DECP_E_INVAL (-1)      /* bad argument: NULL buffer, negative length, out of range */
#define DECP_E_NOBUFS (-2)     /* the output buffer is too small */
#define DECP_E_MSGSIZE (-3)    /* a frame length of 0 or over the limit */
#define DECP_E_MALFORMED (-4)  /* bytes that do not decode */
#define DECP_E_BADSIG (-5)     /* a signature or MAC that does not verify */
#define DECP_E_HANDLE (-6)     /* unknown, freed or wrong-kind handle */
#define DECP_E_NOMEM (-7)      /* out of memory or of handle slots */
#define DECP_E_CRYPTO (-8)     /* libgcrypt failed (no entropy, ...) */
#define DECP_E_STATE (-9)      /* call out of order (nothing to check, no request made) */
#define DECP_E_HANDSHAKE (-10) /* the WebSocket upgrade was refused or is invalid */
#define DECP_E_SNAPSHOT (-11)  /* a re-sync snapshot refused (decp_rx_message: info[2] why) */

/* Sizes. */
#define DECP_HMAC_LEN 32
#define DECP_ED25519_SEED_LEN 32
#define DECP_ED25519_PUB_LEN 32
#define DECP_ED25519_SIG_LEN 64
#define DECP_FRAME_MAX 4096 /* largest TCP frame payload (proto_frame's default) */
#define DECP_SYMBOL_MAX 33  /* symbol buffers: 32 characters and the NUL */
#define DECP_RX_UNACKED_MAX 1024 /* reports a receiver keeps until acknowledged */
#define DECP_RX_POSITIONS_MAX 12 /* positions one AccountState carries (1,024-byte limit) */
#define DECP_RX_SNAPSHOT_MAX 1024 /* entries of one re-sync snapshot (larger: refused) */
#define DECP_RX_HELD_MAX 1024     /* copies decp_rx_resync_held takes per snapshot */
#define DECP_RX_QUOTES_MAX 256    /* symbols decp_rx_resync_quote takes per snapshot */
#define DECP_RX_RESYNC_ASK_AGE_MS 300    /* a stale signal this old asks a re-sync */
#define DECP_RX_RESYNC_ASK_AGAIN_MS 5000 /* an unanswered ask is repeated after this */
#define DECP_MASTER_POSITIONS_MAX 1024 /* entries of one master positions snapshot */
#define DECP_MASTER_POSITIONS_OUT 262144 /* always enough for the frames of 1,024 entries */

/* ------------------------------------------------------------------ general -- */

/* Returns DECP_DLL_VERSION. */
DECP_API int32_t decp_version(void);

/* The wall clock, ns since 1970 UTC (Windows: GetSystemTimePreciseAsFileTime, ~100 ns
 * resolution). The EAs' local_now_ns / time_ns arguments come from here: MQL5's TimeGMT()
 * has 1 s resolution, and GetMicrosecondCount() counts from the program's start, not from
 * a second's start, so their sum jumps back up to a second once a second (fresh signals
 * then look up to a second old, and the guard's TTL refuses them). */
DECP_API int64_t decp_now_ns(void);

/* The pip of a symbol in the guard's instrument registry (the built-in set decp_rx_check
 * uses: 0.0001 for most FX, 0.01 for JPY pairs, 0.1 for XAUUSD, 1.0 for BTCUSD...), in
 * price units of 1e-5; a broker's decorations are allowed ("XAUUSD.m"). The view's
 * pip_value (decp_rx_check's view[5]) is money per this pip: RISK_PERCENT sizing divides
 * by it. Returns the pip, 0 when the registry does not know the symbol, DECP_E_INVAL.
 * A broker's own name (a mapped "GOLD") is not the master's instrument: for an envelope
 * or a snapshot entry take the pip decp_rx_message / decp_rx_resync_entry give. */
DECP_API int64_t decp_pip(const wchar_t *symbol);

/* Writes the name of a status code ("DECP_E_INVAL", "OK", "?") as ASCII with a NUL into
 * out. Returns its length without the NUL, or DECP_E_INVAL / DECP_E_NOBUFS. */
DECP_API int32_t decp_strerror(int32_t code, uint8_t *out, int32_t out_cap);

/* Frees a handle of any kind (wiping its keys). Returns DECP_OK or DECP_E_HANDLE. */
DECP_API int32_t decp_handle_free(int64_t handle);

/* ------------------------------------------------------------------- crypto -- */

/* mac = HMAC-SHA256(key, msg). key_len 0..4096, msg_len >= 0 (buffers may be empty
 * arrays only when their length is 0). Returns DECP_HMAC_LEN. */
DECP_API int32_t decp_hmac_sha256(const uint8_t *key, int32_t key_len, const uint8_t *msg,
				  int32_t msg_len, uint8_t *mac, int32_t mac_cap);

/* The Ed25519 public key of a 32-byte seed (RFC 8032). Returns DECP_ED25519_PUB_LEN. */
DECP_API int32_t decp_ed25519_public(const uint8_t *seed, int32_t seed_len, uint8_t *pub,
				     int32_t pub_cap);

/* sig = Ed25519-Sign(seed, msg). Returns DECP_ED25519_SIG_LEN. */
DECP_API int32_t decp_ed25519_sign(const uint8_t *seed, int32_t seed_len, const uint8_t *msg,
				   int32_t msg_len, uint8_t *sig, int32_t sig_cap);

/* Returns DECP_OK when sig is a valid Ed25519 signature of msg under pub, DECP_E_BADSIG
 * when it is not (also: sig_len != 64, pub not a point), DECP_E_INVAL on bad arguments. */
DECP_API int32_t decp_ed25519_verify(const uint8_t *pub, int32_t pub_len, const uint8_t *msg,
				     int32_t msg_len, const uint8_t *sig, int32_t sig_len);

/* --------------------------------------------------------- TCP (master) side -- */

/*
 * Length-prefixed framing (docs/protocol.md): is a whole frame at the start of buf?
 * Returns its total length (4 + payload) when complete, 0 when more bytes are needed,
 * DECP_E_MSGSIZE when its length is 0 or over max_payload (1..DECP_FRAME_MAX; the
 * connection must then be closed), DECP_E_INVAL on bad arguments.
 */
DECP_API int32_t decp_frame_split(const uint8_t *buf, int32_t len, int32_t max_payload);

/*
 * A master: its id, its HMAC secret (1..4096 bytes) and its Ed25519 seed (32 bytes).
 * Returns the handle (> 0) or DECP_E_INVAL / DECP_E_NOMEM / DECP_E_CRYPTO.
 */
DECP_API int64_t decp_master_new(int64_t master_id, const uint8_t *hmac_key, int32_t key_len,
				 const uint8_t *seed, int32_t seed_len);

/*
 * The login (docs/protocol.md "Login", protocol 2), two frames; the license token never
 * crosses the network:
 *   EA -> ingest   decp_master_hello           Hello{master_id, client_version, version 2}
 *   ingest -> EA   decp_ingest_decode == 6     ServerChallenge{nonce}
 *   EA -> ingest   decp_master_login_proof     LoginProof{proof}
 *   ingest -> EA   decp_ingest_decode == 1     HelloAck (or 3 Nack BAD_TOKEN, 4 Error)
 *
 * decp_master_hello: the first frame (framed: 4-byte length + MasterFrame{Hello}), built
 * by proto/'s proto_wire_hello_encode. client_version: free text (ASCII, 0..256).
 * Returns the frame length.
 */
DECP_API int32_t decp_master_hello(int64_t master, const wchar_t *client_version, uint8_t *out,
				   int32_t out_cap);

/*
 * decp_master_login_proof: the answer to ingest's challenge (framed MasterFrame{LoginProof}).
 * challenge/len: the IngestFrame payload (without its 4-byte header) for which
 * decp_ingest_decode returned 6; token: the license token (printable ASCII, 1..256).
 * proof = HMAC-SHA256(SHA-256(token), proto_login_message(nonce, master id, binding)), the
 * bytes proto_login_proof computes; the binding is always 32 zero bytes (the EA cannot
 * read its TLS connection's exporter: over TLS the dataplane accepts that only for masters
 * in --tls-unbound-masters, docs/mt5.md "Login"). Returns the frame length, or
 * DECP_E_MALFORMED (not a ServerChallenge, or its nonce is not 32 bytes: close the
 * connection), DECP_E_INVAL, DECP_E_NOBUFS, DECP_E_HANDLE, DECP_E_CRYPTO.
 */
DECP_API int32_t decp_master_login_proof(int64_t master, const wchar_t *token,
					 const uint8_t *challenge, int32_t len, uint8_t *out,
					 int32_t out_cap);

/*
 * One signal, framed: Signal{...} serialised once, HMAC-SHA256 and Ed25519 over those
 * bytes, MasterFrame{SignedSignal}. order_type: decp.OrderType 1..9; symbol: the
 * master's symbol (printable ASCII, 1..32); other fields as decp.proto's Signal (the
 * validity rules of docs/protocol.md apply: DECP_E_INVAL otherwise). The EA keeps the
 * frame until the signal is ACKed and resends the same bytes after a reconnect.
 * Returns the frame length.
 */
DECP_API int32_t decp_master_signal(int64_t master, int64_t sequence, const wchar_t *symbol,
				    int32_t order_type, int64_t volume, int64_t price, int64_t sl,
				    int64_t tp, int64_t position_ticket, int64_t master_time_ns,
				    int64_t expiration_ns, uint8_t *out, int32_t out_cap);

/* A Heartbeat frame (framed) carrying time_ns. Returns the frame length. */
DECP_API int32_t decp_master_heartbeat(int64_t time_ns, uint8_t *out, int32_t out_cap);

/*
 * The master's own positions (docs/protocol.md "The master's positions", docs/mt5.md "The
 * master's positions"): what the account holds, sent so that the control plane can compare
 * it with the position book it built from the signals (a mismatch is alerted). The EA
 * lists its positions and pending orders when every signal it sent is ACKed, at N = the
 * last ACKed sequence:
 *
 * decp_master_position: queues one entry: ticket (the position_ticket its signals
 * carried, > 0), symbol (the master's, printable ASCII 1..32), type (decp.OrderType: 1 BUY,
 * 2 SELL, 3..6 the pending types), volume (0.01 lot, > 0), price (open or pending price),
 * sl, tp (1e-5, >= 0; 0 = none), expiration_ns (>= 0, 0 = none). Returns how many are
 * queued, DECP_E_INVAL (a rule broken, or the ticket is queued already), DECP_E_NOBUFS
 * (DECP_MASTER_POSITIONS_MAX queued), DECP_E_HANDLE.
 *
 * decp_master_positions: every queued entry (none: the empty snapshot, count 0) as the
 * frames to send one after the other, concatenated in out: each framed
 * MasterFrame{SignedPositions{body, hmac}}, body a Positions part of <= 320 bytes
 * {master, sequence, snapshot_id, part, parts, count, entries, master_time_ns}, hmac =
 * HMAC-SHA256(the master's secret, "decp-positions-v1" || body) (the bytes
 * proto_positions_seal makes). sequence >= 0 (N: the positions after signal N),
 * snapshot_id > 0 (the same in every part; a new one per snapshot, e.g. the time in ms).
 * The queue is emptied on success and kept on DECP_E_NOBUFS (DECP_MASTER_POSITIONS_OUT
 * bytes always suffice). The ingest does not answer it. Returns the total length, or
 * DECP_E_INVAL, DECP_E_NOBUFS, DECP_E_HANDLE, DECP_E_CRYPTO.
 */
DECP_API int32_t decp_master_position(int64_t master, int64_t ticket, const wchar_t *symbol,
				      int32_t type, int64_t volume, int64_t price, int64_t sl,
				      int64_t tp, int64_t expiration_ns);
DECP_API int32_t decp_master_positions(int64_t master, int64_t sequence, int64_t snapshot_id,
				       int64_t master_time_ns, uint8_t *out, int32_t out_cap);

/*
 * Decodes one IngestFrame payload (a frame without its 4-byte header) into fields[]
 * (nfields >= 4; unused entries 0). Returns the member:
 *   1 HelloAck   fields: next_expected_sequence, server_time_ns, protocol_version, max_frame
 *   2 Ack        fields: sequence, server_arrival_ns, status (1 OK, 2 DUPLICATE)
 *   3 Nack       fields: sequence, reason (decp.Nack.Reason), expected_sequence
 *   4 Error      fields: code (decp.Error.Code)
 *   5 Heartbeat  fields: time_ns
 *   6 ServerChallenge  fields: nonce length (32 from a sound ingest), protocol_version;
 *                the nonce stays in the payload: pass it to decp_master_login_proof
 * or DECP_E_MALFORMED (the session must then be closed), DECP_E_INVAL.
 */
DECP_API int32_t decp_ingest_decode(const uint8_t *payload, int32_t len, int64_t *fields,
				    int32_t nfields);

/* ------------------------------------------------------- WebSocket (receiver) -- */

/*
 * A receiver of one master's signals: the master's Ed25519 public key (32 bytes), the
 * last sequence this account consumed (persisted by the EA; 0 for a new subscription),
 * the TTL in ms (0 = the default 500 ms). The copy policy starts at guard/'s defaults
 * (decp_rx_policy overrides it until the server's arrives, "Copy policy" below). Returns
 * the handle or DECP_E_INVAL / DECP_E_NOMEM.
 */
DECP_API int64_t decp_rx_new(int64_t master_id, const uint8_t *master_pub, int32_t pub_len,
			     int64_t last_seq, int64_t ttl_ms);

/*
 * Copy policy (docs/mt5.md "Copy policy"). The server sends the subscription's policy
 * (ServerMessage.copy_policy, versioned) on every Subscribe and on every change;
 * decp_rx_message applies it (kind 8). The EA's inputs are the local policy:
 *   - until a server policy arrives (a fan-out whose database was down at Subscribe, a
 *     server without policies), the local policy is the whole policy;
 *   - once one is in force, the server's policy is the policy, and the local one may only
 *     narrow it, never loosen it: max deviation = the smaller of the two, pending orders
 *     copied only when both copy them; the local prefix/suffix apply only when the
 *     server's are both empty (the broker's decorations are the account's, not a risk).
 *     Lot sizing, reverse, SL/TP, filters and protections are the server's alone.
 *
 * decp_rx_policy sets the local policy: lot_mode 1 fixed (lot_value = lots in 0.01), 2
 * multiplier (lot_value = multiplier in 1/1000), 3 equity ratio (lot_value = the master's
 * equity in 1e-4), 4 risk percent (lot_value = basis points of equity); reverse,
 * copy_sl, copy_tp, pending: 0 or 1; max_dev_pips_x100 > 0 (hundredths of a pip);
 * prefix/suffix: the broker's symbol decorations (ASCII, 0..11).
 * Returns DECP_OK, DECP_E_INVAL, DECP_E_HANDLE.
 */
DECP_API int32_t decp_rx_policy(int64_t rx, int32_t lot_mode, int64_t lot_value,
				int32_t reverse, int32_t copy_sl, int32_t copy_tp, int32_t pending,
				int64_t max_dev_pips_x100, const wchar_t *prefix,
				const wchar_t *suffix);

/*
 * The policy in force, for the EA's log. info (ninfo >= 16): version (0 = the local policy,
 * no server policy yet), subscription_id, lot_mode, lot_fixed, lot_multiplier_milli,
 * master_equity, risk_bp, reverse, copy_sl, copy_tp, sync_modify, order_type_mask,
 * max_deviation_pips_x100, equity_floor, max_drawdown_bp, close_all_on_trip.
 * text (text_cap >= 1; cut short to fit, always NUL-terminated): the symbol rules as
 * ASCII, "prefix=P suffix=S map=FROM>TO,... allow=A,... deny=D,..." (empty lists
 * omitted). Returns the version, or DECP_E_INVAL / DECP_E_HANDLE.
 */
DECP_API int64_t decp_rx_policy_info(int64_t rx, int64_t *info, int32_t ninfo, uint8_t *text,
				     int32_t text_cap);

/*
 * The WebSocket upgrade request (RFC 6455 §4.1) for ws://host:port/path, with the
 * subscriber token as "Authorization: Bearer" and subprotocol "decp". A fresh random
 * Sec-WebSocket-Key is kept in the handle for decp_ws_response. host, path, token:
 * printable ASCII (path starts with '/'). Returns the request length.
 */
DECP_API int32_t decp_ws_request(int64_t rx, const wchar_t *host, int32_t port,
				 const wchar_t *path, const wchar_t *token, uint8_t *out,
				 int32_t out_cap);

/*
 * Checks the server's upgrade response at the start of buf: returns the length of its
 * header (the bytes after it are WebSocket frames) when it is a complete "101" with the
 * right Sec-WebSocket-Accept, 0 when the header is not complete yet (len < 8192),
 * DECP_E_HANDSHAKE when refused or invalid, DECP_E_STATE before decp_ws_request.
 */
DECP_API int32_t decp_ws_response(int64_t rx, const uint8_t *buf, int32_t len);

/*
 * Is a whole server frame at the start of buf? Returns its total length when complete,
 * 0 when more bytes are needed, DECP_E_MALFORMED on a protocol violation (a masked
 * server frame, reserved bits, an unknown opcode, a fragmented or oversized control
 * frame, a payload over 1 MiB). info (ninfo >= 4): opcode, payload offset, payload
 * length, FIN (1/0). Fragmented data messages are reported frame by frame (FIN 0);
 * decp's fan-out sends each message in one frame.
 */
DECP_API int32_t decp_ws_decode(const uint8_t *buf, int32_t len, int64_t *info, int32_t ninfo);

/*
 * A masked client frame (RFC 6455 §5.3, fresh random mask) with FIN set: opcode 1 text,
 * 2 binary, 8 close, 9 ping, 10 pong (control payloads <= 125). Returns its length.
 */
DECP_API int32_t decp_ws_encode(int32_t opcode, const uint8_t *payload, int32_t len,
				uint8_t *out, int32_t out_cap);

/* A binary WebSocket frame carrying ClientMessage{Subscribe{master, next sequence}}
 * (the guard's: history the account has consumed is not resent), with snapshot = true
 * once decp_rx_resync turned re-sync on; from 0 (live) once after an Error{CODE_RANGE}
 * (decp_rx_message 6). Returns its length. */
DECP_API int32_t decp_rx_subscribe(int64_t rx, uint8_t *out, int32_t out_cap);

/*
 * A re-sync owed (docs/mt5.md "Receiver"), with re-sync on (decp_rx_resync): a signal
 * decp_rx_check consumed without executing it, with nothing after it to bring the account
 * back in line with the master (a copy of a position he closed would stay open, one he
 * opened would be missing):
 *   - refused TTL_EXPIRED (stale, or from the "future": verdict[16]);
 *   - refused STATE_LOCKED while the guard is LOCKED_NO_FUNDS, PAUSED_TOXIC or
 *     SUSPENDED_ADMIN (every signal is consumed then, a CLOSE included), the opening
 *     refused INSUFFICIENT_FUNDS that moved it into LOCKED_NO_FUNDS, and a snapshot
 *     decp_rx_resync_plan dropped in those states (ABI 9).
 * This returns a binary WebSocket frame carrying ClientMessage{Subscribe{master, from the
 * first such sequence, snapshot = true}} to send on the open connection: the fan-out
 * answers with the master's book (decp_rx_message 9, 11, 12) and the account is reconciled
 * as after a reconnect. Asked only
 *   - once that signal is DECP_RX_RESYNC_ASK_AGE_MS old (the fan-out replays a younger
 *     one instead): at once when its measured age (less the clock's error bound) is, else
 *     that long after the check on the local clock (ABI 9: a signal from the "future" asked
 *     at once before);
 *   - while the guard is SYNCED or DEGRADED_GAP (after a halt: once the funds returned,
 *     decp_rx_account 1), and no replay (SyncStart .. SyncEnd) runs;
 *   - once per DECP_RX_RESYNC_ASK_AGAIN_MS (local clock), again until a snapshot begins
 *     while the guard is SYNCED or DEGRADED_GAP (ABI 9: again also without a new check).
 * Call it after every refused check and on a timer. Returns the frame's length, 0 when
 * nothing is to be asked now (re-sync off, nothing owed, too young, halted, a snapshot
 * being received or planned, a replay running, asked within 5 s), DECP_E_INVAL,
 * DECP_E_HANDLE.
 */
DECP_API int32_t decp_rx_resync_ask(int64_t rx, int64_t local_now_ns, uint8_t *out,
				    int32_t out_cap);

/* A binary WebSocket frame carrying ClientMessage{TimePing{local_now_ns}}: the reply
 * (TimePong, via decp_rx_message) feeds the guard's server-clock estimate. */
DECP_API int32_t decp_rx_time_ping(int64_t rx, int64_t local_now_ns, uint8_t *out,
				   int32_t out_cap);

/*
 * Handles one ServerMessage (a binary frame's payload) received at local_now_ns.
 * Returns its member, with info[] (ninfo >= 12) and symbol filled:
 *   1 Envelope: decoded (from the signed body, never from routing copies) and kept for
 *     decp_rx_check, with the fan-out's stamps (fanout_send_ns, replay: the guard's
 *     staleness attribution, never a reason to accept). info: master_id, sequence,
 *     order_type, volume, price, sl, tp, position_ticket, server_arrival_ns,
 *     expiration_ns, master_time_ns, 1 when the envelope was sent by a replay (its
 *     replay flag, or between SyncStart and SyncEnd) else 0, and with ninfo >= 13 the
 *     pip (1e-5) the guard uses for the master's instrument (0: its registry does not
 *     know it; the price check then refuses): the EA's pip_value is money per THAT pip,
 *     whatever the broker calls the symbol (a mapped GOLD is XAUUSD's 0.1). symbol
 *     (sym_cap >= DECP_SYMBOL_MAX): the SUBSCRIBER's symbol after the policy's mapping,
 *     whose quote and contract the EA passes to decp_rx_check.
 *   2 SyncStart (info: master, from, to), 3 SyncEnd (info: master, last; a DEGRADED_GAP
 *     subscription is re-synced here), 4 TimePong (the clock sample is taken here; info:
 *     offset estimate ns, rtt ns), 5 StateChange (info: subscription, master, old, new,
 *     cause), 6 Error (info: code; for CODE_RANGE (11) of this receiver's master,
 *     "range not retained: master=M from=F first_available=A" (docs/fanout.md): info[1]
 *     F, info[2] A, info[3] 1 = what was trimmed can never come, the guard leaves SYNCED
 *     and the next decp_rx_subscribe asks from the stream's end, 0 (live), so that the
 *     SyncEnd after it continues the guard there: the account may differ from the
 *     master's by what was lost, the EA says so), 7 ReportAck (the report is durable: the DLL forgets
 *     it; info: report_id, 1 when it was unacknowledged here else 0), 8 CopyPolicy (the
 *     subscription's policy; info: version, 1 applied now -- the policy in force from the
 *     next decp_rx_check, narrowed by the local one --, 0 not newer than the one in force
 *     (nothing changed), -1 refused: another master, or outside the guard's rules
 *     (guard_policy_valid; the policy in force stays); subscription_id, master_id),
 *     10 KeyAnnouncement (docs/protocol.md "Key
 *     announcement"; info: master, 1 accepted -- the new key verifies from now on, the
 *     old one until info[2] ns on the server clock --, 0 the key already trusted, -1
 *     refused: not signed by the trusted key, another master, or malformed; the trusted
 *     key stays),
 *   9 SnapshotBegin, 11 SnapshotPart, 12 SnapshotEnd: a re-sync snapshot ("Re-sync by
 *     snapshot" below; only after decp_rx_resync). 9: info master, S, count,
 *     from_sequence, reason (1 range, 2 stale), subscription_id; the guard leaves SYNCED
 *     for DEGRADED_GAP (it executes nothing until decp_rx_resync_done). 11: info master,
 *     S, entries received so far, count. 12: info master, S, count, 1: complete and its
 *     signature verified with the platform key -- plan it now, before the next message.
 * DECP_E_MALFORMED: undecodable, or an envelope whose body is invalid or disagrees with
 * its routing copies (report it; no state changed).
 * DECP_E_SNAPSHOT (9, 11, 12): the snapshot is refused and dropped, nothing of it will be
 * planned; info: master, S, why: 1 re-sync not turned on, 2 another master, 3 more than
 * DECP_RX_SNAPSHOT_MAX entries, 4 out of order (a part or end without its begin, another
 * sequence), 5 an invalid entry (ticket 0, a type that is not a position or pending
 * order, volume <= 0), 6 the entries do not add up to the count, 7 a ticket twice, 8 S
 * below the guard's last sequence. DECP_E_BADSIG (12): the signature does not verify
 * with the platform key (missing, another key, entries altered, dropped or reordered on
 * the way): refused, nothing planned. After a refusal the guard stays DEGRADED_GAP: the
 * EA reconnects and subscribes again (a new snapshot).
 */
DECP_API int32_t decp_rx_message(int64_t rx, const uint8_t *payload, int32_t len,
				 int64_t local_now_ns, int64_t *info, int32_t ninfo,
				 uint8_t *symbol, int32_t sym_cap);

/*
 * Re-sync by snapshot (docs/resync.md, docs/mt5.md "Re-sync by snapshot"): instead of a
 * replay of signals too old to execute, the fan-out sends the master's position book at
 * sequence S, signed by the platform; the EA makes its account follow it under the copy
 * policy, then continues with live signals from S + 1. History is never executed.
 *
 *   decp_rx_resync(platform key)           once: Subscribe carries snapshot = true
 *   decp_rx_message == 9, 11 x k, 12       collected, digested, verified (12 == verified)
 *   decp_rx_resync_entry(i)                (optional) what the master holds, mapped
 *   decp_rx_resync_held x h                the EA's copies of this master's positions
 *   decp_rx_resync_held_master x h         (optional) each copy's master volume
 *   decp_rx_resync_quote x q               quotes of the mapped symbols
 *   decp_rx_resync_plan                    the guard's plan: n actions
 *   decp_rx_resync_action(0..n-1)          CLOSE/REDUCE/MODIFY/OPEN to execute, SKIP to log
 *   decp_rx_resync_done                    ResyncDone frame; the guard continues at S + 1
 *
 * Do all of it when decp_rx_message returns 12, before handling the next message: the
 * envelopes S + 1.. follow at once and the guard refuses them until decp_rx_resync_done.
 *
 * decp_rx_resync: turns re-sync on with the platform's Ed25519 public key (32 bytes; the
 * fan-out logs it at start, docs/control.md fanout_snapshot_key): an EA never reconciles
 * from a snapshot it cannot verify. Allocates the handle's fixed re-sync storage once
 * (about 0.6 MB). Returns DECP_OK, DECP_E_INVAL (NULL, pub_len != 32; a 32-byte value
 * that is no key may be taken: then no snapshot verifies; a handle whose TTL is below
 * DECP_RX_RESYNC_ASK_AGE_MS: a signal refused stale younger than that asks no re-sync, so
 * its CLOSE would be lost), DECP_E_NOMEM, DECP_E_STATE (already on), DECP_E_HANDLE.
 */
DECP_API int32_t decp_rx_resync(int64_t rx, const uint8_t *platform_pub, int32_t pub_len);

/* The index-th entry of the verified snapshot (sorted by ticket): info (ninfo >= 8): ticket,
 * type, volume, price, sl, tp, expiration_ns, 1 when the policy copies its symbol (filters)
 * else 0, with ninfo >= 9 the guard's pip of the master's instrument (as decp_rx_message's
 * info[12]: the pip decp_rx_resync_quote's pip_value is per); symbol: the SUBSCRIBER's symbol after the policy's mapping (sym_cap >=
 * DECP_SYMBOL_MAX; empty when it does not fit), whose quote decp_rx_resync_quote wants.
 * Returns 1, 0 past the last entry, DECP_E_STATE (no verified snapshot), DECP_E_INVAL,
 * DECP_E_HANDLE. */
DECP_API int32_t decp_rx_resync_entry(int64_t rx, int32_t index, int64_t *info, int32_t ninfo,
				      uint8_t *symbol, int32_t sym_cap);

/* One of the EA's copies of this master's positions or pending orders (its magic/comment
 * say which master ticket it copies): master_ticket (> 0), symbol (the broker's, ASCII
 * 1..32), type (decp.OrderType of the copy as held: BUY, SELL or a pending type), volume
 * (0.01 lot, > 0), price, sl, tp (1e-5). Returns how many are held, DECP_E_STATE (no
 * verified snapshot: hand them after 12), DECP_E_NOBUFS (DECP_RX_HELD_MAX), DECP_E_INVAL
 * (also: that master ticket twice), DECP_E_HANDLE. */
DECP_API int32_t decp_rx_resync_held(int64_t rx, int64_t master_ticket, const wchar_t *symbol,
				     int32_t type, int64_t volume, int64_t price, int64_t sl,
				     int64_t tp);

/* The master's volume (0.01 lot, > 0) of a held copy's position when the copy was last
 * in line with it: the volume of the signal that opened it, less the master's partial
 * closes since (DecpReceiver keeps it per copy). Optional, after decp_rx_resync_held;
 * with it the plan follows the master's partial closes as a live CLOSE_PARTIAL does and
 * keeps a copy he did not change as it is (guard_held.master_volume, docs/guard.md
 * "Re-sync"); without it (0: unknown) a copy is cut to what the policy would open now,
 * which with EQUITY_RATIO or RISK_PERCENT sizing follows the account's equity. Returns
 * DECP_OK, DECP_E_STATE (no verified snapshot), DECP_E_INVAL (no copy of that ticket held,
 * volume <= 0), DECP_E_HANDLE. */
DECP_API int32_t decp_rx_resync_held_master(int64_t rx, int64_t master_ticket,
					    int64_t master_volume);

/* The quote and contract of a subscriber symbol, as decp_rx_check's view (nview >= 9:
 * bid, ask, vol_min, vol_max, vol_step, pip_value, wallet balance, wallet reserved,
 * equity; entries 9..11 ignored; nview >= 13: view[12] the account currency per unit of
 * the symbol's quote currency, 1e-5, >= 0, the margin check's rate for its OPENs, as
 * decp_rx_account_state's quote_rate but per symbol: 0 or absent, the account's;
 * nview >= 14: view[13] the broker's contract size, as decp_rx_check's). A
 * symbol without a quote gets no market OPEN (SKIP PRICE_DEVIATION); an OPEN of a cross
 * without a rate, none either (SKIP INSUFFICIENT_MARGIN). Returns how many symbols are
 * quoted, DECP_E_STATE, DECP_E_NOBUFS (DECP_RX_QUOTES_MAX), DECP_E_INVAL (also a negative
 * rate), DECP_E_HANDLE. */
DECP_API int32_t decp_rx_resync_quote(int64_t rx, const wchar_t *symbol, const int64_t *view,
				      int32_t nview);

/* The plan (guard_resync_plan: docs/guard.md "Re-sync") under the copy policy in force,
 * with the broker account of the last decp_rx_account_state (the margin of OPENs; none
 * before the first) and the equity-protection flag. Planning again (more held copies or
 * quotes) replaces the plan. Returns the number of actions, DECP_E_STATE (no verified
 * snapshot), DECP_E_INVAL, DECP_E_HANDLE. */
DECP_API int32_t decp_rx_resync_plan(int64_t rx);

/*
 * The index-th action of the plan, in the order to execute (CLOSEs, REDUCEs, MODIFYs,
 * OPENs, then SKIPs). Returns its op: 1 CLOSE (the whole copy, or delete the pending
 * order), 2 REDUCE (close volume of it), 3 MODIFY (sl, tp; a pending order's price), 4
 * OPEN (open or place the order), 5 SKIP (not copied: reason says why); 0 past the last.
 * act (nact >= 13): op, order type (decp.OrderType, after reverse copy), volume (0.01 lot),
 * price, sl, tp (1e-5), master ticket, expiration_ns, the master's volume, reason
 * (decp.ProtectionReason, SKIP only), filter (FILTERED only), deviation_pips_x100
 * (PRICE_DEVIATION), margin_needed (INSUFFICIENT_MARGIN, 1e-4). symbol (sym_cap >=
 * DECP_SYMBOL_MAX): the broker symbol to trade. DECP_E_STATE (not planned), DECP_E_INVAL,
 * DECP_E_HANDLE.
 */
DECP_API int32_t decp_rx_resync_action(int64_t rx, int32_t index, int64_t *act, int32_t nact,
				       uint8_t *symbol, int32_t sym_cap);

/* After executing the plan: a binary WebSocket frame carrying ClientMessage{ResyncDone{
 * master, S, opened, closed, reduced, modified, skipped}} (the plan's counts); the guard
 * continues at S + 1 (SYNCED again; a signal at or below S is REPLAY from now on) and the
 * server moves the subscription back to SYNCED. Returns its length, DECP_E_STATE (not
 * planned), DECP_E_INVAL, DECP_E_NOBUFS, DECP_E_HANDLE. */
DECP_API int32_t decp_rx_resync_done(int64_t rx, uint8_t *out, int32_t out_cap);

/*
 * Runs the ExecutionGuard (guard_signal_check: Sequence, State, TTL, Price, Funds,
 * Signature, copy policy) on the envelope decp_rx_message kept, with the account as the
 * EA sees it now and the broker account of the last decp_rx_account_state (the margin
 * check, INSUFFICIENT_MARGIN; none before the first). view (nview >= 12): bid, ask (1e-5;
 * 0 = no quote), vol_min, vol_max,
 * vol_step (0.01 lot), pip_value (1e-4 money per pip per lot), wallet balance, wallet
 * reserved (1e-4), equity (1e-4), position open (0/1), position volume (0.01 lot),
 * master's volume of that position (0.01 lot); nview >= 13: view[12] the account currency
 * per unit of the symbol's quote currency (1e-5, >= 0; 0: decp_rx_account_state's rate);
 * nview >= 14: view[13] the broker's contract size of the symbol, base units per 1.00
 * lot in 1e-4 (SYMBOL_TRADE_CONTRACT_SIZE x 10000, >= 0; 0 or absent: the instrument
 * registry's). The master's lots mean the registry's contract size: MULTIPLIER and
 * EQUITY_RATIO sizing convert them to this contract (the master's 1.00 lot of gold at
 * 100 oz is 100.00 lots at 1 oz), and the margin check counts this contract's units.
 * Returns the reason: 0 execute, else decp.ProtectionReason (1..10, 22). verdict (nverdict
 * >= 16): reason, filter, authenticated, order type, volume, price, sl, tp, master
 * ticket, sequence, expiration_ns, age_ns, deviation_pips_x100, state after,
 * expected sequence, close_all; nverdict >= 17 (ABI 8): verdict[16] 1 when the signal's
 * age was negative beyond the clock estimate's tolerance (guard_clock_tolerance): the
 * estimate is wrong, the signal refused TTL_EXPIRED, the estimate dropped (decp_rx_state
 * st[5] 0, st[16] -1): send a TimePing now. order_symbol: the symbol to trade (sym_cap >=
 * DECP_SYMBOL_MAX). A forged envelope (signature invalid) changes nothing. The envelope
 * is consumed: a second call returns DECP_E_STATE.
 */
DECP_API int32_t decp_rx_check(int64_t rx, int64_t local_now_ns, const int64_t *view,
			       int32_t nview, int64_t *verdict, int32_t nverdict,
			       uint8_t *order_symbol, int32_t sym_cap);

/*
 * Reports (docs/protocol.md "Reports"). decp_rx_report and decp_rx_protection give each
 * report a new report_id (unique per subscriber account across runs: the ms of the
 * handle's first report shifted left 22 bits, plus a counter) and keep its bytes in the
 * handle until the server's ReportAck (decp_rx_message kind 7) says it is durable. After
 * a reconnect the EA sends decp_rx_unacked(0..) again; the server stores each report id
 * once. At most DECP_RX_UNACKED_MAX are kept (beyond, the oldest is forgotten and
 * counted, decp_rx_state); the handle is memory: a terminal restart forgets them.
 *
 * decp_rx_report: a binary WebSocket frame carrying ClientMessage{ExecutionReport} for the
 * last checked envelope that was to execute: status (decp.ExecutionReport.Status), the
 * executed volume and fill price, the broker's ticket and retcode, realised profit
 * (1e-4), and when it filled (local clock: converted with the guard's offset). Returns
 * its length, DECP_E_STATE when the last check did not say execute.
 */
DECP_API int32_t decp_rx_report(int64_t rx, int32_t status, int64_t volume, int64_t price,
				int64_t broker_ticket, int32_t retcode, int64_t profit,
				int64_t exec_local_ns, uint8_t *out, int32_t out_cap);

/* A binary WebSocket frame carrying ClientMessage{ProtectionEvent} for the last
 * check's rejection (reason, age, deviation, expected sequence; for TTL_EXPIRED the
 * guard's staleness attribution and the envelope's send stamp). Returns its length,
 * DECP_E_STATE when the last check said execute or nothing was checked. */
DECP_API int32_t decp_rx_protection(int64_t rx, int64_t local_now_ns, uint8_t *out,
				    int32_t out_cap);

/* A fresh binary WebSocket frame of the index-th unacknowledged report (0 = the oldest),
 * the same ClientMessage bytes as first sent. Returns its length, 0 when index is at or
 * past the number kept (done), DECP_E_INVAL on a negative index. */
DECP_API int32_t decp_rx_unacked(int64_t rx, int32_t index, uint8_t *out, int32_t out_cap);

/*
 * The broker account (AccountState, docs/guard.md "Funds: platform wallet and broker
 * margin"), from the EA's AccountInfo* values: currency (3 upper-case letters,
 * ACCOUNT_CURRENCY), leverage (>= 1), balance, equity, margin, free_margin (1e-4 money;
 * balance and margin >= 0), position_count (>= 0: open positions and pending orders),
 * quote_rate (account currency per unit of a cross's quote currency, 1e-5; 0 = unknown,
 * such an order is refused INSUFFICIENT_MARGIN). From now on decp_rx_check checks the
 * margin an order needs against free_margin, and the equity feeds equity protection.
 * Returns 0, or 2 when equity protection tripped now and the policy says close every
 * position; DECP_E_INVAL (nothing changed), DECP_E_HANDLE.
 */
DECP_API int32_t decp_rx_account_state(int64_t rx, const wchar_t *currency, int32_t leverage,
				       int64_t balance, int64_t equity, int64_t margin,
				       int64_t free_margin, int32_t position_count,
				       int64_t quote_rate);

/* One position (or pending order) for the next decp_rx_account_frame: master_id (0 = not
 * a copied one), master_ticket, symbol (broker's, ASCII 0..32), type (decp.OrderType),
 * volume (0.01 lot), price, sl, tp (1e-5), profit (1e-4). Returns how many are queued,
 * DECP_E_NOBUFS past DECP_RX_POSITIONS_MAX (the rest are only counted in position_count),
 * DECP_E_INVAL, DECP_E_HANDLE. */
DECP_API int32_t decp_rx_account_position(int64_t rx, int64_t master_id, int64_t master_ticket,
					  const wchar_t *symbol, int32_t type, int64_t volume,
					  int64_t price, int64_t sl, int64_t tp, int64_t profit);

/* A binary WebSocket frame carrying ClientMessage{AccountState}: the last
 * decp_rx_account_state and the queued positions (then cleared), time_ns = local_now_ns.
 * Returns its length, DECP_E_STATE before any decp_rx_account_state. */
DECP_API int32_t decp_rx_account_frame(int64_t rx, int64_t local_now_ns, uint8_t *out,
				       int32_t out_cap);

/* Account update (trusted, local): wallet balance/reserved and equity (1e-4). Returns a
 * bit set: 1 the subscription left LOCKED_NO_FUNDS, 2 equity protection tripped now and
 * the policy says close everything. */
DECP_API int32_t decp_rx_account(int64_t rx, int64_t balance, int64_t reserved, int64_t equity);

/* The guard's state for persistence and display. st (n >= 6): state, last_seq,
 * last_executed_seq, executed, next sequence to subscribe from, clock estimate valid
 * (0/1); when n allows: reports unacknowledged (6), acknowledged (7), forgotten over
 * DECP_RX_UNACKED_MAX (8), the policy version in force (9, 0 = local), equity protection
 * tripped (10, 0/1), re-sync phase (11: 0 off or idle, 1 receiving, 2 verified, 3
 * planned), snapshots verified (12), refused (13), reconciled (14), equity protection's
 * peak equity (15, 1e-4 money, 0 = none seen), the clock estimate's error bound (16, ns:
 * the best TimePong's round trip / 2, -1 = none; the guard refuses every signal while it
 * exceeds the TTL: ping again soon). Returns DECP_OK. */
DECP_API int32_t decp_rx_state(int64_t rx, int64_t *st, int32_t n);

/* Equity protection as decp_rx_state left it before a restart (ABI 7): peak_equity (st[15],
 * >= 0; the peak becomes the higher of it and the one held) and tripped (st[10], 0/1: 1
 * keeps copying stopped until the user re-arms). A new handle forgets both, so without
 * this a restarted EA copied again after a trip and measured the drawdown from the reduced
 * equity. Returns DECP_OK; DECP_E_INVAL (peak < 0, tripped not 0/1), DECP_E_HANDLE. */
DECP_API int32_t decp_rx_equity_restore(int64_t rx, int64_t peak_equity, int32_t tripped);

#endif
