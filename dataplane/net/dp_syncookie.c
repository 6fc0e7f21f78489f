/* dp_syncookie.c: SYN cookie encode/verify, layout in dp_syncookie.h. */
#include "dp_syncookie.h"

#include <string.h>

const uint16_t dp_syncookie_mss[4] = { 536, 1220, 1440, 1460 };

#define MAC_BITS 23u
#define MAC_MASK ((1u << MAC_BITS) - 1)

static uint32_t cookie_mac(const struct dp_siphash_key *key, const struct dp_syncookie_tuple *t,
			   uint32_t peer_isn, uint64_t counter, uint32_t high_bits)
{
	uint8_t buf[4 + 4 + 2 + 2 + 4 + 8 + 4];
	size_t off = 0;

	memcpy(buf + off, &t->saddr, 4); off += 4;
	memcpy(buf + off, &t->daddr, 4); off += 4;
	memcpy(buf + off, &t->sport, 2); off += 2;
	memcpy(buf + off, &t->dport, 2); off += 2;
	memcpy(buf + off, &peer_isn, 4); off += 4;
	memcpy(buf + off, &counter, 8); off += 8;
	memcpy(buf + off, &high_bits, 4); off += 4;
	return (uint32_t)dp_siphash(key, buf, off) & MAC_MASK;
}

uint32_t dp_syncookie_make(const struct dp_siphash_key *key, const struct dp_syncookie_tuple *t,
			   uint32_t peer_isn, uint64_t counter, const struct dp_syncookie_opts *o)
{
	uint32_t mssi = 0, ws, hi;
	uint16_t peer_mss = o->mss ? o->mss : 536;

	for (uint32_t i = 0; i < 4; i++)
		if (dp_syncookie_mss[i] <= peer_mss)
			mssi = i;
	ws = o->wscale > 14 ? DP_SYNCOOKIE_WS_NONE : o->wscale;
	hi = (uint32_t)(counter & 3) << 30 | mssi << 28 | ws << 24 | (o->ts_ok ? 1u : 0u) << 23;
	return hi | cookie_mac(key, t, peer_isn, counter, hi);
}

bool dp_syncookie_check(const struct dp_siphash_key *key, const struct dp_syncookie_tuple *t,
			uint32_t peer_isn, uint64_t counter, uint32_t cookie,
			struct dp_syncookie_opts *o)
{
	uint32_t hi = cookie & ~MAC_MASK;
	uint64_t made;
	uint32_t delta = (uint32_t)(counter - (cookie >> 30)) & 3;

	/* Accept the current period and the previous one only. */
	if (delta > 1 || counter < delta)
		return false;
	made = counter - delta;
	if (cookie_mac(key, t, peer_isn, made, hi) != (cookie & MAC_MASK))
		return false;
	o->mss = dp_syncookie_mss[(cookie >> 28) & 3];
	o->wscale = (uint8_t)((cookie >> 24) & 0xf);
	o->ts_ok = (cookie >> 23) & 1;
	return true;
}
