/*
 * cp_book_store: a master's position book (cp_book.h) durable in Redis (issue 19).
 *
 * Key "decp:{m<master>}:book" (the master's hash tag: the same slot as its stream), a
 * hash of two fields: "seq" (decimal, the sequence the book reflects) and "b" (the
 * cp_book_encode() bytes). A save replaces the stored book only when its sequence is
 * higher (one Lua script, atomic), so two writers, a restarted one or a redelivery can
 * never move the stored book back in the stream.
 *
 * Thread: the caller's Redis connection (hiredis, blocking, its reply timeout).
 */
#ifndef DECP_CP_BOOK_STORE_H
#define DECP_CP_BOOK_STORE_H

#include <stdint.h>

#include <hiredis/hiredis.h>

#include "cp_book.h"

/*
 * Loads master's stored book into *b (freed and re-initialised first). Returns 0 (an
 * absent key gives the empty book at sequence 0), -EIO (Redis error or no reply: the
 * connection should be dropped), -EINVAL (the stored bytes do not decode, or name
 * another master, or their seq disagrees with the "seq" field: *b is the empty book),
 * -ENOMEM.
 */
int cp_book_store_load(redisContext *c, uint64_t master, struct cp_book *b);

/*
 * The same from the reply to "HMGET <CP_REDIS_BOOK_KEY_FMT of master> seq b" (sent by the
 * caller, e.g. through cp_redis_command_argv, which follows a cluster redirect): rep NULL
 * or not a two-element array (an error reply, a redirect not followed) is -EIO; otherwise
 * as cp_book_store_load. rep stays the caller's.
 */
int cp_book_store_decode(const redisReply *rep, uint64_t master, struct cp_book *b);

/*
 * Stores b unless the stored book already reflects b->seq or later. Returns 1 stored, 0
 * not newer (nothing written), -EIO, -ENOMEM.
 */
int cp_book_store_save(redisContext *c, const struct cp_book *b);

#endif
