/* cp_fanout_snap: snapshots of a master's position book. Contract in cp_fanout_snap.h. */
#include "cp_fanout_snap.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "cp_book_body.h"
#include "cp_book_store.h"
#include "cp_redis.h"
#include "cp_redis_rec.h"
#include "proto_snapsig.h"
#include "decp.pb-c.h"

bool cp_snap_wanted(uint64_t from, uint64_t last_seq, bool in_hist, int64_t from_arrival_ns,
		    int64_t now_ns, int64_t stale_ns)
{
	if (from == 0 || last_seq == 0 || from > last_seq)
		return false; /* nothing to replay: live from here */
	if (!in_hist)
		return true;
	return from_arrival_ns < now_ns - stale_ns;
}

/* Applies one XRANGE reply's entries to b. Returns the entries applied, or -ENODATA. */
static long apply_chunk(struct cp_book *b, const redisReply *rep, uint64_t *first_avail)
{
	long n = 0;

	for (size_t i = 0; i < rep->elements; i++) {
		const redisReply *e = rep->element[i];
		struct cp_rec rec;
		uint64_t seq;
		int rc;

		if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
		    e->element[0]->type != REDIS_REPLY_STRING)
			return -ENODATA;
		seq = strtoull(e->element[0]->str, NULL, 10);
		if (i == 0 && b->seq == 0 && first_avail != NULL)
			*first_avail = seq;
		if (!cp_rec_from_fields(e->element[1], &rec))
			return -ENODATA;
		rc = cp_book_apply_body(b, seq, rec.body, rec.body_len, NULL, NULL);
		if (rc == -EALREADY)
			continue;
		if (rc != 0) {
			if (rc == -ERANGE && first_avail != NULL)
				*first_avail = seq;
			return rc == -ENOMEM ? -ENOMEM : -ENODATA;
		}
		n++;
	}
	return n;
}

int cp_snap_book_current(redisContext *c, uint64_t master, struct cp_book *b,
			 uint64_t *first_avail, unsigned *xranges)
{
	char key[64], from[32];
	int rc = cp_book_store_load(c, master, b);

	if (rc == -EIO || rc == -ENOMEM)
		return rc;
	/* -EINVAL: an unreadable stored book is the empty one; the stream may still hold all */
	cp_redis_key_signals(key, sizeof(key), master);
	for (;;) {
		redisReply *rep;
		long k;
		bool end;

		snprintf(from, sizeof(from), "%" PRIu64 "-0", b->seq + 1);
		rep = redisCommand(c, "XRANGE %s %s + COUNT %u", key, from, CP_SNAP_XRANGE_COUNT);
		if (xranges != NULL)
			(*xranges)++;
		if (rep == NULL || rep->type != REDIS_REPLY_ARRAY) {
			freeReplyObject(rep);
			return -EIO;
		}
		end = rep->elements < CP_SNAP_XRANGE_COUNT;
		k = apply_chunk(b, rep, first_avail);
		freeReplyObject(rep);
		if (k < 0)
			return (int)k;
		if (end)
			return 0;
	}
}

long cp_snap_msgs(const struct cp_book *b, uint64_t sub_id, uint64_t from, int reason,
		  const struct proto_ed25519_key *sk, struct cp_fmsg ***out)
{
	size_t parts = (b->n + CP_SNAP_PART_ENTRIES - 1) / CP_SNAP_PART_ENTRIES, k = 0;
	struct cp_fmsg **v = calloc(parts + 2, sizeof(*v));
	Decp__ServerMessage sm = DECP__SERVER_MESSAGE__INIT;
	struct proto_snapsig sig;
	long rc = -ENOMEM;

	if (v == NULL)
		return -ENOMEM;
	proto_snapsig_init(&sig);
	{
		Decp__SnapshotBegin sb = DECP__SNAPSHOT_BEGIN__INIT;

		sb.master_id = b->master_id;
		sb.sequence = b->seq;
		sb.count = (uint32_t)b->n;
		sb.from_sequence = from;
		sb.reason = (Decp__SnapshotBegin__Reason)reason;
		sb.subscription_id = sub_id;
		sm.kind_case = DECP__SERVER_MESSAGE__KIND_SNAPSHOT_BEGIN;
		sm.snapshot_begin = &sb;
		if ((v[k] = cp_fmsg_pack(&sm)) == NULL)
			goto fail;
		k++;
	}
	for (size_t i = 0; i < b->n; i += CP_SNAP_PART_ENTRIES) {
		Decp__SnapshotPart sp = DECP__SNAPSHOT_PART__INIT;
		Decp__BookEntry ent[CP_SNAP_PART_ENTRIES], *ptr[CP_SNAP_PART_ENTRIES];
		size_t j;

		for (j = 0; j < CP_SNAP_PART_ENTRIES && i + j < b->n; j++) {
			cp_book_entry_to_pb(&b->e[i + j], &ent[j]);
			ptr[j] = &ent[j];
			proto_snapsig_add(&sig, &ent[j]);
		}
		sp.master_id = b->master_id;
		sp.sequence = b->seq;
		sp.n_entries = j;
		sp.entries = ptr;
		sm.kind_case = DECP__SERVER_MESSAGE__KIND_SNAPSHOT_PART;
		sm.snapshot_part = &sp;
		if ((v[k] = cp_fmsg_pack(&sm)) == NULL)
			goto fail;
		k++;
	}
	{
		Decp__SnapshotEnd se = DECP__SNAPSHOT_END__INIT;

		uint8_t s64[PROTO_ED25519_SIG_LEN];

		se.master_id = b->master_id;
		se.sequence = b->seq;
		se.count = (uint32_t)b->n;
		if (sk != NULL) {
			if (proto_snapsig_sign(&sig, sk, b->master_id, b->seq, s64) != 0) {
				rc = -EIO;
				goto fail;
			}
			se.signature.data = s64;
			se.signature.len = sizeof(s64);
		}
		sm.kind_case = DECP__SERVER_MESSAGE__KIND_SNAPSHOT_END;
		sm.snapshot_end = &se;
		if ((v[k] = cp_fmsg_pack(&sm)) == NULL)
			goto fail;
		k++;
	}
	*out = v;
	return (long)k;
fail:
	while (k > 0)
		cp_fmsg_unref(v[--k]);
	free(v);
	return rc;
}
