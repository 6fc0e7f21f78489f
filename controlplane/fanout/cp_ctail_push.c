/* cp_ctail_push: the cluster tail's subscriber replies (pure). Contract in cp_ctail_push.h. */
#include "cp_ctail_push.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#define CHAN_HEAD "decp:{m"
#define CHAN_TAIL "}:tail"

/* Decimal 1..UINT64_MAX, no sign, no leading zero. 0 or -EINVAL. */
static int dec_u64(const char *s, size_t len, uint64_t *v)
{
	uint64_t x = 0;

	if (len == 0 || len > 20 || s[0] == '0')
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		uint64_t d = (uint64_t)(s[i] - '0');
		if (x > (UINT64_MAX - d) / 10)
			return -EINVAL;
		x = x * 10 + d;
	}
	*v = x;
	return 0;
}

int cp_ctail_channel_master(const char *s, size_t len, uint64_t *master)
{
	const size_t h = sizeof(CHAN_HEAD) - 1, t = sizeof(CHAN_TAIL) - 1;

	if (len <= h + t || memcmp(s, CHAN_HEAD, h) != 0 || memcmp(s + len - t, CHAN_TAIL, t) != 0)
		return -EINVAL;
	return dec_u64(s + h, len - h - t, master);
}

/* Decimal digits up to the next ':' at p[*i..len): the value (dec_u64 rules) and *i past
 * the ':'. 0 or -EINVAL. */
static int field(const char *p, size_t len, size_t *i, size_t maxdig, uint64_t *v)
{
	const char *colon = memchr(p + *i, ':', len - *i);

	if (colon == NULL || (size_t)(colon - (p + *i)) > maxdig ||
	    dec_u64(p + *i, (size_t)(colon - (p + *i)), v) != 0)
		return -EINVAL;
	*i = (size_t)(colon - p) + 1;
	return 0;
}

int cp_ctail_item_next(const char *p, size_t len, size_t *off, struct cp_ctail_item *it)
{
	size_t i = *off;
	uint64_t seq, n;

	if (i >= len)
		return 0;
	if (field(p, len, &i, 20, &seq) != 0 || field(p, len, &i, 7, &n) != 0 ||
	    n > CP_CTAIL_REC_MAX || n > len - i)
		return -EINVAL;
	it->seq = seq;
	it->rec = (const uint8_t *)p + i;
	it->rec_len = (size_t)n;
	*off = i + (size_t)n;
	return 1;
}

/* Every item of the payload, contiguous: first and last sequence. 0 or -EINVAL. */
static int items_check(const char *p, size_t len, uint64_t *first, uint64_t *last)
{
	struct cp_ctail_item it;
	size_t off = 0;
	int rc;

	*first = *last = 0;
	while ((rc = cp_ctail_item_next(p, len, &off, &it)) == 1) {
		if (*first != 0 && it.seq != *last + 1)
			return -EINVAL;
		if (*first == 0)
			*first = it.seq;
		*last = it.seq;
	}
	return rc == 0 && *first != 0 ? 0 : -EINVAL;
}

static bool is_str(const redisReply *r)
{
	return r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS;
}

static bool word_is(const redisReply *r, const char *w)
{
	return is_str(r) && r->len == strlen(w) && memcmp(r->str, w, r->len) == 0;
}

enum cp_ctail_kind cp_ctail_push_parse(const redisReply *rep, struct cp_ctail_push *out)
{
	memset(out, 0, sizeof(*out));
	out->kind = CP_CTAIL_OTHER;
	if (rep == NULL)
		return out->kind;
	if (rep->type == REDIS_REPLY_ERROR)
		return out->kind = CP_CTAIL_ERROR;
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 3 || !is_str(rep->element[1]) ||
	    cp_ctail_channel_master(rep->element[1]->str, rep->element[1]->len, &out->master) != 0)
		return out->kind;
	const redisReply *k = rep->element[0], *v = rep->element[2];
	if (word_is(k, "smessage") && is_str(v)) {
		out->kind = CP_CTAIL_MESSAGE;
		if (items_check(v->str, v->len, &out->first, &out->last) == 0) {
			out->items = v->str;
			out->items_len = v->len;
		} else {
			out->first = out->last = 0;
		}
	}
	else if (word_is(k, "ssubscribe") && v->type == REDIS_REPLY_INTEGER)
		out->kind = CP_CTAIL_SUBSCRIBED;
	else if (word_is(k, "sunsubscribe") && v->type == REDIS_REPLY_INTEGER)
		out->kind = CP_CTAIL_UNSUBSCRIBED;
	if (out->kind == CP_CTAIL_OTHER)
		out->master = 0;
	return out->kind;
}
