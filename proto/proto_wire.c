/* protobuf-c-free encoding/decoding of the EA-facing messages; contract in proto_wire.h. */
#include "proto_wire.h"
#include "proto_wire_pvt.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

/* ------------------------------------------------------------------ readers -- */

int proto_wire_read_varint(struct proto_wire_cursor *c, uint64_t *v, unsigned maxb)
{
	const uint8_t *p = wire_get_varint(c->p, c->end, v, maxb);

	if (p == NULL)
		return -1;
	c->p = p;
	return 0;
}

int proto_wire_read_tag(struct proto_wire_cursor *c, uint32_t *field, unsigned *wt)
{
	const uint8_t *p = wire_get_tag(c->p, c->end, field, wt);

	if (p == NULL)
		return -1;
	c->p = p;
	return 0;
}

int proto_wire_read_len(struct proto_wire_cursor *c, const uint8_t **data, size_t *len)
{
	const uint8_t *p = wire_get_len(c->p, c->end, data, len);

	if (p == NULL)
		return -1;
	c->p = p;
	return 0;
}

int proto_wire_skip(struct proto_wire_cursor *c, unsigned wt)
{
	uint64_t v;
	const uint8_t *d;
	size_t n;

	switch (wt) {
	case PROTO_WT_VARINT:
		return proto_wire_read_varint(c, &v, 10);
	case PROTO_WT_I64:
		if (c->end - c->p < 8)
			return -1;
		c->p += 8;
		return 0;
	case PROTO_WT_LEN:
		return proto_wire_read_len(c, &d, &n);
	case PROTO_WT_I32:
		if (c->end - c->p < 4)
			return -1;
		c->p += 4;
		return 0;
	default:
		return -1;
	}
}

int proto_wire_last_len(const uint8_t *m, size_t len, uint32_t field, size_t *n)
{
	struct proto_wire_cursor c = { m, m + len };
	bool found = false;

	while (c.p < c.end) {
		uint32_t f;
		unsigned wt;
		const uint8_t *d;
		size_t l;

		if (proto_wire_read_tag(&c, &f, &wt) != 0)
			return -1;
		if (f == field && wt == PROTO_WT_LEN) {
			if (proto_wire_read_len(&c, &d, &l) != 0)
				return -1;
			*n = l;
			found = true;
		} else if (proto_wire_skip(&c, wt) != 0) {
			return -1;
		}
	}
	return found ? 0 : -1;
}

/* ------------------------------------------------------------------- Signal -- */

/* proto_signal.h's rules on everything but the symbol. */
static bool signal_scalars_valid(const struct proto_wire_signal *s)
{
	if (s->master_id == 0 || s->sequence == 0 || s->position_ticket == 0)
		return false;
	switch (s->order_type) {
	case 1: case 2: case 3: case 4: case 5: case 6: case 9: /* opening, CLOSE_PARTIAL */
		if (s->volume <= 0)
			return false;
		break;
	case 7: case 8: /* CLOSE, MODIFY: 0 = whole position / no volume */
		if (s->volume < 0)
			return false;
		break;
	default:
		return false;
	}
	return s->price >= 0 && s->sl >= 0 && s->tp >= 0 && s->master_time_ns > 0 &&
	       s->expiration_ns >= 0;
}

/* A symbol's bytes: printable ASCII only, so no embedded NUL can shorten what protobuf-c
 * sees. */
static bool symbol_bytes_valid(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] < 0x21 || p[i] > 0x7e)
			return false;
	return true;
}

int proto_wire_signal_validate(const struct proto_wire_signal *s)
{
	size_t sym_len;

	if (s == NULL)
		return -EINVAL;
	sym_len = strnlen(s->symbol, sizeof(s->symbol));
	if (sym_len == 0 || sym_len > PROTO_SYMBOL_MAX ||
	    !symbol_bytes_valid((const uint8_t *)s->symbol, sym_len))
		return -EINVAL;
	return signal_scalars_valid(s) ? 0 : -EINVAL;
}

/*
 * One pass: each field is checked as it is read (wire type, varint limits, the symbol's
 * bytes), the scalars' rules once at the end. The position stays in a register
 * (proto_wire_pvt.h).
 */
int proto_wire_signal_parse(const uint8_t *body, size_t len, struct proto_wire_signal *out)
{
	const uint8_t *p = body, *end;
	size_t sym_len = 0;

	if (body == NULL || out == NULL || len == 0 || len > PROTO_SIGNAL_BODY_MAX)
		return -EPROTO;
	end = body + len;
	memset(out, 0, sizeof(*out));
	while (p < end) {
		uint32_t f;
		unsigned wt;
		uint64_t v;

		if ((p = wire_get_tag(p, end, &f, &wt)) == NULL)
			return -EPROTO;
		if (f == 3) {
			const uint8_t *d;
			size_t n;

			if (wt != PROTO_WT_LEN || (p = wire_get_len(p, end, &d, &n)) == NULL ||
			    n > PROTO_SYMBOL_MAX || !symbol_bytes_valid(d, n))
				return -EPROTO;
			memcpy(out->symbol, d, n);
			out->symbol[n] = '\0';
			sym_len = n; /* the last occurrence wins, as in protobuf-c */
			continue;
		}
		if (f > 11) {
			if ((p = wire_skip(p, end, wt)) == NULL)
				return -EPROTO;
			continue;
		}
		/* Fields 1, 2, 4..11 are all varint-encoded scalars. */
		if (wt != PROTO_WT_VARINT || (p = wire_get_varint(p, end, &v, 10)) == NULL)
			return -EPROTO;
		switch (f) {
		case 1: out->master_id = v; break;
		case 2: out->sequence = v; break;
		case 4:
			/* Enum: protobuf-c keeps the low 32 bits; refuse anything wider. */
			if (v > INT32_MAX)
				return -EPROTO;
			out->order_type = (int32_t)v;
			break;
		case 5: out->volume = (int64_t)v; break;
		case 6: out->price = (int64_t)v; break;
		case 7: out->sl = (int64_t)v; break;
		case 8: out->tp = (int64_t)v; break;
		case 9: out->position_ticket = v; break;
		case 10: out->master_time_ns = (int64_t)v; break;
		case 11: out->expiration_ns = (int64_t)v; break;
		default: break;
		}
	}
	return sym_len > 0 && signal_scalars_valid(out) ? 0 : -EPROTO;
}

/* ------------------------------------------------------------------ writers -- */

/*
 * Output buffer. p == NULL measures only (len counts what would be written): nested
 * messages are measured first, then written after their length prefix.
 */
struct wbuf {
	uint8_t *p;
	size_t cap, len;
	bool overflow;
};

static void put_byte(struct wbuf *w, uint8_t b)
{
	if (w->p != NULL) {
		if (w->len >= w->cap) {
			w->overflow = true;
			return;
		}
		w->p[w->len] = b;
	}
	w->len++;
}

static void put_varint(struct wbuf *w, uint64_t v)
{
	while (v >= 0x80) {
		put_byte(w, (uint8_t)(v | 0x80));
		v >>= 7;
	}
	put_byte(w, (uint8_t)v);
}

static void put_tag(struct wbuf *w, uint32_t field, unsigned wt)
{
	put_varint(w, ((uint64_t)field << 3) | wt);
}

/* uint64/int64/enum/uint32 scalar (proto3: zero omitted); negative int64 and int32
 * values are sign-extended to ten bytes, as protobuf-c writes them. */
static void put_u64(struct wbuf *w, uint32_t field, uint64_t v)
{
	if (v == 0)
		return;
	put_tag(w, field, PROTO_WT_VARINT);
	put_varint(w, v);
}

static void put_i64(struct wbuf *w, uint32_t field, int64_t v)
{
	put_u64(w, field, (uint64_t)v);
}

static void put_bytes(struct wbuf *w, uint32_t field, const uint8_t *d, size_t n)
{
	if (n == 0)
		return;
	put_tag(w, field, PROTO_WT_LEN);
	put_varint(w, n);
	for (size_t i = 0; i < n; i++)
		put_byte(w, d[i]);
}

static void put_str(struct wbuf *w, uint32_t field, const char *s)
{
	put_bytes(w, field, (const uint8_t *)s, strlen(s));
}

/* A nested message (always written, even empty: oneof members are). */
static void put_msg(struct wbuf *w, uint32_t field, void (*enc)(struct wbuf *, const void *),
		    const void *ctx)
{
	struct wbuf m = { NULL, 0, 0, false };

	enc(&m, ctx);
	put_tag(w, field, PROTO_WT_LEN);
	put_varint(w, m.len);
	enc(w, ctx);
}

static int finish(const struct wbuf *w)
{
	return w->overflow ? -ENOBUFS : (int)w->len;
}

static void enc_signal(struct wbuf *w, const void *ctx)
{
	const struct proto_wire_signal *s = ctx;

	put_u64(w, 1, s->master_id);
	put_u64(w, 2, s->sequence);
	put_str(w, 3, s->symbol);
	put_i64(w, 4, s->order_type);
	put_i64(w, 5, s->volume);
	put_i64(w, 6, s->price);
	put_i64(w, 7, s->sl);
	put_i64(w, 8, s->tp);
	put_u64(w, 9, s->position_ticket);
	put_i64(w, 10, s->master_time_ns);
	put_i64(w, 11, s->expiration_ns);
}

int proto_wire_signal_encode(const struct proto_wire_signal *s, uint8_t *out, size_t cap)
{
	struct wbuf w = { out, cap, 0, false };

	if (out == NULL || proto_wire_signal_validate(s) != 0)
		return -EINVAL;
	enc_signal(&w, s);
	return finish(&w);
}

/* Strings the encoders take: NUL-terminated within PROTO_WIRE_TEXT_MAX. */
static bool text_ok(const char *s, bool may_be_empty)
{
	size_t n;

	if (s == NULL)
		return false;
	n = strnlen(s, PROTO_WIRE_TEXT_MAX + 1);
	return n <= PROTO_WIRE_TEXT_MAX && (may_be_empty || n > 0);
}

struct hello_ctx {
	uint64_t master_id;
	const char *client_version;
	uint32_t protocol_version;
};

static void enc_hello(struct wbuf *w, const void *ctx)
{
	const struct hello_ctx *h = ctx;

	/* field 1, license_token, is protocol 1's: never written */
	put_u64(w, 2, h->master_id);
	put_str(w, 3, h->client_version);
	put_u64(w, 4, h->protocol_version);
}

int proto_wire_hello_encode(uint64_t master_id, const char *client_version,
			    uint32_t protocol_version, uint8_t *out, size_t cap)
{
	struct hello_ctx h = { master_id, client_version, protocol_version };
	struct wbuf w = { out, cap, 0, false };

	if (out == NULL || !text_ok(client_version, true) || master_id == 0)
		return -EINVAL;
	put_msg(&w, 1, enc_hello, &h);
	return finish(&w);
}

struct bytes_ctx {
	const uint8_t *p;
	size_t n;
};

static void enc_one_bytes(struct wbuf *w, const void *ctx)
{
	const struct bytes_ctx *b = ctx;

	put_bytes(w, 1, b->p, b->n);
}

int proto_wire_login_proof_encode(const uint8_t *proof, size_t len, uint8_t *out, size_t cap)
{
	struct bytes_ctx b = { proof, len };
	struct wbuf w = { out, cap, 0, false };

	if (out == NULL || proof == NULL || len == 0 || len > 64)
		return -EINVAL;
	put_msg(&w, 4, enc_one_bytes, &b);
	return finish(&w);
}

struct signed_ctx {
	const uint8_t *body, *hmac, *sig;
	size_t body_len, hmac_len, sig_len;
};

static void enc_signed(struct wbuf *w, const void *ctx)
{
	const struct signed_ctx *s = ctx;

	put_bytes(w, 1, s->body, s->body_len);
	put_bytes(w, 2, s->hmac, s->hmac_len);
	put_bytes(w, 3, s->sig, s->sig_len);
}

int proto_wire_signed_encode(const uint8_t *body, size_t body_len, const uint8_t *hmac,
			     size_t hmac_len, const uint8_t *sig, size_t sig_len, uint8_t *out,
			     size_t cap)
{
	struct signed_ctx s = { body, hmac, sig, body_len, hmac_len, sig_len };
	struct wbuf w = { out, cap, 0, false };

	if (out == NULL || body == NULL || body_len == 0 || body_len > PROTO_SIGNAL_BODY_MAX ||
	    (hmac == NULL && hmac_len != 0) || (sig == NULL && sig_len != 0) ||
	    hmac_len > 64 || sig_len > 128)
		return -EINVAL;
	put_msg(&w, 2, enc_signed, &s);
	return finish(&w);
}

static void enc_one_i64(struct wbuf *w, const void *ctx)
{
	put_i64(w, 1, *(const int64_t *)ctx);
}

int proto_wire_heartbeat_encode(int64_t time_ns, uint8_t *out, size_t cap)
{
	struct wbuf w = { out, cap, 0, false };

	if (out == NULL)
		return -EINVAL;
	put_msg(&w, 3, enc_one_i64, &time_ns);
	return finish(&w);
}

static void enc_subscribe(struct wbuf *w, const void *ctx)
{
	const uint64_t *v = ctx;

	put_u64(w, 1, v[0]);
	put_u64(w, 2, v[1]);
	put_u64(w, 3, v[2]); /* snapshot (bool) */
}

int proto_wire_subscribe_encode(uint64_t master_id, uint64_t from_sequence, uint8_t *out,
				size_t cap)
{
	uint64_t v[3] = { master_id, from_sequence, 0 };
	struct wbuf w = { out, cap, 0, false };

	if (out == NULL || master_id == 0)
		return -EINVAL;
	put_msg(&w, 1, enc_subscribe, v);
	return finish(&w);
}

int proto_wire_subscribe_resync_encode(uint64_t master_id, uint64_t from_sequence,
				       uint8_t *out, size_t cap)
{
	uint64_t v[3] = { master_id, from_sequence, 1 };
	struct wbuf w = { out, cap, 0, false };

	if (out == NULL || master_id == 0)
		return -EINVAL;
	put_msg(&w, 1, enc_subscribe, v);
	return finish(&w);
}

static void enc_resync_done(struct wbuf *w, const void *ctx)
{
	const struct proto_wire_resync_done *d = ctx;

	put_u64(w, 1, d->master_id);
	put_u64(w, 2, d->sequence);
	put_u64(w, 3, d->opened);
	put_u64(w, 4, d->closed);
	put_u64(w, 5, d->reduced);
	put_u64(w, 6, d->modified);
	put_u64(w, 7, d->skipped);
}

int proto_wire_resync_done_encode(const struct proto_wire_resync_done *d, uint8_t *out,
				  size_t cap)
{
	struct wbuf w = { out, cap, 0, false };

	if (d == NULL || out == NULL || d->master_id == 0)
		return -EINVAL;
	put_msg(&w, 6, enc_resync_done, d);
	return finish(&w);
}

/* ------------------------------------------------- the master's own positions -- */

int proto_wire_positions_entry_check(uint64_t ticket, uint32_t type, const char *symbol,
				     int64_t volume, int64_t price, int64_t sl, int64_t tp,
				     int64_t expiration_ns)
{
	size_t n;

	if (ticket == 0 || type < 1 || type > 6 || volume <= 0 || price < 0 || sl < 0 || tp < 0 ||
	    expiration_ns < 0 || symbol == NULL)
		return -EINVAL;
	n = strnlen(symbol, PROTO_SYMBOL_MAX + 1);
	if (n == 0 || n > PROTO_SYMBOL_MAX)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (symbol[i] < 0x21 || symbol[i] > 0x7e)
			return -EINVAL;
	return 0;
}

int proto_wire_positions_header_check(uint64_t master_id, uint64_t snapshot_id, uint32_t part,
				      uint32_t parts, uint32_t count, size_t n_entries)
{
	if (master_id == 0 || snapshot_id == 0 || parts < 1 || part >= parts ||
	    count > PROTO_WIRE_POSITIONS_MAX || parts > (count > 0 ? count : 1) ||
	    n_entries > count || (count > 0 && n_entries == 0))
		return -EINVAL;
	return 0;
}

static void enc_book_entry(struct wbuf *w, const void *ctx)
{
	const struct proto_wire_book_entry *e = ctx;

	put_u64(w, 1, e->ticket);
	put_u64(w, 2, e->type);
	put_str(w, 3, e->symbol);
	put_i64(w, 4, e->volume);
	put_i64(w, 5, e->price);
	put_i64(w, 6, e->sl);
	put_i64(w, 7, e->tp);
	put_i64(w, 8, e->expiration_ns);
}

long proto_wire_positions_split(const struct proto_wire_book_entry *e, size_t n, size_t *ends,
				size_t max_parts)
{
	struct wbuf h = { NULL, 0, 0, false };
	size_t used, parts = 0;

	if (n > PROTO_WIRE_POSITIONS_MAX || ends == NULL || max_parts == 0 || (e == NULL && n != 0))
		return -EINVAL;
	/* the header with every field at its widest: any master, sequence, snapshot id, part
	 * numbers and time fit */
	put_u64(&h, 1, UINT64_MAX);
	put_u64(&h, 2, UINT64_MAX);
	put_u64(&h, 3, UINT64_MAX);
	put_u64(&h, 4, UINT32_MAX);
	put_u64(&h, 5, UINT32_MAX);
	put_u64(&h, 6, UINT32_MAX);
	put_i64(&h, 8, -1);
	used = h.len;
	if (n == 0) {
		ends[0] = 0;
		return 1;
	}
	for (size_t i = 0; i < n; i++) {
		struct wbuf w = { NULL, 0, 0, false };

		if (memchr(e[i].symbol, 0, sizeof(e[i].symbol)) == NULL ||
		    proto_wire_positions_entry_check(e[i].ticket, e[i].type, e[i].symbol,
						     e[i].volume, e[i].price, e[i].sl, e[i].tp,
						     e[i].expiration_ns) != 0)
			return -EINVAL;
		put_msg(&w, 7, enc_book_entry, &e[i]);
		if (h.len + w.len > PROTO_WIRE_POSITIONS_BODY_MAX)
			return -EINVAL;
		if (used + w.len > PROTO_WIRE_POSITIONS_BODY_MAX) {
			if (parts + 1 >= max_parts)
				return -ENOBUFS;
			ends[parts++] = i;
			used = h.len;
		}
		used += w.len;
	}
	ends[parts++] = n;
	return (long)parts;
}

int proto_wire_positions_encode(const struct proto_wire_positions *p, uint8_t *out, size_t cap)
{
	struct wbuf w = { out, cap, 0, false };

	if (p == NULL || out == NULL || (p->entries == NULL && p->n != 0) ||
	    proto_wire_positions_header_check(p->master_id, p->snapshot_id, p->part, p->parts,
					      p->count, p->n) != 0)
		return -EINVAL;
	for (uint32_t i = 0; i < p->n; i++) {
		const struct proto_wire_book_entry *e = &p->entries[i];

		if (memchr(e->symbol, 0, sizeof(e->symbol)) == NULL ||
		    proto_wire_positions_entry_check(e->ticket, e->type, e->symbol, e->volume,
						     e->price, e->sl, e->tp, e->expiration_ns) != 0)
			return -EINVAL;
	}
	put_u64(&w, 1, p->master_id);
	put_u64(&w, 2, p->sequence);
	put_u64(&w, 3, p->snapshot_id);
	put_u64(&w, 4, p->part);
	put_u64(&w, 5, p->parts);
	put_u64(&w, 6, p->count);
	for (uint32_t i = 0; i < p->n; i++)
		put_msg(&w, 7, enc_book_entry, &p->entries[i]);
	put_i64(&w, 8, p->master_time_ns);
	return finish(&w);
}

struct signed_pos_ctx {
	const uint8_t *body, *hmac;
	size_t body_len, hmac_len;
};

static void enc_signed_pos(struct wbuf *w, const void *ctx)
{
	const struct signed_pos_ctx *s = ctx;

	put_bytes(w, 1, s->body, s->body_len);
	put_bytes(w, 2, s->hmac, s->hmac_len);
}

int proto_wire_signed_positions_encode(const uint8_t *body, size_t body_len,
				       const uint8_t *hmac, size_t hmac_len, uint8_t *out,
				       size_t cap)
{
	struct signed_pos_ctx s = { body, hmac, body_len, hmac_len };
	struct wbuf w = { out, cap, 0, false };

	if (out == NULL || body == NULL || body_len == 0 ||
	    body_len > PROTO_WIRE_POSITIONS_BODY_MAX || hmac == NULL || hmac_len == 0 ||
	    hmac_len > 64)
		return -EINVAL;
	put_msg(&w, 5, enc_signed_pos, &s);
	return finish(&w);
}

int proto_wire_time_ping_encode(int64_t client_send_ns, uint8_t *out, size_t cap)
{
	struct wbuf w = { out, cap, 0, false };

	if (out == NULL)
		return -EINVAL;
	put_msg(&w, 2, enc_one_i64, &client_send_ns);
	return finish(&w);
}

static void enc_exec(struct wbuf *w, const void *ctx)
{
	const struct proto_wire_exec_report *r = ctx;

	put_u64(w, 1, r->subscription_id);
	put_u64(w, 2, r->master_id);
	put_u64(w, 3, r->sequence);
	put_i64(w, 4, r->status);
	put_str(w, 5, r->symbol);
	put_i64(w, 6, r->volume);
	put_i64(w, 7, r->price);
	put_i64(w, 8, r->slippage_points);
	put_u64(w, 9, r->broker_ticket);
	put_i64(w, 10, r->broker_retcode);
	put_i64(w, 11, r->realized_profit);
	put_i64(w, 12, r->exec_time_ns);
	put_i64(w, 13, r->latency_ns);
	put_u64(w, 14, r->report_id);
}

int proto_wire_exec_report_encode(const struct proto_wire_exec_report *r, uint8_t *out,
				  size_t cap)
{
	struct wbuf w = { out, cap, 0, false };

	if (out == NULL || r == NULL || strnlen(r->symbol, sizeof(r->symbol)) == sizeof(r->symbol))
		return -EINVAL;
	put_msg(&w, 3, enc_exec, r);
	return finish(&w);
}

static void enc_protection(struct wbuf *w, const void *ctx)
{
	const struct proto_wire_protection *e = ctx;

	put_u64(w, 1, e->subscription_id);
	put_u64(w, 2, e->subscriber_id);
	put_u64(w, 3, e->master_id);
	put_u64(w, 4, e->sequence);
	put_i64(w, 5, e->reason);
	put_i64(w, 6, e->age_ns);
	put_i64(w, 7, e->price_deviation_pips_x100);
	put_i64(w, 8, e->event_time_ns);
	put_u64(w, 9, e->expected_sequence);
	put_str(w, 10, e->detail);
	put_i64(w, 11, e->attribution);
	put_i64(w, 12, e->fanout_send_ns);
	put_u64(w, 13, e->report_id);
}

int proto_wire_protection_encode(const struct proto_wire_protection *e, uint8_t *out,
				 size_t cap)
{
	struct wbuf w = { out, cap, 0, false };

	if (out == NULL || e == NULL || strnlen(e->detail, sizeof(e->detail)) == sizeof(e->detail))
		return -EINVAL;
	put_msg(&w, 4, enc_protection, e);
	return finish(&w);
}

static void enc_position(struct wbuf *w, const void *ctx)
{
	const struct proto_wire_account_position *p = ctx;

	put_u64(w, 1, p->master_id);
	put_u64(w, 2, p->master_ticket);
	put_str(w, 3, p->symbol);
	put_i64(w, 4, p->type);
	put_i64(w, 5, p->volume);
	put_i64(w, 6, p->price);
	put_i64(w, 7, p->sl);
	put_i64(w, 8, p->tp);
	put_i64(w, 9, p->profit);
}

static void enc_account(struct wbuf *w, const void *ctx)
{
	const struct proto_wire_account_state *a = ctx;

	put_i64(w, 1, a->time_ns);
	put_str(w, 2, a->currency);
	put_u64(w, 3, a->leverage);
	put_i64(w, 4, a->balance);
	put_i64(w, 5, a->equity);
	put_i64(w, 6, a->margin);
	put_i64(w, 7, a->free_margin);
	put_u64(w, 8, a->position_count);
	/* repeated: every element written, an empty one as tag and zero length */
	for (uint32_t i = 0; i < a->n_positions; i++)
		put_msg(w, 9, enc_position, &a->positions[i]);
}

int proto_wire_account_state_encode(const struct proto_wire_account_state *a, uint8_t *out,
				    size_t cap)
{
	struct wbuf w = { out, cap, 0, false };

	if (out == NULL || a == NULL || a->n_positions > PROTO_WIRE_ACCOUNT_POS_MAX ||
	    strnlen(a->currency, sizeof(a->currency)) == sizeof(a->currency))
		return -EINVAL;
	for (uint32_t i = 0; i < a->n_positions; i++)
		if (strnlen(a->positions[i].symbol, sizeof(a->positions[i].symbol)) ==
		    sizeof(a->positions[i].symbol))
			return -EINVAL;
	put_msg(&w, 5, enc_account, a);
	return finish(&w);
}

/* ------------------------------------------------------------------ decoders -- */

/* What a known field is: its wire type and how its value is kept. */
enum fkind {
	F_UNKNOWN = 0, /* skipped */
	F_U64,         /* varint, any 64-bit value (uint64, int64) */
	F_U32,         /* varint, at most 32 bits (uint32, enum): wider is refused */
	F_BYTES,       /* length-delimited bytes, last occurrence wins */
	F_STR,         /* a string: as F_BYTES, and an embedded NUL is refused (C readers of
			* protobuf-c's NUL-terminated copy would see a shorter string) */
	F_MSG,         /* nested message (SignedSignal): at most one occurrence */
};

struct schema {
	const uint8_t *kind; /* enum fkind by field number */
	size_t n;
	const struct schema *nested; /* schema of the F_MSG field, if any */
};

#define SCHEMA(k, nest) { k, sizeof(k), nest }

static const uint8_t k_hello_ack[] = { 0, F_U64, F_U64, F_U32, F_U32 };
static const uint8_t k_ack[] = { 0, F_U64, F_U64, F_U32 };
static const uint8_t k_nack[] = { 0, F_U64, F_U32, F_U64 };
static const uint8_t k_error[] = { 0, F_U32, F_STR };
static const uint8_t k_heartbeat[] = { 0, F_U64 };
static const uint8_t k_challenge[] = { 0, F_BYTES, F_U32 };
static const uint8_t k_signed[] = { 0, F_BYTES, F_BYTES, F_BYTES };
/* Envelope 5 fanout_send_ns (int64), 6 replay (bool): read so that a wrong wire type is
 * refused as protobuf-c refuses it; decp.dll does not use them. */
static const uint8_t k_envelope[] = { 0, F_MSG, F_U64, F_U64, F_U64, F_U64, F_U64 };
static const uint8_t k_sync_start[] = { 0, F_U64, F_U64, F_U64 };
static const uint8_t k_sync_end[] = { 0, F_U64, F_U64 };
static const uint8_t k_time_pong[] = { 0, F_U64, F_U64, F_U64 };
static const uint8_t k_state_change[] = { 0, F_U64, F_U64, F_U32, F_U32, F_U32, F_U64 };
static const uint8_t k_report_ack[] = { 0, F_U64 };
/* CopyPolicy (8): decoded by proto_wire_copy_policy_decode (repeated fields), not by a
 * schema; this marks the member. */
static const uint8_t k_copy_policy[] = { 0 };
/* The re-sync snapshot (docs/protocol.md "Re-sync by snapshot"). SnapshotPart (11) has a
 * repeated member: decoded by proto_wire_snapshot_part_decode, not by a schema; this
 * marks the member. */
static const uint8_t k_snapshot_begin[] = { 0, F_U64, F_U64, F_U32, F_U64, F_U32, F_U64 };
static const uint8_t k_snapshot_part[] = { 0 };
static const uint8_t k_snapshot_end[] = { 0, F_U64, F_U64, F_U32, F_BYTES };
/* BookEntry: ticket, type, symbol, volume, price, sl, tp, expiration_ns */
static const uint8_t k_book_entry[] = { 0, F_U64, F_U32, F_STR, F_U64, F_U64, F_U64, F_U64,
					F_U64 };
/* KeyAnnouncement: master_id, old key, new key, valid_from_ns, overlap_until_ns, sig */
static const uint8_t k_key_announcement[] = { 0, F_U64, F_BYTES, F_BYTES, F_U64, F_U64,
					      F_BYTES };

static const struct schema s_signed = SCHEMA(k_signed, NULL);
/* Index = IngestFrame field number. */
static const struct schema s_ingest[] = {
	{ NULL, 0, NULL },
	SCHEMA(k_hello_ack, NULL), SCHEMA(k_ack, NULL), SCHEMA(k_nack, NULL),
	SCHEMA(k_error, NULL), SCHEMA(k_heartbeat, NULL), SCHEMA(k_challenge, NULL),
};
/* Index = ServerMessage field number. */
static const struct schema s_server[] = {
	{ NULL, 0, NULL },
	SCHEMA(k_envelope, &s_signed), SCHEMA(k_sync_start, NULL), SCHEMA(k_sync_end, NULL),
	SCHEMA(k_time_pong, NULL), SCHEMA(k_state_change, NULL), SCHEMA(k_error, NULL),
	SCHEMA(k_report_ack, NULL),
	SCHEMA(k_copy_policy, NULL), /* 8 CopyPolicy: proto_wire_copy_policy_decode */
	SCHEMA(k_snapshot_begin, NULL),
	SCHEMA(k_key_announcement, NULL),
	SCHEMA(k_snapshot_part, NULL), /* 11: proto_wire_snapshot_part_decode */
	SCHEMA(k_snapshot_end, NULL),
};

static int wt_of(uint8_t kind)
{
	return kind == F_U64 || kind == F_U32 ? PROTO_WT_VARINT : PROTO_WT_LEN;
}

/* Decodes one message of schema sc into *m (and its nested message into *sub). */
static int decode_msg(const uint8_t *p, size_t len, const struct schema *sc,
		      struct proto_wire_msg *m, struct proto_wire_msg *sub)
{
	struct proto_wire_cursor c = { p, p + len };
	bool nested_seen = false;

	memset(m, 0, sizeof(*m));
	if (sub != NULL)
		memset(sub, 0, sizeof(*sub));
	while (c.p < c.end) {
		uint32_t f;
		unsigned wt;
		uint8_t k;

		if (proto_wire_read_tag(&c, &f, &wt) != 0)
			return -1;
		k = f < sc->n ? sc->kind[f] : F_UNKNOWN;
		if (k == F_UNKNOWN) {
			if (proto_wire_skip(&c, wt) != 0)
				return -1;
			continue;
		}
		if ((int)wt != wt_of(k))
			return -1;
		if (k == F_U64 || k == F_U32) {
			uint64_t v;

			if (proto_wire_read_varint(&c, &v, 10) != 0 || (k == F_U32 && v > UINT32_MAX))
				return -1;
			m->v[f] = v;
			continue;
		}
		if (proto_wire_read_len(&c, &m->b[f], &m->bl[f]) != 0 ||
		    (k == F_STR && memchr(m->b[f], 0, m->bl[f]) != NULL))
			return -1;
		if (k == F_MSG) {
			/* protobuf-c merges a repeated nested message; we refuse it instead */
			if (nested_seen || sc->nested == NULL || sub == NULL ||
			    decode_msg(m->b[f], m->bl[f], sc->nested, sub, NULL) != 0)
				return -1;
			nested_seen = true;
		}
	}
	return 0;
}

/* Bytes of a symbol or affix: 0..cap-1 bytes of 0x21..0x7e, copied with a NUL. */
static int policy_text(const uint8_t *d, size_t n, char *dst, size_t cap)
{
	if (n >= cap)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (d[i] < 0x21 || d[i] > 0x7e)
			return -1;
	if (n != 0)
		memcpy(dst, d, n);
	dst[n] = '\0';
	return 0;
}

/* CopyPolicy.SymbolMap{from, to}: one entry of a repeated field (never merged). */
static int policy_map(const uint8_t *p, size_t len, char *from, char *to)
{
	static const uint8_t k_symbol_map[] = { 0, F_STR, F_STR };
	static const struct schema s_symbol_map = SCHEMA(k_symbol_map, NULL);
	struct proto_wire_msg m;

	if (decode_msg(p, len, &s_symbol_map, &m, NULL) != 0)
		return -1;
	return policy_text(m.b[1], m.bl[1], from, PROTO_SYMBOL_MAX + 1) != 0 ||
			       policy_text(m.b[2], m.bl[2], to, PROTO_SYMBOL_MAX + 1) != 0
		       ? -1
		       : 0;
}

/* One CopyPolicy field (number f, wire type wt) at c into o. */
/* The fields 1..max of a message, each handed to fn (fields above max are skipped).
 * Returns 0, or -1 when the bytes or fn refuse. */
static int decode_fields(const uint8_t *p, size_t len, uint32_t max,
			 int (*fn)(struct proto_wire_cursor *, uint32_t, unsigned, void *),
			 void *ctx)
{
	struct proto_wire_cursor c = { p, p + len };

	while (c.p < c.end) {
		uint32_t f;
		unsigned wt;

		if (proto_wire_read_tag(&c, &f, &wt) != 0)
			return -1;
		if (f < 1 || f > max) {
			if (proto_wire_skip(&c, wt) != 0)
				return -1;
			continue;
		}
		if (fn(&c, f, wt, ctx) != 0)
			return -1;
	}
	return 0;
}

static int policy_field(struct proto_wire_cursor *c, uint32_t f, unsigned wt, void *ctx)
{
	struct proto_wire_copy_policy *o = ctx;
	const uint8_t *d;
	size_t n;
	uint64_t v;

	if (f >= 9 && f <= 13) {
		if (wt != PROTO_WT_LEN || proto_wire_read_len(c, &d, &n) != 0)
			return -1;
		switch (f) {
		case 9:
			if (o->n_symbol_map == PROTO_WIRE_POLICY_LIST_MAX)
				return -1;
			o->n_symbol_map++;
			return policy_map(d, n, o->symbol_map[o->n_symbol_map - 1].from,
					  o->symbol_map[o->n_symbol_map - 1].to);
		case 10: return policy_text(d, n, o->prefix, sizeof(o->prefix));
		case 11: return policy_text(d, n, o->suffix, sizeof(o->suffix));
		case 12:
			if (o->n_symbols_allow == PROTO_WIRE_POLICY_LIST_MAX)
				return -1;
			return policy_text(d, n, o->symbols_allow[o->n_symbols_allow++],
					   PROTO_SYMBOL_MAX + 1);
		default:
			if (o->n_symbols_deny == PROTO_WIRE_POLICY_LIST_MAX)
				return -1;
			return policy_text(d, n, o->symbols_deny[o->n_symbols_deny++],
					   PROTO_SYMBOL_MAX + 1);
		}
	}
	/* every other field of decp.proto's CopyPolicy (1..23) is a varint scalar */
	if (wt != PROTO_WT_VARINT || proto_wire_read_varint(c, &v, 10) != 0)
		return -1;
	if ((f == 4 || f == 14) && v > UINT32_MAX)
		return -1; /* enum, uint32: wider values are refused (file comment) */
	switch (f) {
	case 1: o->subscription_id = v; break;
	case 2: o->master_id = v; break;
	case 3: o->version = v; break;
	case 4: o->lot_mode = (uint32_t)v; break;
	case 5: o->lot_fixed = (int64_t)v; break;
	case 6: o->lot_multiplier_milli = (int64_t)v; break;
	case 7: o->master_equity = (int64_t)v; break;
	case 8: o->risk_bp = (int64_t)v; break;
	case 14: o->order_type_mask = (uint32_t)v; break;
	case 15: o->reverse = v != 0; break;
	case 16: o->copy_sl = v != 0; break;
	case 17: o->copy_tp = v != 0; break;
	case 18: o->sync_modify = v != 0; break;
	case 19: o->max_deviation_pips_x100 = (int64_t)v; break;
	case 20: o->min_free_funds = (int64_t)v; break;
	case 21: o->equity_floor = (int64_t)v; break;
	case 22: o->max_drawdown_bp = (int64_t)v; break;
	default: o->close_all_on_trip = v != 0; break; /* 23 */
	}
	return 0;
}

int proto_wire_copy_policy_decode(const uint8_t *p, size_t len,
				  struct proto_wire_copy_policy *out)
{
	if (out == NULL)
		return -EBADMSG;
	memset(out, 0, sizeof(*out));
	if (p == NULL)
		return len == 0 ? 0 : -EBADMSG;
	if (decode_fields(p, len, 23, policy_field, out) != 0) {
		memset(out, 0, sizeof(*out));
		return -EBADMSG;
	}
	return 0;
}

/* A member checked in depth by its own decoder (CopyPolicy, SnapshotPart): m gets the
 * routing fields v1..v3 and the member's bytes (b[0]); sub nothing. */
static void member_whole(const uint8_t *d, size_t dl, uint64_t v1, uint64_t v2, uint64_t v3,
			 struct proto_wire_msg *m, struct proto_wire_msg *sub)
{
	memset(m, 0, sizeof(*m));
	memset(sub, 0, sizeof(*sub));
	m->v[1] = v1;
	m->v[2] = v2;
	m->v[3] = v3;
	m->b[0] = d;
	m->bl[0] = dl;
}

/* ServerMessage member 8: checked in depth; m gets the routing fields and the bytes. */
static int copy_policy_member(const uint8_t *d, size_t dl, struct proto_wire_msg *m,
			      struct proto_wire_msg *sub)
{
	struct proto_wire_copy_policy cp;

	if (proto_wire_copy_policy_decode(d, dl, &cp) != 0)
		return -1;
	member_whole(d, dl, cp.subscription_id, cp.master_id, cp.version, m, sub);
	return 0;
}

/* One field of a SnapshotPart: master_id (1), sequence (2), or one BookEntry of the
 * repeated entries (3, never merged). */
static int part_field(struct proto_wire_cursor *c, uint32_t f, unsigned wt, void *ctx)
{
	static const struct schema s_entry = SCHEMA(k_book_entry, NULL);
	struct proto_wire_snapshot_part *out = ctx;
	struct proto_wire_book_entry *e;
	struct proto_wire_msg m;
	const uint8_t *d;
	uint64_t v;
	size_t n;

	if (f != 3) {
		if (wt != PROTO_WT_VARINT || proto_wire_read_varint(c, &v, 10) != 0)
			return -1;
		if (f == 1)
			out->master_id = v;
		else
			out->sequence = v;
		return 0;
	}
	if (wt != PROTO_WT_LEN || proto_wire_read_len(c, &d, &n) != 0 ||
	    out->n == PROTO_WIRE_PART_ENTRIES_MAX || decode_msg(d, n, &s_entry, &m, NULL) != 0)
		return -1;
	e = &out->e[out->n++];
	e->ticket = m.v[1];
	e->type = (uint32_t)m.v[2];
	e->volume = (int64_t)m.v[4];
	e->price = (int64_t)m.v[5];
	e->sl = (int64_t)m.v[6];
	e->tp = (int64_t)m.v[7];
	e->expiration_ns = (int64_t)m.v[8];
	return policy_text(m.b[3], m.bl[3], e->symbol, sizeof(e->symbol));
}

int proto_wire_snapshot_part_decode(const uint8_t *p, size_t len,
				    struct proto_wire_snapshot_part *out)
{
	if (out == NULL)
		return -EBADMSG;
	memset(out, 0, sizeof(*out));
	if (p == NULL)
		return len == 0 ? 0 : -EBADMSG;
	if (decode_fields(p, len, 3, part_field, out) != 0) {
		memset(out, 0, sizeof(*out));
		return -EBADMSG;
	}
	return 0;
}

static int snapshot_part_member(const uint8_t *d, size_t dl, struct proto_wire_msg *m,
				struct proto_wire_msg *sub)
{
	struct proto_wire_snapshot_part sp;

	if (proto_wire_snapshot_part_decode(d, dl, &sp) != 0)
		return -1;
	member_whole(d, dl, sp.master_id, sp.sequence, 0, m, sub);
	return 0;
}

/* A oneof wrapper whose members are all messages: the last member on the wire wins. */
static int decode_oneof(const uint8_t *p, size_t len, const struct schema *members, size_t n,
			struct proto_wire_msg *m, struct proto_wire_msg *sub)
{
	struct proto_wire_cursor c;
	int kind = 0;

	if (p == NULL || m == NULL)
		return -EBADMSG;
	c.p = p;
	c.end = p + len;
	while (c.p < c.end) {
		struct proto_wire_msg one, one_sub;
		uint32_t f;
		unsigned wt;
		const uint8_t *d;
		size_t dl;

		if (proto_wire_read_tag(&c, &f, &wt) != 0)
			return -EBADMSG;
		if (f >= n || members[f].kind == NULL) {
			if (proto_wire_skip(&c, wt) != 0)
				return -EBADMSG;
			continue;
		}
		if (wt != PROTO_WT_LEN || proto_wire_read_len(&c, &d, &dl) != 0)
			return -EBADMSG;
		if (members[f].kind == k_copy_policy) {
			if (copy_policy_member(d, dl, &one, &one_sub) != 0)
				return -EBADMSG;
		} else if (members[f].kind == k_snapshot_part) {
			if (snapshot_part_member(d, dl, &one, &one_sub) != 0)
				return -EBADMSG;
		} else if (decode_msg(d, dl, &members[f], &one, &one_sub) != 0) {
			return -EBADMSG;
		}
		*m = one;
		if (sub != NULL)
			*sub = one_sub;
		kind = (int)f;
	}
	return kind != 0 ? kind : -EBADMSG;
}

int proto_wire_ingest_decode(const uint8_t *p, size_t len, struct proto_wire_msg *m)
{
	return decode_oneof(p, len, s_ingest, sizeof(s_ingest) / sizeof(s_ingest[0]), m, NULL);
}

int proto_wire_server_decode(const uint8_t *p, size_t len, struct proto_wire_msg *m,
			     struct proto_wire_msg *sig)
{
	if (sig == NULL)
		return -EBADMSG;
	return decode_oneof(p, len, s_server, sizeof(s_server) / sizeof(s_server[0]), m, sig);
}
