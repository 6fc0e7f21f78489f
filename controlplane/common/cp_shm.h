/*
 * cp_shm: the control side of the dataplane's shared-memory segment (dataplane/dp_shm.h).
 * Used by decp-control, decp-testconsumer and tools. Needs librte_ring only: no EAL.
 *
 * Typical loop (one thread owns a struct cp_shm):
 *
 *   while (cp_shm_attach(&c, name) != 0) sleep a bit;       // dataplane not up yet
 *   for (;;) {
 *       n = cp_ingress_dequeue(&c, w, recs, 64);             // for each worker w
 *       ... make durable ...; cp_ack_enqueue(&c, w, acks, k);
 *       if (nothing to do) cp_wait(&c, 10);
 *       every ~100 ms: switch (cp_shm_check(&c, 1e9)) { case RESTARTED/STOPPED/STALE:
 *           cp_shm_detach(&c); re-attach; push tokens, keys, durable sequences, READY }
 *   }
 *
 * Threading: a struct cp_shm is used by one thread, and one control process is attached at
 * a time: every ring is single-producer/single-consumer (dp_shm.h says why). Spread work
 * over threads by worker ring (each thread owning all rings of its workers) only if each
 * ring keeps exactly one producing and one consuming thread.
 */
#ifndef DECP_CP_SHM_H
#define DECP_CP_SHM_H

#include <stdbool.h>
#include <sys/types.h>

#include "dp_shm.h"

struct cp_shm {
	struct dp_shm s;     /* s.hdr == NULL when detached */
	dev_t dev;
	ino_t ino;           /* identity of the mapped object, to notice a re-created one */
	int64_t generation;
	int wake_fd;         /* our doorbell (abstract unix datagram), -1 if none */
	int tx_fd;           /* unbound datagram socket to ring the workers' doorbells */
};

enum cp_shm_health {
	CP_SHM_OK = 0,
	CP_SHM_RESTARTED = 1, /* the name now refers to a new segment (dataplane restarted) */
	CP_SHM_STOPPED = 2,   /* the dataplane marked the segment STOPPED (clean exit) */
	CP_SHM_STALE = 3,     /* dataplane heartbeat older than the limit (hung or killed) */
	CP_SHM_GONE = 4,      /* the name no longer exists */
};

/*
 * Map and validate the segment `name` ("/x" or "x", by dp_shm_name_fix's rule: another
 * name is -EINVAL or -ENAMETOOLONG, as for cp_shm_peek): magic, layout version, header size,
 * element sizes, counter and bucket counts, ring offsets inside the mapping. Registers this
 * process as the consumer (cp_pid) and opens the doorbell sockets.
 * A previous control process that died mid-operation may have left a ring half-updated
 * (head moved, tail not): attach rolls the control side's ends back to their tails, so a
 * record it was enqueuing is dropped unpublished and records it was dequeuing are delivered
 * again (harmless: the consumer dedupes).
 * Returns 0, or -ENOENT (no such segment yet), -EAGAIN (segment still being built or
 * STOPPED), -EPROTO (magic/version/size mismatch: a different build), -EBUSY (another live
 * process is attached), another -errno (open/mmap/socket). On error c is left detached.
 */
int cp_shm_attach(struct cp_shm *c, const char *name);

/* Unmap and close; clears cp_pid if it is ours. Safe on a detached/zeroed struct. */
void cp_shm_detach(struct cp_shm *c);

/*
 * Map the segment `name` READ-ONLY for monitoring (the api role's /metrics): the same
 * validation as cp_shm_attach() but no registration, no doorbells and no ring repair, so
 * it never disturbs the attached control process. Counters, histograms and ring depths
 * may be read (relaxed loads) through s. Returns 0 or the errors of cp_shm_attach()
 * (except -EBUSY). Release with cp_shm_unpeek().
 */
int cp_shm_peek(struct dp_shm *s, const char *name);

/* Unmap what cp_shm_peek() mapped. Safe on a zeroed struct. */
void cp_shm_unpeek(struct dp_shm *s);

/*
 * The layout version the segment `name` says it has (magic published), for the message of
 * an attach refused with -EPROTO: 0 when there is none to read. Every layout so far keeps
 * magic and layout_version at the start of the header (dp_shm.h), so an older or newer
 * dataplane's segment is read right.
 */
uint32_t cp_shm_layout_of(const char *name);

/*
 * Health of the attachment: compares the name's current object with the mapped one, the
 * segment state, and the dataplane heartbeat against stale_ns (0 disables that check).
 * Also refreshes our own heartbeat. Makes a few syscalls: call every ~100 ms, not per record.
 * Returns an enum cp_shm_health value.
 */
int cp_shm_check(struct cp_shm *c, uint64_t stale_ns);

/* Up to n ingress records of worker w into recs. Returns the count (0 when empty or w out
 * of range). */
unsigned int cp_ingress_dequeue(struct cp_shm *c, unsigned int w, struct dp_ingress_rec *recs,
				unsigned int n);

/*
 * Up to cap ingress records from every worker's ring into recs, fairly: first up to
 * cap / workers (at least 1) from each, then what room is left from each in turn; both
 * passes begin at worker *next, which moves on by one per call. So a worker whose ring is
 * always full cannot keep another's records (its masters' signals, their logins) waiting:
 * each non-empty ring gives records to every call. Each ring's order is kept. Returns
 * the count.
 */
unsigned int cp_ingress_dequeue_fair(struct cp_shm *c, struct dp_ingress_rec *recs,
				     unsigned int cap, unsigned int *next);

/* The ACK for ingress record r with status (enum dp_ack_status): the fields the worker
 * matches it by (master, sequence, connection) and its latency stamps, copied. */
static inline void cp_ack_for(struct dp_ack_rec *a, const struct dp_ingress_rec *r,
			      uint32_t status)
{
	*a = (struct dp_ack_rec){.master_id = r->master_id, .sequence = r->sequence,
				 .arrival_ns = r->arrival_ns, .conn_id = r->conn_id,
				 .enq_mono_ns = r->enq_mono_ns, .status = status};
}

/* Enqueue up to n ACKs to worker w (all-or-nothing per call is NOT promised: returns how
 * many went in; the caller retries the rest). Rings the worker's doorbell if it sleeps. */
unsigned int cp_ack_enqueue(struct cp_shm *c, unsigned int w, const struct dp_ack_rec *acks,
			    unsigned int n);

/* Send one control command. Returns 0, -ENOBUFS (control ring full: retry), -ENOTCONN. */
int cp_ctrl_send(struct cp_shm *c, const struct dp_ctrl_cmd *cmd);

/*
 * Wait until the dataplane has applied every command up to and including `cookie` (cmd
 * cookies must increase) or timeout_ms passes. Returns 0 or -ETIMEDOUT.
 */
int cp_ctrl_wait_applied(struct cp_shm *c, uint64_t cookie, int timeout_ms);

/* Sleep up to timeout_ms unless an ingress ring is non-empty; a worker's doorbell wakes us
 * early. Returns 1 when records are waiting, 0 on timeout. */
int cp_wait(struct cp_shm *c, int timeout_ms);

/* Records waiting in all ingress rings (approximate while workers run). */
unsigned int cp_ingress_pending(const struct cp_shm *c);

#endif
