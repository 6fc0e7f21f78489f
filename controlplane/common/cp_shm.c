/* cp_shm: attach to the dataplane segment. Contract in cp_shm.h. */
#include "cp_shm.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <rte_ring.h>
#include <rte_ring_elem.h>

static socklen_t abstract_addr(struct sockaddr_un *a, const char *prefix, const char *suffix)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	/* Abstract namespace (leading NUL): nothing on disk to clean up after a crash. */
	int n = snprintf(a->sun_path + 1, sizeof(a->sun_path) - 1, "%s%s", prefix, suffix);
	if (n < 0 || (size_t)n >= sizeof(a->sun_path) - 1)
		n = (int)sizeof(a->sun_path) - 2;
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
}

/* Roll back a dead predecessor's half-done operations on the ends we own (see cp_shm.h).
 * Only valid while no other process uses those ends: checked by the caller (cp_pid). */
static void repair_rings(struct cp_shm *c)
{
	struct rte_ring *prod[1 + DP_SHM_MAX_WORKERS];
	unsigned int n = 0;
	prod[n++] = c->s.ctrl;
	for (uint32_t w = 0; w < c->s.hdr->n_workers; w++) {
		prod[n++] = c->s.ack[w];
		struct rte_ring *in = c->s.ingress[w];
		__atomic_store_n(&in->cons.head, __atomic_load_n(&in->cons.tail, __ATOMIC_ACQUIRE),
				 __ATOMIC_RELEASE);
	}
	for (unsigned int i = 0; i < n; i++)
		__atomic_store_n(&prod[i]->prod.head,
				 __atomic_load_n(&prod[i]->prod.tail, __ATOMIC_ACQUIRE), __ATOMIC_RELEASE);
}

/* The shm_open name of segment `name` ("/x" or "x"), by the dataplane's own rule
 * (dp_shm_name_fix): 0, -EINVAL or -ENAMETOOLONG. */
static int seg_path(char *path, size_t cap, const char *name)
{
	return dp_shm_name_fix(path, cap, name);
}

static int validate(const struct dp_shm_hdr *h, size_t size)
{
	if (atomic_load_explicit(&h->magic, memory_order_acquire) != DP_SHM_MAGIC)
		return -EAGAIN;
	if (h->layout_version != DP_SHM_LAYOUT_VERSION || h->hdr_size != sizeof(*h) ||
	    h->total_size != size || h->ingress_elem_size != sizeof(struct dp_ingress_rec) ||
	    h->ack_elem_size != sizeof(struct dp_ack_rec) ||
	    h->ctrl_elem_size != sizeof(struct dp_ctrl_cmd) ||
	    h->stats_size != sizeof(struct dp_stats) || h->counter_count != DP_CTR_COUNT ||
	    h->hist_buckets != DP_HIST_BUCKETS || h->max_body != DP_BODY_MAX)
		return -EPROTO;
	if (atomic_load_explicit(&h->dp_state, memory_order_acquire) != DP_SHM_STATE_RUNNING)
		return -EAGAIN;
	return 0;
}

int cp_shm_peek(struct dp_shm *s, const char *name)
{
	char path[64];
	struct stat st;
	memset(s, 0, sizeof(*s));
	int rc = seg_path(path, sizeof(path), name);
	if (rc != 0)
		return rc;
	int fd = shm_open(path, O_RDONLY, 0);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) != 0 || (size_t)st.st_size < sizeof(struct dp_shm_hdr)) {
		close(fd);
		return -EAGAIN;
	}
	void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	int err = errno;
	close(fd);
	if (m == MAP_FAILED)
		return -err;
	s->hdr = m;
	s->size = (size_t)st.st_size;
	snprintf(s->name, sizeof(s->name), "%s", path);
	rc = validate(s->hdr, s->size);
	if (rc == 0)
		rc = dp_shm_resolve(s);
	if (rc != 0)
		cp_shm_unpeek(s);
	return rc;
}

void cp_shm_unpeek(struct dp_shm *s)
{
	if (s->hdr != NULL)
		munmap(s->hdr, s->size);
	memset(s, 0, sizeof(*s));
}

uint32_t cp_shm_layout_of(const char *name)
{
	char path[64];
	struct stat st;
	uint32_t v = 0;
	if (seg_path(path, sizeof(path), name) != 0)
		return 0;
	int fd = shm_open(path, O_RDONLY, 0);
	if (fd < 0)
		return 0;
	size_t len = sizeof(struct dp_shm_hdr);
	if (fstat(fd, &st) != 0 || (size_t)st.st_size < offsetof(struct dp_shm_hdr, hdr_size)) {
		close(fd);
		return 0;
	}
	if ((size_t)st.st_size < len)
		len = (size_t)st.st_size;
	const struct dp_shm_hdr *h = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (h == MAP_FAILED)
		return 0;
	if (atomic_load_explicit(&h->magic, memory_order_acquire) == DP_SHM_MAGIC)
		v = h->layout_version;
	munmap((void *)h, len);
	return v;
}

int cp_shm_attach(struct cp_shm *c, const char *name)
{
	char path[64];
	struct stat st;
	int fd = -1;
	int rc;

	memset(c, 0, sizeof(*c));
	c->wake_fd = -1;
	c->tx_fd = -1;
	rc = seg_path(path, sizeof(path), name);
	if (rc != 0)
		return rc;
	fd = shm_open(path, O_RDWR, 0);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) != 0) {
		rc = -errno;
		goto fail;
	}
	if ((size_t)st.st_size < sizeof(struct dp_shm_hdr)) {
		rc = -EAGAIN; /* created but not yet sized */
		goto fail;
	}
	void *m = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED) {
		rc = -errno;
		goto fail;
	}
	close(fd);
	fd = -1;
	c->s.hdr = m;
	c->s.size = (size_t)st.st_size;
	memcpy(c->s.name, path, sizeof(path) < sizeof(c->s.name) ? sizeof(path) : sizeof(c->s.name));
	c->dev = st.st_dev;
	c->ino = st.st_ino;
	rc = validate(c->s.hdr, c->s.size);
	if (rc == 0)
		rc = dp_shm_resolve(&c->s);
	if (rc != 0)
		goto fail;
	c->generation = c->s.hdr->generation;
	int32_t other = atomic_load_explicit(&c->s.hdr->cp_pid, memory_order_acquire);
	if (other != 0 && other != (int32_t)getpid() && (kill(other, 0) == 0 || errno == EPERM)) {
		rc = -EBUSY;
		goto fail;
	}
	repair_rings(c);

	c->tx_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	c->wake_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->tx_fd < 0 || c->wake_fd < 0) {
		rc = -errno;
		goto fail;
	}
	struct sockaddr_un a;
	socklen_t alen = abstract_addr(&a, c->s.hdr->doorbell_prefix, "cp");
	if (bind(c->wake_fd, (struct sockaddr *)&a, alen) != 0) {
		/* Another consumer holds the doorbell (or a dead one's socket lingers in a
		 * zombie): still usable, we just poll with a timeout instead of being woken. */
		close(c->wake_fd);
		c->wake_fd = -1;
	}
	atomic_store_explicit(&c->s.hdr->cp_pid, (int32_t)getpid(), memory_order_relaxed);
	atomic_fetch_add_explicit(&c->s.hdr->cp_attach_count, 1, memory_order_relaxed);
	atomic_store_explicit(&c->s.hdr->cp_heartbeat_ns, dp_mono_ns(), memory_order_release);
	return 0;

fail:
	if (fd >= 0)
		close(fd);
	cp_shm_detach(c);
	return rc;
}

void cp_shm_detach(struct cp_shm *c)
{
	if (c->s.hdr != NULL) {
		int32_t me = (int32_t)getpid();
		atomic_compare_exchange_strong_explicit(&c->s.hdr->cp_pid, &me, 0,
							memory_order_relaxed, memory_order_relaxed);
		atomic_store_explicit(&c->s.hdr->cp_sleeping, 0, memory_order_relaxed);
		munmap(c->s.hdr, c->s.size);
	}
	if (c->wake_fd >= 0)
		close(c->wake_fd);
	if (c->tx_fd >= 0)
		close(c->tx_fd);
	memset(c, 0, sizeof(*c));
	c->wake_fd = -1;
	c->tx_fd = -1;
}

int cp_shm_check(struct cp_shm *c, uint64_t stale_ns)
{
	struct stat st;
	if (c->s.hdr == NULL)
		return CP_SHM_GONE;
	uint64_t now = dp_mono_ns();
	atomic_store_explicit(&c->s.hdr->cp_heartbeat_ns, now, memory_order_relaxed);
	int fd = shm_open(c->s.name, O_RDONLY, 0);
	if (fd < 0)
		return atomic_load_explicit(&c->s.hdr->dp_state, memory_order_acquire) ==
				       DP_SHM_STATE_STOPPED
			       ? CP_SHM_STOPPED
			       : CP_SHM_GONE;
	int same = fstat(fd, &st) == 0 && st.st_dev == c->dev && st.st_ino == c->ino;
	close(fd);
	if (!same)
		return CP_SHM_RESTARTED;
	if (atomic_load_explicit(&c->s.hdr->dp_state, memory_order_acquire) != DP_SHM_STATE_RUNNING)
		return CP_SHM_STOPPED;
	uint64_t hb = atomic_load_explicit(&c->s.hdr->dp_heartbeat_ns, memory_order_relaxed);
	if (stale_ns != 0 && now > hb && now - hb > stale_ns)
		return CP_SHM_STALE;
	return CP_SHM_OK;
}

unsigned int cp_ingress_dequeue(struct cp_shm *c, unsigned int w, struct dp_ingress_rec *recs,
				unsigned int n)
{
	if (c->s.hdr == NULL || w >= c->s.hdr->n_workers)
		return 0;
	return rte_ring_dequeue_burst_elem(c->s.ingress[w], recs, sizeof(*recs), n, NULL);
}

unsigned int cp_ingress_dequeue_fair(struct cp_shm *c, struct dp_ingress_rec *recs,
				     unsigned int cap, unsigned int *next)
{
	unsigned int nw = c->s.hdr != NULL ? c->s.hdr->n_workers : 0, n = 0;
	if (nw == 0 || cap == 0)
		return 0;
	unsigned int share = cap / nw > 0 ? cap / nw : 1, first = *next % nw;
	for (unsigned int pass = 0; pass < 2 && n < cap; pass++)
		for (unsigned int i = 0; i < nw && n < cap; i++) {
			unsigned int w = (first + i) % nw, room = cap - n;
			n += cp_ingress_dequeue(c, w, recs + n,
						pass == 0 && share < room ? share : room);
		}
	*next = (first + 1) % nw;
	return n;
}

static void ring_worker(struct cp_shm *c, unsigned int w)
{
	if (c->tx_fd < 0 ||
	    atomic_load_explicit(&c->s.workers[w].worker_sleeping, memory_order_seq_cst) == 0)
		return;
	char suffix[16];
	snprintf(suffix, sizeof(suffix), "w%u", w);
	struct sockaddr_un a;
	socklen_t alen = abstract_addr(&a, c->s.hdr->doorbell_prefix, suffix);
	/* Best effort: a full socket buffer already means a pending wake-up. */
	(void)sendto(c->tx_fd, "a", 1, MSG_DONTWAIT, (struct sockaddr *)&a, alen);
}

unsigned int cp_ack_enqueue(struct cp_shm *c, unsigned int w, const struct dp_ack_rec *acks,
			    unsigned int n)
{
	if (c->s.hdr == NULL || w >= c->s.hdr->n_workers || n == 0)
		return 0;
	unsigned int k = rte_ring_enqueue_burst_elem(c->s.ack[w], acks, sizeof(*acks), n, NULL);
	/* seq_cst pairs with the worker's "set sleeping; re-check ring" (Dekker-style): either
	 * it sees our records or we see its flag. */
	atomic_thread_fence(memory_order_seq_cst);
	ring_worker(c, w);
	return k;
}

int cp_ctrl_send(struct cp_shm *c, const struct dp_ctrl_cmd *cmd)
{
	if (c->s.hdr == NULL)
		return -ENOTCONN;
	struct dp_ctrl_cmd copy = *cmd; /* rte_ring_enqueue_elem takes a non-const pointer */
	if (rte_ring_enqueue_elem(c->s.ctrl, &copy, sizeof(copy)) != 0)
		return -ENOBUFS;
	return 0;
}

int cp_ctrl_wait_applied(struct cp_shm *c, uint64_t cookie, int timeout_ms)
{
	uint64_t deadline = dp_mono_ns() + (uint64_t)timeout_ms * 1000000ull;
	while (c->s.hdr != NULL &&
	       atomic_load_explicit(&c->s.hdr->dp_ctrl_last_cookie, memory_order_acquire) < cookie) {
		if (dp_mono_ns() > deadline)
			return -ETIMEDOUT;
		struct timespec ts = {0, 200000};
		nanosleep(&ts, NULL);
	}
	return c->s.hdr != NULL ? 0 : -ETIMEDOUT;
}

unsigned int cp_ingress_pending(const struct cp_shm *c)
{
	unsigned int n = 0;
	if (c->s.hdr == NULL)
		return 0;
	for (unsigned int w = 0; w < c->s.hdr->n_workers; w++)
		n += rte_ring_count(c->s.ingress[w]);
	return n;
}

int cp_wait(struct cp_shm *c, int timeout_ms)
{
	if (c->s.hdr == NULL)
		return 0;
	atomic_store_explicit(&c->s.hdr->cp_sleeping, 1, memory_order_seq_cst);
	int ready = cp_ingress_pending(c) > 0;
	if (!ready) {
		if (c->wake_fd >= 0) {
			struct pollfd p = {.fd = c->wake_fd, .events = POLLIN};
			(void)poll(&p, 1, timeout_ms);
			char buf[64];
			while (recv(c->wake_fd, buf, sizeof(buf), MSG_DONTWAIT) > 0) {
			}
		} else {
			struct timespec ts = {0, 1000000};
			nanosleep(&ts, NULL);
		}
		ready = cp_ingress_pending(c) > 0;
	}
	atomic_store_explicit(&c->s.hdr->cp_sleeping, 0, memory_order_relaxed);
	return ready;
}
