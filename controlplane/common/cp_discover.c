/* cp_discover: signal streams found by SCAN on every primary. Design in cp_discover.h. */
#include "cp_discover.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cp_log.h"

#define SADD_CHUNK 1000u

void cp_discover_init(struct cp_discover *d, uint32_t interval_s, const char *role)
{
	memset(d, 0, sizeof(*d));
	d->interval_s = interval_s;
	d->role = role;
}

void cp_discover_fini(struct cp_discover *d)
{
	free(d->ids);
	d->ids = NULL;
	d->n_ids = d->cap_ids = 0;
}

uint64_t cp_discover_master_of(const char *key, size_t len)
{
	static const char pre[] = "decp:{m", post[] = "}:signals";
	const size_t lp = sizeof(pre) - 1, ls = sizeof(post) - 1;
	if (len <= lp + ls || len > lp + ls + 20 || memcmp(key, pre, lp) != 0 ||
	    memcmp(key + len - ls, post, ls) != 0 || key[lp] == '0')
		return 0;
	uint64_t m = 0;
	for (size_t i = lp; i < len - ls; i++) {
		if (key[i] < '0' || key[i] > '9')
			return 0;
		uint64_t next = m * 10 + (uint64_t)(key[i] - '0');
		if (next / 10 != m)
			return 0;   /* overflow */
		m = next;
	}
	return m;
}

/* Changes with every slot map read and every (re)connect (Sentinel: maybe another
 * server): a cursor is only good on the server that gave it. */
static uint64_t epoch_of(const struct cp_redis *r)
{
	uint64_t moved, asked, maps;
	cp_redis_redirects(r, &moved, &asked, &maps);
	return maps + r->connects;
}

static void start_sweep(struct cp_discover *d, struct cp_redis *r, uint64_t now_ns)
{
	d->maps = epoch_of(r);
	d->active = true;
	d->started_ns = now_ns;
	d->nodes = cp_redis_nodes(r);
	if (d->nodes > CP_RCL_MAX_NODES)
		d->nodes = CP_RCL_MAX_NODES;
	memset(d->cursor, 0, sizeof(d->cursor));
	memset(d->done, 0, sizeof(d->done));
	d->sweep_calls = d->sweep_streams = 0;
	d->partial = d->redo_on_map = false;
	d->n_ids = 0;   /* ids still waiting for the SADD are found again */
}

static int note_id(struct cp_discover *d, uint64_t m)
{
	if (d->n_ids == d->cap_ids) {
		size_t cap = d->cap_ids ? d->cap_ids * 2 : 256;
		uint64_t *n = realloc(d->ids, cap * sizeof(*n));
		if (n == NULL)
			return -ENOMEM;
		d->ids = n;
		d->cap_ids = cap;
	}
	d->ids[d->n_ids++] = m;
	return 0;
}

/* SADD decp:masters of the step's ids (chunks of SADD_CHUNK): already members add
 * nothing. The set's primary down: -EAGAIN (listed at a later sweep). */
static int relist(struct cp_discover *d, struct cp_redis *r)
{
	const char *argv[2 + SADD_CHUNK];
	char ids[SADD_CHUNK][24];
	long long added = 0;
	int rc = 0;
	for (size_t at = 0; at < d->n_ids && rc == 0; at += SADD_CHUNK) {
		size_t n = d->n_ids - at < SADD_CHUNK ? d->n_ids - at : SADD_CHUNK;
		argv[0] = "SADD";
		argv[1] = CP_REDIS_MASTERS_KEY;
		for (size_t i = 0; i < n; i++) {
			snprintf(ids[i], sizeof(ids[i]), "%" PRIu64, d->ids[at + i]);
			argv[2 + i] = ids[i];
		}
		if (cp_redis_node(r, cp_redis_node_of(r, CP_REDIS_MASTERS_KEY)) == NULL)
			return -EAGAIN;   /* its primary is down (a cluster): not sent */
		redisReply *rep = cp_redis_command_argv(r, CP_REDIS_MASTERS_KEY, (int)(2 + n),
							argv, NULL);
		if (rep == NULL) {
			cp_redis_fail_key(r, CP_REDIS_MASTERS_KEY, "SADD (masters found by SCAN)");
			return -EAGAIN;
		}
		if (rep->type == REDIS_REPLY_INTEGER)
			added += rep->integer;
		else if (rep->type == REDIS_REPLY_ERROR)
			CP_LOG_RL(CP_LOG_ERR, d->role, "SADD %s (masters found by SCAN): %s",
				  CP_REDIS_MASTERS_KEY, rep->str);
		freeReplyObject(rep);
	}
	if (added > 0) {
		d->relisted += (uint64_t)added;
		cp_log(CP_LOG_WARN, d->role, "%lld master(s) with a signals stream were not in %s "
		       "(its primary failed over before its replica had them, or a SADD was "
		       "lost): listed again from a SCAN of the primaries", added,
		       CP_REDIS_MASTERS_KEY);
	}
	return 0;
}

int cp_discover_step(struct cp_discover *d, struct cp_redis *r, uint64_t now_ns,
		     int (*found)(void *arg, uint64_t master), void *arg)
{
	if (d->interval_s == 0)
		return 0;
	uint64_t maps = epoch_of(r);
	if (d->relist_due && relist(d, r) == 0)
		d->relist_due = false;
	if (!d->active) {
		if (now_ns < d->next_ns && !(d->redo_on_map && maps != d->maps))
			return 0;
		start_sweep(d, r, now_ns);
	} else {
		if (maps != d->maps || cp_redis_nodes(r) != d->nodes) {
			cp_log(CP_LOG_INFO, d->role, "Redis reconnected or the cluster's slot map "
			       "changed during a SCAN for signal streams: it starts over");
			start_sweep(d, r, now_ns);
		}
	}
	unsigned int node[CP_RCL_MAX_NODES];
	redisReply *reps[CP_RCL_MAX_NODES];
	char count[16];
	snprintf(count, sizeof(count), "%u", CP_DISCOVER_COUNT);
	if (!d->relist_due)
		d->n_ids = 0;
	int rc = 0;
	for (unsigned int call = 0; call < CP_DISCOVER_CALLS && rc == 0; call++) {
		unsigned int sent = 0;
		for (unsigned int i = 0; i < d->nodes; i++) {
			redisContext *c = d->done[i] ? NULL : cp_redis_node(r, i);
			if (c == NULL) {
				if (!d->done[i])
					d->partial = true;   /* down: skipped in this sweep */
				d->done[i] = true;
				continue;
			}
			char cur[24];
			snprintf(cur, sizeof(cur), "%" PRIu64, d->cursor[i]);
			const char *argv[] = {"SCAN", cur, "MATCH", CP_DISCOVER_MATCH, "TYPE", "stream",
					      "COUNT", count};
			redisAppendCommandArgv(c, 8, argv, NULL);
			node[sent] = i;
			reps[sent++] = NULL;
		}
		if (sent == 0)
			break;
		int rr = cp_redis_read_replies(r, node, reps, sent, "SCAN (signal streams)");
		for (unsigned int j = 0; j < sent; j++) {
			redisReply *rep = reps[j];
			unsigned int i = node[j];
			d->calls++;
			d->sweep_calls++;
			if (rep == NULL || rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
			    rep->element[0]->type != REDIS_REPLY_STRING ||
			    rep->element[1]->type != REDIS_REPLY_ARRAY) {
				if (rep != NULL)
					CP_LOG_RL(CP_LOG_ERR, d->role, "SCAN for signal streams: %s",
						  rep->type == REDIS_REPLY_ERROR ? rep->str
						  : "unexpected reply");
				d->done[i] = true;   /* this sweep goes on without it */
				d->partial = true;
				freeReplyObject(rep);
				continue;
			}
			d->cursor[i] = strtoull(rep->element[0]->str, NULL, 10);
			d->done[i] = d->cursor[i] == 0;
			const redisReply *keys = rep->element[1];
			for (size_t k = 0; k < keys->elements && rc == 0; k++) {
				if (keys->element[k]->type != REDIS_REPLY_STRING)
					continue;
				uint64_t m = cp_discover_master_of(keys->element[k]->str,
								   keys->element[k]->len);
				if (m == 0)
					continue;
				d->sweep_streams++;
				d->streams++;
				if (note_id(d, m) != 0)
					rc = -ENOMEM;
				else if (found != NULL && found(arg, m) != 0)
					d->partial = true;   /* its primary failed: again at the
							      * next map (the others go on) */
			}
			freeReplyObject(rep);
		}
		if (rr != 0 && rc == 0)
			rc = -EAGAIN;   /* no connection left: the next step starts at ensure */
	}
	if (rc == 0 && d->n_ids > 0) {
		rc = relist(d, r);
		d->relist_due = rc != 0;   /* kept: listed at a later step */
		if (rc == -EAGAIN)
			rc = 0;   /* only the set's primary: the SCANs went on */
	}
	bool all = true;
	for (unsigned int i = 0; i < d->nodes; i++)
		all &= d->done[i];
	if (all) {
		d->active = false;
		d->sweeps++;
		d->next_ns = d->started_ns + (uint64_t)d->interval_s * 1000000000ull;
		d->redo_on_map = d->partial;
		cp_log(d->sweeps == 1 ? CP_LOG_INFO : CP_LOG_DEBUG, d->role,
		       "SCAN of %u Redis primary(ies) for signal streams: %" PRIu64 " found in %"
		       PRIu64 " call(s), %.1f s (next in %u s%s)", d->nodes, d->sweep_streams,
		       d->sweep_calls, (double)(cp_now_ns() - d->started_ns) / 1e9, d->interval_s,
		       d->partial ? ", or at the next slot map: a primary was skipped" : "");
	}
	return rc;
}
