/* cp_fanout_keys: key announcements read from PostgreSQL and posted to the lws thread.
 * Design in cp_fanout_keys.h. */
#include "cp_fanout_keys.h"

#include "cp_fanout_pvt.h"

struct cp_fmsg *cp_fmsg_key_announcement(uint64_t master, const uint8_t old_pub[32],
					 const uint8_t new_pub[32], int64_t valid_from_ns,
					 int64_t overlap_until_ns, const uint8_t sig[64])
{
	Decp__ServerMessage sm = DECP__SERVER_MESSAGE__INIT;
	Decp__KeyAnnouncement ka = DECP__KEY_ANNOUNCEMENT__INIT;

	if (old_pub == NULL || new_pub == NULL || sig == NULL || master == 0) {
		errno = EINVAL;
		return NULL;
	}
	ka.master_id = master;
	ka.old_public_key.data = (uint8_t *)old_pub;
	ka.old_public_key.len = 32;
	ka.new_public_key.data = (uint8_t *)new_pub;
	ka.new_public_key.len = 32;
	ka.valid_from_ns = valid_from_ns;
	ka.overlap_until_ns = overlap_until_ns;
	ka.signature.data = (uint8_t *)sig;
	ka.signature.len = 64;
	sm.kind_case = DECP__SERVER_MESSAGE__KIND_KEY_ANNOUNCEMENT;
	sm.key_announcement = &ka;
	return cp_fmsg_pack(&sm);
}

static struct cp_fo_key_seen *seen_of(struct cp_fo_keys_seen *s, uint64_t master)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i].master == master)
			return &s->v[i];
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		struct cp_fo_key_seen *v = realloc(s->v, cap * sizeof(*v));

		if (v == NULL)
			return NULL;
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n] = (struct cp_fo_key_seen){.master = master};
	return &s->v[s->n++];
}

static void post(struct cp_fanout *f, uint64_t master, struct cp_fmsg *msg)
{
	struct key_ev *e = calloc(1, sizeof(*e));

	if (e == NULL) {
		cp_fmsg_unref(msg);
		return;
	}
	e->master = master;
	e->msg = msg;
	cp_fo_mq_push(&f->key_q, e);
}

int cp_fo_keys_poll(struct cp_fanout *f, PGconn *c, struct cp_fo_keys_seen *seen)
{
	/* Binary results: keys and signature as raw bytes, times as big-endian int8. Every
	 * master with an announcement, plus those we posted one for (to see it vanish). */
	PGresult *r = PQexecParams(c,
				   "SELECT id, ed25519_public_key_prev, ed25519_public_key, "
				   "ed25519_announce_from_ns, ed25519_announce_until_ns, "
				   "ed25519_announce_sig FROM masters "
				   "WHERE ed25519_announce_sig IS NOT NULL",
				   0, NULL, NULL, NULL, NULL, 1);
	int posted = 0;

	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		cp_log(CP_LOG_WARN, ROLE, "key announcements: %s", PQresultErrorMessage(r));
		PQclear(r);
		return -1;
	}
	for (size_t i = 0; i < seen->n; i++)
		seen->v[i].present |= 2; /* "not in this result yet" */
	for (int i = 0; i < PQntuples(r); i++) {
		uint64_t id = 0;
		int64_t t[2] = {0, 0};
		const uint8_t *p;
		struct cp_fo_key_seen *s;

		if (PQgetlength(r, i, 0) != 8 || PQgetlength(r, i, 1) != 32 ||
		    PQgetlength(r, i, 2) != 32 || PQgetlength(r, i, 3) != 8 ||
		    PQgetlength(r, i, 4) != 8 || PQgetlength(r, i, 5) != 64)
			continue; /* no previous key (overlap 0): nothing a receiver could check */
		p = (const uint8_t *)PQgetvalue(r, i, 0);
		for (int b = 0; b < 8; b++)
			id = id << 8 | p[b];
		for (int k = 0; k < 2; k++) {
			p = (const uint8_t *)PQgetvalue(r, i, 3 + k);
			for (int b = 0; b < 8; b++)
				t[k] = (int64_t)((uint64_t)t[k] << 8 | p[b]);
		}
		s = seen_of(seen, id);
		if (s == NULL)
			continue;
		p = (const uint8_t *)PQgetvalue(r, i, 5);
		if ((s->present & 1) && memcmp(s->sig, p, 64) == 0) {
			s->present = 1;
			continue;
		}
		struct cp_fmsg *m = cp_fmsg_key_announcement(
			id, (const uint8_t *)PQgetvalue(r, i, 1), (const uint8_t *)PQgetvalue(r, i, 2),
			t[0], t[1], p);
		if (m == NULL)
			continue;
		memcpy(s->sig, p, 64);
		s->present = 1;
		post(f, id, m);
		posted++;
	}
	PQclear(r);
	for (size_t i = 0; i < seen->n; i++)
		if (seen->v[i].present == 3) { /* posted before, gone now */
			seen->v[i].present = 0;
			post(f, seen->v[i].master, NULL);
			posted++;
		} else {
			seen->v[i].present &= 1;
		}
	if (posted > 0)
		lws_cancel_service(f->ctx);
	return posted;
}

void cp_fo_keys_seen_free(struct cp_fo_keys_seen *seen)
{
	free(seen->v);
	seen->v = NULL;
	seen->n = seen->cap = 0;
}
