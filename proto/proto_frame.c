/* Length-prefixed framing; contract and semantics in proto_frame.h. */
#include "proto_frame.h"

#include <errno.h>
#include <string.h>

int proto_frame_decoder_init(struct proto_frame_decoder *d, uint8_t *buf,
			     size_t cap, size_t max_payload)
{
	if (d == NULL || buf == NULL)
		return -EINVAL;
	if (max_payload == 0)
		max_payload = PROTO_FRAME_MAX_DEFAULT;
	if (max_payload > PROTO_FRAME_MAX_LIMIT || cap < max_payload)
		return -EINVAL;
	memset(d, 0, sizeof(*d));
	d->buf = buf;
	d->cap = cap;
	d->max_payload = max_payload;
	return 0;
}

void proto_frame_decoder_reset(struct proto_frame_decoder *d)
{
	d->have = 0;
	d->need = 0;
	d->hdr_have = 0;
	d->err = 0;
}

size_t proto_frame_decoder_pending(const struct proto_frame_decoder *d)
{
	return (size_t)d->hdr_have + d->have;
}

int proto_frame_decoder_error(const struct proto_frame_decoder *d)
{
	return d->err;
}

static uint32_t be32_load(const uint8_t p[4])
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Checks a just-completed header; on success need is set and the payload phase begins. */
static int header_accept(struct proto_frame_decoder *d, uint32_t len)
{
	if (len == 0 || len > d->max_payload) {
		d->err = -EMSGSIZE;
		return d->err;
	}
	d->need = len;
	d->have = 0;
	return 0;
}

ssize_t proto_frame_decoder_feed(struct proto_frame_decoder *d,
				 const uint8_t *in, size_t in_len,
				 struct proto_frame *out)
{
	size_t pos = 0;

	if (out != NULL) {
		out->data = NULL;
		out->len = 0;
	}
	if (d == NULL || out == NULL || (in == NULL && in_len > 0))
		return -EINVAL;
	if (d->err != 0)
		return d->err;

	/*
	 * Fast path: at a frame boundary with the whole frame inside the input,
	 * hand out a pointer into the input (no copy).
	 */
	if (d->hdr_have == 0 && in_len >= PROTO_FRAME_HDR_LEN) {
		uint32_t len = be32_load(in);

		if (header_accept(d, len) != 0)
			return d->err;
		if (in_len - PROTO_FRAME_HDR_LEN >= len) {
			d->need = 0;
			d->frames++;
			out->data = in + PROTO_FRAME_HDR_LEN;
			out->len = len;
			return (ssize_t)(PROTO_FRAME_HDR_LEN + len);
		}
		/* Partial frame: buffer what we have of the payload. */
		d->hdr_have = PROTO_FRAME_HDR_LEN;
		memcpy(d->hdr, in, PROTO_FRAME_HDR_LEN);
		pos = PROTO_FRAME_HDR_LEN;
	}

	/* Slow path: assemble the header byte-wise, then the payload in buf. */
	while (d->hdr_have < PROTO_FRAME_HDR_LEN && pos < in_len) {
		d->hdr[d->hdr_have++] = in[pos++];
		if (d->hdr_have == PROTO_FRAME_HDR_LEN &&
		    header_accept(d, be32_load(d->hdr)) != 0)
			return d->err;
	}
	if (d->hdr_have < PROTO_FRAME_HDR_LEN)
		return (ssize_t)pos; /* all consumed, header still incomplete */

	size_t take = d->need - d->have;
	if (take > in_len - pos)
		take = in_len - pos;
	/* need <= max_payload <= cap, so have + take <= cap. */
	memcpy(d->buf + d->have, in + pos, take);
	d->have += take;
	pos += take;
	if (d->have == d->need) {
		out->data = d->buf;
		out->len = d->need;
		d->frames++;
		d->hdr_have = 0;
		d->have = 0;
		d->need = 0;
	}
	return (ssize_t)pos;
}

int proto_frame_header_write(uint8_t hdr[PROTO_FRAME_HDR_LEN], size_t len)
{
	if (len == 0 || len > PROTO_FRAME_MAX_LIMIT)
		return -EMSGSIZE;
	hdr[0] = (uint8_t)(len >> 24);
	hdr[1] = (uint8_t)(len >> 16);
	hdr[2] = (uint8_t)(len >> 8);
	hdr[3] = (uint8_t)len;
	return 0;
}

ssize_t proto_frame_encode(uint8_t *out, size_t out_cap,
			   const uint8_t *payload, size_t len)
{
	if (out == NULL || payload == NULL)
		return -EINVAL;
	if (len == 0 || len > PROTO_FRAME_MAX_LIMIT)
		return -EMSGSIZE;
	if (out_cap < len + PROTO_FRAME_HDR_LEN)
		return -ENOBUFS;
	proto_frame_header_write(out, len);
	memcpy(out + PROTO_FRAME_HDR_LEN, payload, len);
	return (ssize_t)(len + PROTO_FRAME_HDR_LEN);
}
