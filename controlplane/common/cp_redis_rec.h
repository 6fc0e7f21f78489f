/*
 * One signal as stored in its master's Redis stream (docs/control.md "Redis key layout").
 *
 * Entry ID "<sequence>-0", one field "r" holding the record in binary:
 *   byte 0      format version, 1
 *   bytes 1-8   server arrival time, ns since 1970, int64 little-endian
 *   byte 9      HMAC length H (0..255)
 *   byte 10     Ed25519 signature length S (0..255)
 *   then        H bytes of HMAC, S bytes of signature, and the Signal body (the rest)
 * One field instead of four costs Redis ~20 % less per signal (docs/perf.md "control").
 *
 * Entries written before that (and by other tools) have four fields: "a" arrival ns as
 * decimal text, "b" body, "h" HMAC, "s" signature. Every reader goes through
 * cp_rec_from_fields, which takes both.
 */
#ifndef CP_REDIS_REC_H
#define CP_REDIS_REC_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CP_REC_FIELD "r"
#define CP_REC_VERSION 1
#define CP_REC_HDR 11u

struct cp_rec {
	int64_t arrival_ns;
	const uint8_t *body, *hmac, *sig; /* hmac, sig: NULL when absent (old entries only) */
	size_t body_len, hmac_len, sig_len;
};

/* Bytes cp_rec_pack needs for r. */
static inline size_t cp_rec_size(const struct cp_rec *r)
{
	return CP_REC_HDR + r->hmac_len + r->sig_len + r->body_len;
}

/* Writes r into out (cp_rec_size(r) bytes). Returns the length, or 0 if out is too small
 * or the HMAC or signature is longer than 255 bytes. */
static inline size_t cp_rec_pack(uint8_t *out, size_t cap, const struct cp_rec *r)
{
	size_t n = cp_rec_size(r);
	if (n > cap || r->hmac_len > 255 || r->sig_len > 255)
		return 0;
	uint64_t a = (uint64_t)r->arrival_ns;
	out[0] = CP_REC_VERSION;
	for (int i = 0; i < 8; i++)
		out[1 + i] = (uint8_t)(a >> (8 * i));
	out[9] = (uint8_t)r->hmac_len;
	out[10] = (uint8_t)r->sig_len;
	uint8_t *p = out + CP_REC_HDR;
	if (r->hmac_len)
		memcpy(p, r->hmac, r->hmac_len);
	p += r->hmac_len;
	if (r->sig_len)
		memcpy(p, r->sig, r->sig_len);
	p += r->sig_len;
	if (r->body_len)
		memcpy(p, r->body, r->body_len);
	return n;
}

/* Reads a packed record; r points into p. False if p is not one (short, other version). */
static inline bool cp_rec_unpack(const void *p, size_t n, struct cp_rec *r)
{
	const uint8_t *b = p;
	if (n < CP_REC_HDR || b[0] != CP_REC_VERSION || CP_REC_HDR + (size_t)b[9] + b[10] > n)
		return false;
	uint64_t a = 0;
	for (int i = 0; i < 8; i++)
		a |= (uint64_t)b[1 + i] << (8 * i);
	r->arrival_ns = (int64_t)a;
	r->hmac_len = b[9];
	r->sig_len = b[10];
	r->hmac = b + CP_REC_HDR;
	r->sig = r->hmac + r->hmac_len;
	r->body = r->sig + r->sig_len;
	r->body_len = n - CP_REC_HDR - r->hmac_len - r->sig_len;
	return true;
}

/* The record of a stream entry's field list (f1 v1 f2 v2 ...), in either layout. False if
 * it holds neither a valid "r" nor at least "a" and "b". */
static inline bool cp_rec_from_fields(const redisReply *fl, struct cp_rec *r)
{
	const redisReply *a = NULL, *b = NULL, *h = NULL, *s = NULL;
	memset(r, 0, sizeof(*r));
	if (fl == NULL || fl->type != REDIS_REPLY_ARRAY)
		return false;
	for (size_t i = 0; i + 1 < fl->elements; i += 2) {
		const redisReply *k = fl->element[i], *v = fl->element[i + 1];
		if (k->type != REDIS_REPLY_STRING || k->len != 1 || v->type != REDIS_REPLY_STRING)
			continue;
		switch (k->str[0]) {
		case 'r': return cp_rec_unpack(v->str, v->len, r);
		case 'a': a = v; break;
		case 'b': b = v; break;
		case 'h': h = v; break;
		case 's': s = v; break;
		default: break;
		}
	}
	if (a == NULL || b == NULL)
		return false;
	r->arrival_ns = strtoll(a->str, NULL, 10);
	r->body = (const uint8_t *)b->str;
	r->body_len = b->len;
	if (h != NULL) {
		r->hmac = (const uint8_t *)h->str;
		r->hmac_len = h->len;
	}
	if (s != NULL) {
		r->sig = (const uint8_t *)s->str;
		r->sig_len = s->len;
	}
	return true;
}

#endif
