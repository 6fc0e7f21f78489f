/* sub_poll: the polling request and answer. Rules in sub_poll.h. */
#include "sub_poll.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int sub_poll_request(char *out, size_t cap, const char *host, uint64_t master, uint64_t after,
		     unsigned int wait_s, uint64_t policy, const char *token)
{
	int n = snprintf(out, cap, "GET /v1/masters/%" PRIu64 "/signals?after=%" PRIu64
			 "&wait=%u&policy=%" PRIu64 " HTTP/1.1\r\nHost: %s\r\nAuthorization: "
			 "Bearer %s\r\n\r\n", master, after, wait_s, policy, host, token);

	return n < 0 || (size_t)n >= cap ? -ENOSPC : n;
}

void sub_poll_rx_init(struct sub_poll_rx *r)
{
	memset(r, 0, sizeof(*r));
	(void)proto_frame_decoder_init(&r->dec, r->dec_buf, sizeof(r->dec_buf), SUB_POLL_MSG_MAX);
}

void sub_poll_rx_fini(struct sub_poll_rx *r)
{
	free(r->buf);
	r->buf = NULL;
	r->cap = 0;
	sub_poll_rx_next(r);
}

static int grow(struct sub_poll_rx *r, size_t need)
{
	size_t cap = r->cap ? r->cap : 8192;
	uint8_t *b;

	if (need <= r->cap)
		return 0;
	while (cap < need)
		cap *= 2;
	if ((b = realloc(r->buf, cap)) == NULL)
		return -ENOMEM;
	r->buf = b;
	r->cap = cap;
	return 0;
}

/* The value of header `name` (followed by ':') in the head h[0..n) as a number: 0 or
 * -EPROTO (absent, twice, not a decimal). */
static int head_number(const char *h, size_t n, const char *name, uint64_t *out)
{
	size_t nl = strlen(name), i = 0;
	bool seen = false;

	while (i < n) {
		const char *l = h + i, *eol = memchr(l, '\n', n - i);
		size_t ll = eol != NULL ? (size_t)(eol - l) : n - i;

		i += ll + 1;
		if (ll > nl && l[nl] == ':' && strncasecmp(l, name, nl) == 0) {
			size_t k = nl + 1;
			uint64_t v = 0;
			int digits = 0;

			while (k < ll && l[k] == ' ')
				k++;
			for (; k < ll && l[k] >= '0' && l[k] <= '9' && digits < 19; k++, digits++)
				v = v * 10 + (uint64_t)(l[k] - '0');
			if (seen || digits == 0 || (k < ll && l[k] != '\r' && l[k] != ' '))
				return -EPROTO;
			seen = true;
			*out = v;
		}
	}
	return seen ? 0 : -EPROTO;
}

static int head_parse(struct sub_poll_rx *r)
{
	const char *h = (const char *)r->buf;
	uint64_t cl = 0;
	int st = 0;

	if (r->head_len < 12 || memcmp(h, "HTTP/1.1 ", 9) != 0 || h[9] < '1' || h[9] > '5' ||
	    h[10] < '0' || h[10] > '9' || h[11] < '0' || h[11] > '9')
		return -EPROTO;
	st = (h[9] - '0') * 100 + (h[10] - '0') * 10 + (h[11] - '0');
	if (head_number(h, r->head_len, "content-length", &cl) != 0)
		return -EPROTO;
	if (cl > SUB_POLL_BODY_MAX)
		return -EMSGSIZE;
	if (st == 200 && head_number(h, r->head_len, "x-decp-next-after", &r->next) != 0)
		return -EPROTO;
	r->status = st;
	r->body_len = (size_t)cl;
	r->close = false;
	for (size_t i = 0; i + 18 <= r->head_len; i++)
		if (strncasecmp(h + i, "\nconnection: close", 18) == 0)
			r->close = true;
	return 0;
}

int sub_poll_rx_feed(struct sub_poll_rx *r, const uint8_t *p, size_t n, size_t *used)
{
	size_t take = 0;

	*used = 0;
	while (take < n && r->head_len == 0) {
		/* the head byte by byte up to its blank line (bounded, small) */
		if (r->have == SUB_POLL_HEAD_MAX)
			return -EMSGSIZE;
		if (grow(r, r->have + 1) != 0)
			return -ENOMEM;
		r->buf[r->have++] = p[take++];
		if (r->have >= 4 && memcmp(r->buf + r->have - 4, "\r\n\r\n", 4) == 0) {
			int rc;

			r->head_len = r->have;
			if ((rc = head_parse(r)) != 0) {
				*used = take;
				return rc;
			}
		}
	}
	if (r->head_len != 0) {
		size_t want = r->head_len + r->body_len - r->have, k = n - take < want ? n - take : want;

		if (grow(r, r->head_len + r->body_len) != 0)
			return -ENOMEM;
		memcpy(r->buf + r->have, p + take, k);
		r->have += k;
		take += k;
	}
	*used = take;
	return r->head_len != 0 && r->have == r->head_len + r->body_len ? 1 : 0;
}

int sub_poll_msg(struct sub_poll_rx *r, size_t *off, const uint8_t **msg, size_t *len)
{
	struct proto_frame fr;
	ssize_t n;

	if (*off >= r->body_len)
		return 0;
	if (*off == 0)
		proto_frame_decoder_reset(&r->dec);
	n = proto_frame_decoder_feed(&r->dec, r->buf + r->head_len + *off, r->body_len - *off, &fr);
	/* the whole body is here: a frame not handed out whole runs past it */
	if (n <= 0 || fr.data == NULL)
		return -EPROTO;
	*msg = fr.data;
	*len = fr.len;
	*off += (size_t)n;
	return 1;
}

void sub_poll_rx_next(struct sub_poll_rx *r)
{
	r->have = r->head_len = r->body_len = 0; /* the buffer is kept for the next answer */
	r->status = 0;
	r->next = 0;
}
