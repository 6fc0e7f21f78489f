/*
 * dp_syncookie.h: stateless SYN cookies (the idea of RFC 4987 §3.6), our own encoding.
 *
 * The cookie is our initial sequence number in the SYN-ACK. It carries what we must
 * remember about the SYN without storing anything:
 *
 *    31   30 29  28 27    24  23  22                         0
 *   +-------+------+--------+----+----------------------------+
 *   | epoch | mssi | wscale | ts |  MAC (23 bits)             |
 *   +-------+------+--------+----+----------------------------+
 *
 *   epoch  : low 2 bits of the time counter floor(now / period); a cookie is accepted in
 *            its own period and the next (age < 2 periods)
 *   mssi   : index into dp_syncookie_mss[] of the largest table MSS <= the peer's MSS; a
 *            peer MSS below 536 still gets 536 (RFC 9293 §3.7.1 default), so a tiny
 *            advertised MSS cannot make us cut our data into many tiny segments
 *   wscale : the peer's window-scale shift 0..14, 15 = no window-scale option
 *   ts     : the SYN carried a timestamp option
 *   MAC    : SipHash-2-4(secret; addresses, ports, peer ISN, full time counter, bits 31..23)
 *
 * A blind attacker who completes a handshake must guess 23 MAC bits: 1 in 8.4 million
 * per try per period. SACK is not offered, so it needs no bit.
 */
#ifndef DP_SYNCOOKIE_H
#define DP_SYNCOOKIE_H

#include <stdbool.h>
#include <stdint.h>

#include "dp_siphash.h"

#define DP_SYNCOOKIE_WS_NONE 15u

extern const uint16_t dp_syncookie_mss[4];

struct dp_syncookie_opts {
	uint16_t mss;    /* on make: the peer's MSS (0 = absent, RFC 9293 default 536);
			    on check: the table MSS encoded */
	uint8_t wscale;  /* 0..14 or DP_SYNCOOKIE_WS_NONE */
	bool ts_ok;
};

/* 4-tuple in host order, from the peer's point of view (saddr = peer). */
struct dp_syncookie_tuple {
	uint32_t saddr, daddr;
	uint16_t sport, dport;
};

/* Build the cookie ISN for a SYN with sequence number peer_isn. counter =
 * now / period, chosen by the caller. Cannot fail. */
uint32_t dp_syncookie_make(const struct dp_siphash_key *key, const struct dp_syncookie_tuple *t,
			   uint32_t peer_isn, uint64_t counter, const struct dp_syncookie_opts *o);

/* Check cookie (= SEG.ACK - 1 of the handshake ACK) against the tuple and the peer's ISN
 * (= SEG.SEQ - 1) at time counter. Returns true and fills *o when it is genuine and fresh. */
bool dp_syncookie_check(const struct dp_siphash_key *key, const struct dp_syncookie_tuple *t,
			uint32_t peer_isn, uint64_t counter, uint32_t cookie,
			struct dp_syncookie_opts *o);

#endif /* DP_SYNCOOKIE_H */
