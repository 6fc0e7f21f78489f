/*
 * cp_edge_session: the edge's half of "one live session per master, across edges"
 * (issue 24 item 3; docs/control.md "Live sessions", docs/ingest.md "One live session per
 * master, across edges").
 *
 *   dataplane worker                 edge (this module)                Redis
 *   LoginProof ok --DP_REC_LOGIN-->  claim: FCALL decp_login  ------>  {m<id>}:session_gen INCR
 *   (pending)                                                          {m<id>}:session   HSET, PEXPIRE
 *                                                                      {m<id>}:signals   last entry
 *   HelloAck(last+1) <--LOGIN_OK(last, gen)--+  (or LOGIN_UNAVAILABLE: Redis down/replicas behind)
 *   close -----------DP_REC_LOGOUT-->  FCALL decp_logout (only if gen is still the newest)
 *   Error REPLACED  <--CLOSE(gen)----  every CP_EDGE_SESSION_CHECK_MS: FCALL decp_session_touch
 *                                      per held session: 0 = a newer login took the master
 *
 * The newest login wins, as inside one dataplane: every claim takes the next generation of
 * the master's counter (never expires), and a session is the master's live one exactly
 * while its generation is the counter's value. The hash `decp:{m<id>}:session` (edge, gen,
 * worker, conn, peer, since_ms) is what operators see as "connected"; it expires
 * CP_EDGE_SESSION_TTL_MS after the last touch, so the claims of an edge that died with its
 * dataplane go away by themselves. A touch re-creates an expired hash while the generation
 * is still the newest (a Redis outage longer than the TTL closes no session).
 *
 * On Redis Cluster (redis_nodes) the library is loaded on every primary and each call goes
 * to the primary serving the master's slot (cp_redis_at); a redirect answers that login
 * LOGIN_UNAVAILABLE (the master retries) and leaves a touch for the next check.
 *
 * Threading: the edge thread only; uses the edge's Redis connection between batches and
 * the segment's ACK rings, whose only producer is that thread.
 */
#ifndef DECP_CP_EDGE_SESSION_H
#define DECP_CP_EDGE_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "cp_config.h"
#include "cp_redis.h"
#include "cp_shm.h"

#define CP_EDGE_SESSION_CHECK_MS 100u  /* claims checked (and kept alive) this often */
#define CP_EDGE_SESSION_TTL_MS 3000u   /* a claim nobody touches expires after this */
/* The claims' function library (decp_session) and its version, loaded as the decp
 * library is (cp_redis_load_library: never over a newer one); raise the version with
 * every change of its text (test_cp_redis_lib checks its SHA-256). */
#define CP_EDGE_SESSION_LIB_VERSION 2 /* 1: every build before the version function */
#define CP_EDGE_SESSION_FN_VERSION "decp_session_version"
extern const char cp_edge_session_library[];

/* A session this edge confirmed and still holds. */
struct cp_held_session {
	uint64_t master_id;
	uint64_t gen;
	uint64_t conn_id;
	uint16_t worker;
	int64_t since_ms;      /* CLOCK_REALTIME ms of the claim */
	char peer[48];
};

struct cp_edge_sessions {
	const struct cp_config *cfg;
	char edge_id[128];     /* cfg->edge_id, or "<hostname>:<shm>" */
	struct cp_held_session *held;
	size_t n_held, cap_held;
	uint64_t lib_connects; /* r->connects when the library was last loaded; 0 = never */
	uint64_t next_check;   /* CLOCK_MONOTONIC ns */
	uint64_t logins, unavailable, logouts, lost, dropped;
};

/* Initialise (no I/O). */
void cp_edge_sessions_init(struct cp_edge_sessions *es, const struct cp_config *cfg);

/* Free the table. */
void cp_edge_sessions_fini(struct cp_edge_sessions *es);

/*
 * The batch's DP_REC_LOGIN and DP_REC_LOGOUT records (others are skipped), in ring order,
 * after the batch's signals were written (so a claim reads a durable sequence that
 * includes them): one pipeline of decp_login / decp_logout calls (with durability =
 * replica|both, a WAIT at its end), then LOGIN_OK or LOGIN_UNAVAILABLE to each login's
 * worker. On a Redis failure every login of the batch is answered LOGIN_UNAVAILABLE (the
 * masters retry) and the connection is dropped (cp_redis_fail). Returns 0, or -EAGAIN
 * after such a failure.
 */
int cp_edge_sessions_batch(struct cp_edge_sessions *es, struct cp_redis *r, struct cp_shm *c,
			   const struct dp_ingress_rec *recs, unsigned int n);

/*
 * Call every loop iteration (acts every CP_EDGE_SESSION_CHECK_MS): one pipeline touching
 * each held claim; a claim a newer login took is dropped from the table and its session
 * ordered closed (CLOSE on the worker's ACK ring: Error REPLACED). A Redis failure keeps
 * everything for the next check.
 */
void cp_edge_sessions_tick(struct cp_edge_sessions *es, struct cp_redis *r, struct cp_shm *c,
			   uint64_t now_ns);

/*
 * The dataplane went away (restarted, stopped, hung): its sessions are gone, so clear
 * every claim this edge holds (each only if still the newest), best effort (Redis down:
 * they expire), and empty the table.
 */
void cp_edge_sessions_drop_all(struct cp_edge_sessions *es, struct cp_redis *r);

/* "a.b.c.d:port" of a record's peer, or "" when unknown (IPv6 too: only IPv4 is shown). */
const char *cp_rec_peer_str(const struct dp_ingress_rec *r, char *buf, size_t len);

#endif
