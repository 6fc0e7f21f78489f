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
	if (word_is(k, "smessage") && is_str(v) && dec_u64(v->str, v->len, &out->seq) == 0)
		out->kind = CP_CTAIL_MESSAGE;
	else if (word_is(k, "ssubscribe") && v->type == REDIS_REPLY_INTEGER)
		out->kind = CP_CTAIL_SUBSCRIBED;
	else if (word_is(k, "sunsubscribe") && v->type == REDIS_REPLY_INTEGER)
		out->kind = CP_CTAIL_UNSUBSCRIBED;
	if (out->kind == CP_CTAIL_OTHER)
		out->master = 0;
	return out->kind;
}
