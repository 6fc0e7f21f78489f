/* cp_book_store: position books in Redis. Layout and contract in cp_book_store.h. */
#include "cp_book_store.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "cp_redis.h"

/* Replace the book only with a later one (KEYS[1] the book, ARGV seq and bytes). */
static const char save_lua[] =
	"local cur = tonumber(redis.call('HGET', KEYS[1], 'seq') or '0') "
	"if cur >= tonumber(ARGV[1]) then return 0 end "
	"redis.call('HSET', KEYS[1], 'seq', ARGV[1], 'b', ARGV[2]) return 1";

int cp_book_store_load(redisContext *c, uint64_t master, struct cp_book *b)
{
	char key[64];
	redisReply *r;
	int rc;

	snprintf(key, sizeof(key), CP_REDIS_BOOK_KEY_FMT, master);
	r = redisCommand(c, "HMGET %s seq b", key);
	rc = cp_book_store_decode(r, master, b);
	freeReplyObject(r);
	return rc;
}

int cp_book_store_decode(const redisReply *r, uint64_t master, struct cp_book *b)
{
	int rc;

	cp_book_free(b);
	cp_book_init(b, master);
	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2)
		return -EIO;
	if (r->element[1]->type != REDIS_REPLY_STRING)
		return 0; /* never stored */
	rc = cp_book_decode(b, (const uint8_t *)r->element[1]->str, r->element[1]->len);
	if (rc == 0 && (b->master_id != master || r->element[0]->type != REDIS_REPLY_STRING ||
			strtoull(r->element[0]->str, NULL, 10) != b->seq))
		rc = -EINVAL;
	if (rc != 0) {
		cp_book_free(b);
		cp_book_init(b, master);
	}
	return rc;
}

int cp_book_store_save(redisContext *c, const struct cp_book *b)
{
	char key[64], seq[24];
	size_t cap = cp_book_encoded_max(b);
	uint8_t *buf = malloc(cap);
	redisReply *r;
	long n;
	int rc = -EIO;

	if (buf == NULL)
		return -ENOMEM;
	n = cp_book_encode(b, buf, cap);
	snprintf(key, sizeof(key), CP_REDIS_BOOK_KEY_FMT, b->master_id);
	snprintf(seq, sizeof(seq), "%" PRIu64, b->seq);
	r = n < 0 ? NULL
		  : redisCommand(c, "EVAL %s 1 %s %s %b", save_lua, key, seq, buf, (size_t)n);
	if (r != NULL && r->type == REDIS_REPLY_INTEGER)
		rc = r->integer == 1 ? 1 : 0;
	freeReplyObject(r);
	free(buf);
	return rc;
}
