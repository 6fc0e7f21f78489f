/*
 * cp_fanout_msg: the fan-out's outgoing messages as reference-counted buffers.
 *
 * A struct cp_fmsg holds one serialised ServerMessage preceded by LWS_PRE bytes of
 * headroom, so lws_write() can put the WebSocket header in front without a copy. An
 * Envelope is encoded once and the same buffer is queued to every subscriber of its
 * master; each queue slot and each history slot holds one reference.
 *
 * Per-connection stamps without a re-encode: an Envelope is encoded with its
 * fanout_send_ns (5) as a fixed-width 10-byte varint (a non-minimal varint, which every
 * protobuf decoder accepts, proto_wire included) and replay (6) as one byte, both at
 * stamp_off. The lws thread patches them in the shared buffer with cp_fmsg_stamp()
 * immediately before each lws_write(): lws_write either sends the bytes or copies what
 * the socket did not take, so the next connection's patch cannot change bytes already
 * handed over. Cost: 13 bytes per envelope and a 12-byte store per send.
 *
 * Threads: a message is created by any thread and, once handed to the lws thread, its
 * reference count and stamps are touched only there (plain integers, no atomics needed).
 */
#ifndef DECP_CP_FANOUT_MSG_H
#define DECP_CP_FANOUT_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libwebsockets.h>

#include "decp.pb-c.h"

struct cp_fmsg {
	uint32_t refs;
	uint32_t len;     /* payload bytes at data + LWS_PRE */
	uint64_t master;  /* envelopes: routing copies, 0 for other messages */
	uint64_t seq;
	int64_t arrival_ns;
	uint32_t stamp_off; /* envelopes: payload offset of the stamp fields, 0 = none */
	uint8_t data[];   /* LWS_PRE headroom + payload */
};

static inline uint8_t *cp_fmsg_payload(struct cp_fmsg *m)
{
	return m->data + LWS_PRE;
}

/* A tail's start mark for the lws thread, never sent: the tail reads master's stream
 * after seq (its last entry when the tail began). len 0 tells it from an envelope. refs = 1.
 * NULL: no memory. */
struct cp_fmsg *cp_fmsg_mark(uint64_t master, uint64_t seq);

static inline bool cp_fmsg_is_mark(const struct cp_fmsg *m)
{
	return m->len == 0;
}

/* ServerMessage{Envelope{signal = signed_signal (serialised SignedSignal, embedded as is),
 * server_arrival_ns, master_id, sequence, fanout_send_ns = 0, replay = false}}: the last
 * two fixed-width, for cp_fmsg_stamp. refs = 1. Returns NULL (errno ENOMEM, EINVAL). */
struct cp_fmsg *cp_fmsg_envelope(uint64_t master, uint64_t seq, int64_t arrival_ns,
				 const uint8_t *signed_signal, size_t len);

/* As cp_fmsg_envelope from the stored parts of a Redis entry: the SignedSignal is
 * rebuilt as {body, ed25519_sig} (receivers cannot check the HMAC, so it is not sent). */
struct cp_fmsg *cp_fmsg_envelope_parts(uint64_t master, uint64_t seq, int64_t arrival_ns,
				       const uint8_t *body, size_t body_len,
				       const uint8_t *sig, size_t sig_len);

/* Envelopes: set fanout_send_ns and replay in m's bytes (lws thread, right before the
 * write). No-op for messages without stamp fields. */
void cp_fmsg_stamp(struct cp_fmsg *m, int64_t send_ns, bool replay);

/* Pack any ServerMessage. refs = 1. Returns NULL (errno ENOMEM). */
struct cp_fmsg *cp_fmsg_pack(const Decp__ServerMessage *sm);

/* Convenience builders for the control messages. */
struct cp_fmsg *cp_fmsg_error(Decp__Error__Code code, const char *text);
struct cp_fmsg *cp_fmsg_sync_start(uint64_t master, uint64_t from, uint64_t to);
struct cp_fmsg *cp_fmsg_sync_end(uint64_t master, uint64_t last);
struct cp_fmsg *cp_fmsg_report_ack(uint64_t report_id);
struct cp_fmsg *cp_fmsg_state_change(uint64_t sub_id, uint64_t master,
				     Decp__SubscriptionState old_state,
				     Decp__SubscriptionState new_state,
				     Decp__StateChange__Cause cause, int64_t now_ns);

static inline struct cp_fmsg *cp_fmsg_ref(struct cp_fmsg *m)
{
	m->refs++;
	return m;
}

/* Drop one reference; frees on the last. NULL is a no-op. */
void cp_fmsg_unref(struct cp_fmsg *m);

#endif
