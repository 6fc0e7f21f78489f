/*
 * proto_wire: the protobuf wire format of decp.proto's EA-facing messages without
 * protobuf-c, for hosts that cannot link it (the MetaTrader DLL, tools/mt5/, built
 * with mingw-w64) and for the zero-copy readers of proto_view.h.
 *
 * What it covers, and nothing more:
 *   encode  Signal (the body that is signed), Positions (the master's own, one part),
 *           MasterFrame{Hello | SignedSignal | Heartbeat | LoginProof | SignedPositions},
 *           ClientMessage{Subscribe | TimePing | ExecutionReport | ProtectionEvent |
 *           AccountState | ResyncDone}
 *   decode  Signal (validated), IngestFrame (every member), ServerMessage (every
 *           member; an Envelope's SignedSignal as pointers into the input; a CopyPolicy
 *           checked in depth, then read with proto_wire_copy_policy_decode; the re-sync
 *           snapshot's SnapshotBegin/End (9, 12) by field, a SnapshotPart (11) checked in
 *           depth and read with proto_wire_snapshot_part_decode)
 *
 * Byte equality with protobuf-c (the encoders): fields are written in field-number
 * order, proto3 zero scalars and empty strings/bytes are omitted, negative int32/int64
 * take ten bytes, a oneof member is written even when empty. tests/proto/test_wire.c
 * packs the same values with protobuf-c and compares the bytes.
 *
 * Equivalence rule (the decoders), as proto_view.h's: never MORE permissive than
 * protobuf-c. Whatever they accept, protobuf-c decodes to the same values; they refuse
 * some inputs protobuf-c accepts: a known field with another wire type, over-long
 * varints, groups, field number 0, a uint32/enum value wider than 32 bits, a nested
 * message field that occurs twice (protobuf-c would merge them), a symbol with bytes
 * outside 0x21..0x7e, a string with an embedded NUL. Unknown fields are skipped. The
 * oneof member last on the wire wins, every occurrence must be valid.
 * tests/proto/test_wire.c checks this differentially on mutated messages, fuzz_wire on
 * arbitrary input.
 *
 * Return convention: encoders return the encoded length, or -ENOBUFS (out too small),
 * -EINVAL (NULL argument or invalid content). Decoders return the oneof member
 * (field number, >= 1) or -EBADMSG. No function allocates, locks or makes a system
 * call; all are stateless (any thread).
 */
#ifndef DECP_PROTO_WIRE_H
#define DECP_PROTO_WIRE_H

#include <stddef.h>
#include <stdint.h>

/* Wire protocol version carried in Hello/HelloAck (docs/protocol.md "Versioning").
 * 2: challenge-response login (ServerChallenge, LoginProof; proto_login.h), no token on
 * the wire. Version 1 Hellos are refused with Error{CODE_VERSION}. */
#define PROTO_PROTOCOL_VERSION 2u
/* Protocol 1: the license token in Hello, from clients not upgraded yet; only a dataplane
 * started with --allow-protocol-1 accepts it (docs/protocol.md "Versioning"). No decp
 * client sends it any more (proto_wire_hello_encode writes no token). */
#define PROTO_PROTOCOL_VERSION_TOKEN 1u

#define PROTO_SYMBOL_MAX 32u
/* A valid Signal encodes to at most 129 bytes (10 varint fields of <= 11 bytes plus a
 * 34-byte symbol field); bodies longer than this bound are refused before any decoding. */
#define PROTO_SIGNAL_BODY_MAX 192u
/* Longest license token / client version / detail string the encoders accept. */
#define PROTO_WIRE_TEXT_MAX 256u

/* Protobuf wire types (https://protobuf.dev/programming-guides/encoding/). */
enum proto_wire_type { PROTO_WT_VARINT = 0, PROTO_WT_I64 = 1, PROTO_WT_LEN = 2, PROTO_WT_I32 = 5 };

/* A read position in a buffer: p advances towards end. */
struct proto_wire_cursor {
	const uint8_t *p, *end;
};

/*
 * Readers (protobuf-c's limits): a varint of at most maxb bytes (values 10, the 10th
 * byte only 0 or 1; tags and lengths 5); a tag (32 bits, field >= 1); a length prefix
 * and the bytes it covers; skipping one unknown field's value (groups refused).
 * Each returns 0 and advances c, or -1 (c then points somewhere inside the input).
 */
int proto_wire_read_varint(struct proto_wire_cursor *c, uint64_t *v, unsigned maxb);
int proto_wire_read_tag(struct proto_wire_cursor *c, uint32_t *field, unsigned *wt);
int proto_wire_read_len(struct proto_wire_cursor *c, const uint8_t **data, size_t *len);
int proto_wire_skip(struct proto_wire_cursor *c, unsigned wt);
/*
 * The length of the last length-delimited field `field` of the message m[0..len), the
 * occurrence protobuf-c keeps: 0 with *n set, -1 when the message does not parse or has
 * no such field. protobuf-c gives a string field as a NUL-terminated copy, so a string
 * with an embedded NUL ("EUR\0USD") reads as a shorter one through strlen(); the decoders
 * that check strings through protobuf-c compare that strlen() with this length.
 */
int proto_wire_last_len(const uint8_t *m, size_t len, uint32_t field, size_t *n);

/* decp.Signal with its symbol inline (plain data). */
struct proto_wire_signal {
	uint64_t master_id;
	uint64_t sequence;
	char symbol[PROTO_SYMBOL_MAX + 1]; /* NUL-terminated */
	int32_t order_type;                /* decp.OrderType */
	int64_t volume;
	int64_t price, sl, tp;
	uint64_t position_ticket;
	int64_t master_time_ns;
	int64_t expiration_ns;
};

/* The validity rules of proto_signal.h. Returns 0, or -EINVAL (also for NULL). */
int proto_wire_signal_validate(const struct proto_wire_signal *s);

/* Validate, then encode s (the body to sign). Returns the length (<= PROTO_SIGNAL_BODY_MAX),
 * -EINVAL invalid, -ENOBUFS. */
int proto_wire_signal_encode(const struct proto_wire_signal *s, uint8_t *out, size_t cap);

/* Parse and validate a Signal body (1..PROTO_SIGNAL_BODY_MAX bytes). Returns 0 or -EPROTO. */
int proto_wire_signal_parse(const uint8_t *body, size_t len, struct proto_wire_signal *out);

/* ------------------------------------------------------------- master -> ingest -- */

/*
 * MasterFrame{Hello{master_id, client_version, protocol_version}}: the master's login
 * (protocol 2 never sends the license token; proto_login.h), the one place it is built
 * for every host (proto_login_hello_frame and decp.dll wrap it). client_version is
 * NUL-terminated, 0..PROTO_WIRE_TEXT_MAX bytes. Returns the payload length (unframed).
 */
int proto_wire_hello_encode(uint64_t master_id, const char *client_version,
			    uint32_t protocol_version, uint8_t *out, size_t cap);

/* MasterFrame{LoginProof{proof}}: the answer to ServerChallenge (proof 1..64 bytes; the
 * login's is PROTO_LOGIN_PROOF_LEN, proto_login_msg.h). Returns the payload length. */
int proto_wire_login_proof_encode(const uint8_t *proof, size_t len, uint8_t *out, size_t cap);

/* MasterFrame{SignedSignal{body, hmac, sig}}; body 1..PROTO_SIGNAL_BODY_MAX bytes,
 * hmac/sig any length (empty ones are omitted, as protobuf-c does). */
int proto_wire_signed_encode(const uint8_t *body, size_t body_len, const uint8_t *hmac,
			     size_t hmac_len, const uint8_t *sig, size_t sig_len, uint8_t *out,
			     size_t cap);

/* MasterFrame{Heartbeat{time_ns}}. */
int proto_wire_heartbeat_encode(int64_t time_ns, uint8_t *out, size_t cap);

/*
 * The master's own positions (docs/protocol.md "The master's positions"; proto_positions.h
 * is the protobuf-c side, which ingest and the book role use). proto_wire_positions_encode
 * writes one part's Positions body (the bytes the master MACs under
 * "decp-positions-v1"), proto_wire_signed_positions_encode MasterFrame{SignedPositions{body,
 * hmac}}. Both byte-equal to protobuf-c (tests/proto/test_wire.c).
 *
 * The validity rules (proto_positions.h, one source for both sides):
 * proto_wire_positions_entry_check: ticket != 0, type BUY..SELL_STOP (1..6), symbol
 * 1..PROTO_SYMBOL_MAX bytes of 0x21..0x7e, volume > 0, price, sl, tp, expiration_ns >= 0.
 * proto_wire_positions_header_check: master_id != 0, snapshot_id != 0, 1 <= parts, part <
 * parts, count <= PROTO_WIRE_POSITIONS_MAX, parts <= max(count, 1), entries <= count, a
 * part has >= 1 entry unless count is 0. Each returns 0 or -EINVAL.
 */
#define PROTO_WIRE_POSITIONS_BODY_MAX 320u /* = PROTO_POSITIONS_BODY_MAX */
#define PROTO_WIRE_POSITIONS_MAX 10000u    /* = PROTO_POSITIONS_MAX */
struct proto_wire_book_entry;
int proto_wire_positions_entry_check(uint64_t ticket, uint32_t type, const char *symbol,
				     int64_t volume, int64_t price, int64_t sl, int64_t tp,
				     int64_t expiration_ns);
int proto_wire_positions_header_check(uint64_t master_id, uint64_t snapshot_id, uint32_t part,
				      uint32_t parts, uint32_t count, size_t n_entries);

/* One part of a Positions snapshot; entries[0..n) (symbols NUL-terminated). */
struct proto_wire_positions {
	uint64_t master_id, sequence, snapshot_id;
	uint32_t part, parts, count;
	const struct proto_wire_book_entry *entries;
	uint32_t n;
	int64_t master_time_ns;
};

/* Validate (rules above), then encode p (the Positions body). Returns the length,
 * -EINVAL, -ENOBUFS (a caller packing parts encodes into a PROTO_WIRE_POSITIONS_BODY_MAX
 * buffer: -ENOBUFS means the part is full). */
int proto_wire_positions_encode(const struct proto_wire_positions *p, uint8_t *out, size_t cap);

/*
 * Splits n entries into parts that each encode within PROTO_WIRE_POSITIONS_BODY_MAX, in
 * order: part k holds entries [ends[k-1], ends[k]) (ends[-1] = 0). The header is sized
 * with every field at its widest, so any master_id, sequence, snapshot_id and time fit.
 * Returns the number of parts (1 for n = 0, with ends[0] = 0), or -EINVAL (an entry
 * invalid or too big for a part alone, n > PROTO_WIRE_POSITIONS_MAX) or -ENOBUFS (more
 * than max_parts). The one split rule: proto_positions_split (decp-master) calls it.
 */
long proto_wire_positions_split(const struct proto_wire_book_entry *e, size_t n, size_t *ends,
				size_t max_parts);

/* MasterFrame{SignedPositions{body, hmac}}: body 1..PROTO_WIRE_POSITIONS_BODY_MAX bytes,
 * hmac 1..64. Returns the payload length (unframed), -EINVAL, -ENOBUFS. */
int proto_wire_signed_positions_encode(const uint8_t *body, size_t body_len,
				       const uint8_t *hmac, size_t hmac_len, uint8_t *out,
				       size_t cap);

/* ------------------------------------------------------------- ingest -> master -- */

/*
 * A decoded IngestFrame or ServerMessage member: its scalar fields by field number
 * (v[n], unsigned 64-bit as on the wire; absent = 0) and its length-delimited fields
 * (b[n]/bl[n], pointing into the input; absent = NULL/0). Fields above
 * PROTO_WIRE_FIELDS - 1 are unknown to decp and skipped.
 */
#define PROTO_WIRE_FIELDS 14
struct proto_wire_msg {
	uint64_t v[PROTO_WIRE_FIELDS];
	const uint8_t *b[PROTO_WIRE_FIELDS];
	size_t bl[PROTO_WIRE_FIELDS];
};

/* IngestFrame members (decp.proto field numbers). */
enum {
	PROTO_INGEST_HELLO_ACK = 1,
	PROTO_INGEST_ACK = 2,
	PROTO_INGEST_NACK = 3,
	PROTO_INGEST_ERROR = 4,
	PROTO_INGEST_HEARTBEAT = 5,
	PROTO_INGEST_CHALLENGE = 6, /* ServerChallenge: nonce b[1]/bl[1], protocol_version v[2] */
};

/* Decode an IngestFrame payload. Returns the member (PROTO_INGEST_*) with *m filled,
 * or -EBADMSG (malformed, no member, NULL argument). */
int proto_wire_ingest_decode(const uint8_t *p, size_t len, struct proto_wire_msg *m);

/* ------------------------------------------------------- fanout -> subscriber -- */

enum {
	PROTO_SERVER_ENVELOPE = 1,
	PROTO_SERVER_SYNC_START = 2,
	PROTO_SERVER_SYNC_END = 3,
	PROTO_SERVER_TIME_PONG = 4,
	PROTO_SERVER_STATE_CHANGE = 5,
	PROTO_SERVER_ERROR = 6,
	PROTO_SERVER_REPORT_ACK = 7, /* report_id v[1] */
	/* CopyPolicy: subscription_id v[1], master_id v[2], version v[3]; the whole member
	 * (the CopyPolicy message) b[0]/bl[0], for proto_wire_copy_policy_decode */
	PROTO_SERVER_COPY_POLICY = 8,
	/* SnapshotBegin: master_id v[1], sequence v[2], count v[3], from_sequence v[4],
	 * reason v[5], subscription_id v[6] (docs/protocol.md "Re-sync by snapshot") */
	PROTO_SERVER_SNAPSHOT_BEGIN = 9,
	/* KeyAnnouncement: master_id v[1], old key b[2], new key b[3], valid_from_ns v[4],
	 * overlap_until_ns v[5], signature b[6] (docs/protocol.md "Key announcement") */
	PROTO_SERVER_KEY_ANNOUNCEMENT = 10,
	/* SnapshotPart: master_id v[1], sequence v[2]; the whole member b[0]/bl[0], for
	 * proto_wire_snapshot_part_decode (its entries) */
	PROTO_SERVER_SNAPSHOT_PART = 11,
	/* SnapshotEnd: master_id v[1], sequence v[2], count v[3], signature b[4]
	 * (docs/protocol.md "Signed snapshots") */
	PROTO_SERVER_SNAPSHOT_END = 12,
};

/*
 * Decode a ServerMessage payload. For an Envelope, m->v holds server_arrival_ns (2),
 * master_id (3), sequence (4), fanout_send_ns (5), replay (6: any non-zero is true), and
 * *sig receives its SignedSignal: body (b[1]), hmac (b[2]) and ed25519_sig (b[3]); for
 * other members *sig is zeroed. A CopyPolicy is accepted only when
 * proto_wire_copy_policy_decode accepts it, a SnapshotPart only when
 * proto_wire_snapshot_part_decode does. Both m and sig are required. Returns the member
 * (PROTO_SERVER_*) or -EBADMSG.
 */
int proto_wire_server_decode(const uint8_t *p, size_t len, struct proto_wire_msg *m,
			     struct proto_wire_msg *sig);

/* decp.CopyPolicy (docs/protocol.md): every field, texts NUL-terminated. */
#define PROTO_WIRE_POLICY_LIST_MAX 16 /* symbol_map, symbols_allow, symbols_deny entries */
#define PROTO_WIRE_AFFIX_MAX 11       /* prefix, suffix bytes */
struct proto_wire_copy_policy {
	uint64_t subscription_id, master_id, version;
	uint32_t lot_mode; /* decp.CopyPolicy.LotMode */
	int64_t lot_fixed, lot_multiplier_milli, master_equity, risk_bp;
	struct {
		char from[PROTO_SYMBOL_MAX + 1], to[PROTO_SYMBOL_MAX + 1];
	} symbol_map[PROTO_WIRE_POLICY_LIST_MAX];
	uint32_t n_symbol_map;
	char prefix[PROTO_WIRE_AFFIX_MAX + 1], suffix[PROTO_WIRE_AFFIX_MAX + 1];
	char symbols_allow[PROTO_WIRE_POLICY_LIST_MAX][PROTO_SYMBOL_MAX + 1];
	uint32_t n_symbols_allow;
	char symbols_deny[PROTO_WIRE_POLICY_LIST_MAX][PROTO_SYMBOL_MAX + 1];
	uint32_t n_symbols_deny;
	uint32_t order_type_mask;
	int reverse, copy_sl, copy_tp, sync_modify; /* 0 or 1 */
	int64_t max_deviation_pips_x100, min_free_funds, equity_floor, max_drawdown_bp;
	int close_all_on_trip;
};

/*
 * Decode a CopyPolicy message (the member's bytes, b[0]/bl[0] of a PROTO_SERVER_COPY_POLICY
 * decode). Stricter than protobuf-c, never looser: refused are more than
 * PROTO_WIRE_POLICY_LIST_MAX entries in a list, a symbol longer than PROTO_SYMBOL_MAX or
 * an affix longer than PROTO_WIRE_AFFIX_MAX bytes, a symbol or affix byte outside
 * 0x21..0x7e, lot_mode or order_type_mask wider than 32 bits, and the rules of the file
 * comment. Whether the policy itself is sound is the guard's question
 * (guard_policy_valid). Returns 0 with *out filled, or -EBADMSG (out zeroed).
 */
int proto_wire_copy_policy_decode(const uint8_t *p, size_t len,
				  struct proto_wire_copy_policy *out);

/* A re-sync snapshot's part (decp.SnapshotPart): its entries (decp.BookEntry), texts
 * NUL-terminated; int64 fields as on the wire (two's complement). */
#define PROTO_WIRE_PART_ENTRIES_MAX 8 /* the fan-out's bound (1..8 per part) */
struct proto_wire_book_entry {
	uint64_t ticket;
	uint32_t type; /* decp.OrderType */
	char symbol[PROTO_SYMBOL_MAX + 1];
	int64_t volume, price, sl, tp, expiration_ns;
};
struct proto_wire_snapshot_part {
	uint64_t master_id, sequence;
	struct proto_wire_book_entry e[PROTO_WIRE_PART_ENTRIES_MAX];
	uint32_t n;
};

/*
 * Decode a SnapshotPart message (the member's bytes, b[0]/bl[0] of a
 * PROTO_SERVER_SNAPSHOT_PART decode). Stricter than protobuf-c, never looser: refused are
 * more than PROTO_WIRE_PART_ENTRIES_MAX entries, a symbol longer than PROTO_SYMBOL_MAX or
 * with a byte outside 0x21..0x7e, a type wider than 32 bits, and the rules of the file
 * comment. Whether the entries make a book is the receiver's question. Returns 0 with
 * *out filled, or -EBADMSG (out zeroed).
 */
int proto_wire_snapshot_part_decode(const uint8_t *p, size_t len,
				    struct proto_wire_snapshot_part *out);

/* ------------------------------------------------------- subscriber -> fanout -- */

/* ClientMessage{Subscribe{master_id, from_sequence}}. */
int proto_wire_subscribe_encode(uint64_t master_id, uint64_t from_sequence, uint8_t *out,
				size_t cap);

/* ClientMessage{Subscribe{master_id, from_sequence, snapshot = true}}: the client
 * reconciles from snapshots (docs/protocol.md "Re-sync by snapshot"). */
int proto_wire_subscribe_resync_encode(uint64_t master_id, uint64_t from_sequence,
				       uint8_t *out, size_t cap);

/* decp.ResyncDone: the snapshot at `sequence` reconciled, with what it executed. */
struct proto_wire_resync_done {
	uint64_t master_id, sequence;
	uint32_t opened, closed, reduced, modified, skipped;
};

/* ClientMessage{ResyncDone}. Returns the payload length. */
int proto_wire_resync_done_encode(const struct proto_wire_resync_done *d, uint8_t *out,
				  size_t cap);

/* ClientMessage{TimePing{client_send_ns}}. */
int proto_wire_time_ping_encode(int64_t client_send_ns, uint8_t *out, size_t cap);

/* decp.ExecutionReport, fields as in decp.proto (symbol NUL-terminated, may be empty). */
struct proto_wire_exec_report {
	uint64_t subscription_id, master_id, sequence;
	int32_t status;
	char symbol[PROTO_SYMBOL_MAX + 1];
	int64_t volume, price, slippage_points;
	uint64_t broker_ticket;
	int32_t broker_retcode;
	int64_t realized_profit, exec_time_ns, latency_ns;
	uint64_t report_id; /* 14: the EA's id, ReportAck (0 = none) */
};

/* ClientMessage{ExecutionReport}. */
int proto_wire_exec_report_encode(const struct proto_wire_exec_report *r, uint8_t *out,
				  size_t cap);

/* decp.ProtectionEvent (detail NUL-terminated, may be empty). */
struct proto_wire_protection {
	uint64_t subscription_id, subscriber_id, master_id, sequence;
	int32_t reason;
	int64_t age_ns, price_deviation_pips_x100, event_time_ns;
	uint64_t expected_sequence;
	char detail[64];
	int32_t attribution;    /* 11: decp.StalenessAttribution */
	int64_t fanout_send_ns; /* 12: the envelope's send stamp, echoed */
	uint64_t report_id;     /* 13: the EA's id, ReportAck (0 = none) */
};

/* ClientMessage{ProtectionEvent}. */
int proto_wire_protection_encode(const struct proto_wire_protection *e, uint8_t *out,
				 size_t cap);

/* decp.AccountState (docs/protocol.md): the broker account as the EA sees it. */
#define PROTO_WIRE_ACCOUNT_POS_MAX 12 /* positions that fit the fan-out's 1,024-byte limit */
struct proto_wire_account_position {
	uint64_t master_id, master_ticket;
	char symbol[PROTO_SYMBOL_MAX + 1]; /* printable ASCII, 0..32 */
	int32_t type;                      /* decp.OrderType */
	int64_t volume, price, sl, tp, profit;
};
struct proto_wire_account_state {
	int64_t time_ns;
	char currency[4]; /* ISO 4217, 0..3 letters */
	uint32_t leverage;
	int64_t balance, equity, margin, free_margin;
	uint32_t position_count;
	uint32_t n_positions; /* 0..PROTO_WIRE_ACCOUNT_POS_MAX */
	struct proto_wire_account_position positions[PROTO_WIRE_ACCOUNT_POS_MAX];
};

/* ClientMessage{AccountState}. -EINVAL: NULL, n_positions over the maximum, a text not
 * NUL-terminated within its array. */
int proto_wire_account_state_encode(const struct proto_wire_account_state *a, uint8_t *out,
				    size_t cap);

#endif
