/* dp_shm: segment layout and creation. Contract in dp_shm.h. */
#include "dp_shm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <rte_ring.h>
#include <rte_ring_elem.h>

_Static_assert(sizeof(struct dp_ingress_rec) == 512, "ingress record is 512 bytes");
_Static_assert(sizeof(struct dp_ack_rec) == 48, "ack record is 48 bytes");
_Static_assert(sizeof(struct dp_ctrl_cmd) == 128, "control command is 128 bytes");
_Static_assert(sizeof(struct dp_ingress_rec) % 4 == 0, "rte_ring elements are 4-byte multiples");

static const char *const counter_names[DP_CTR_COUNT] = {
	[DP_REASON_NONE] = "none",
#define DP_X(n, s) [DP_REASON_##n] = "reject_" s,
	DP_REASON_LIST(DP_X)
#undef DP_X
#define DP_X(n, s) [DP_CTR_##n] = s,
	DP_COUNTER_LIST(DP_X)
#undef DP_X
};

static const char *const reason_names[DP_REASON_COUNT] = {
	[DP_REASON_NONE] = "none",
#define DP_X(n, s) [DP_REASON_##n] = s,
	DP_REASON_LIST(DP_X)
#undef DP_X
};

const char *dp_counter_name(unsigned int ctr)
{
	return ctr < DP_CTR_COUNT && counter_names[ctr] != NULL ? counter_names[ctr] : "?";
}

const char *dp_reason_name(unsigned int reason)
{
	return reason < DP_REASON_COUNT ? reason_names[reason] : "?";
}

uint64_t dp_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int64_t dp_wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000ll + (int64_t)ts.tv_nsec;
}

static uint32_t pow2_up(uint32_t v)
{
	uint32_t p = 8;
	while (p < v && p < (1u << 30))
		p <<= 1;
	return p;
}

static uint64_t align_up(uint64_t v)
{
	return (v + DP_CACHE_LINE - 1) & ~(uint64_t)(DP_CACHE_LINE - 1);
}

/* A transport counter name: 1..DP_XCTR_NAME_LEN-1 characters of [a-z0-9_]. */
static bool xctr_name_ok(const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0;
	if (n == 0 || n >= DP_XCTR_NAME_LEN)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	return true;
}

int dp_shm_layout(const struct dp_shm_params *p, struct dp_shm_hdr *h)
{
	if (p == NULL || h == NULL || p->n_workers == 0 || p->n_workers > DP_SHM_MAX_WORKERS ||
	    p->n_xctr > DP_XCTR_MAX || (p->n_xctr > 0 && p->xctr_names == NULL))
		return -EINVAL;
	for (uint32_t i = 0; i < p->n_xctr; i++) {
		if (!xctr_name_ok(p->xctr_names[i]))
			return -EINVAL;
		memcpy(h->xctr_names[i], p->xctr_names[i], strlen(p->xctr_names[i]) + 1);
	}
	h->xctr_count = p->n_xctr;
	h->layout_version = DP_SHM_LAYOUT_VERSION;
	h->hdr_size = sizeof(*h);
	h->n_workers = p->n_workers;
	h->ingress_entries = pow2_up(p->ingress_entries);
	h->ack_entries = pow2_up(p->ack_entries);
	h->ctrl_entries = pow2_up(p->ctrl_entries);
	h->ingress_elem_size = sizeof(struct dp_ingress_rec);
	h->ack_elem_size = sizeof(struct dp_ack_rec);
	h->ctrl_elem_size = sizeof(struct dp_ctrl_cmd);
	h->stats_size = sizeof(struct dp_stats);
	h->counter_count = DP_CTR_COUNT;
	h->hist_buckets = DP_HIST_BUCKETS;
	h->max_body = DP_BODY_MAX;

	/* rte_ring holds count - 1 elements (count a power of two). */
	ssize_t in_sz = rte_ring_get_memsize_elem(h->ingress_elem_size, h->ingress_entries);
	ssize_t ack_sz = rte_ring_get_memsize_elem(h->ack_elem_size, h->ack_entries);
	ssize_t ctrl_sz = rte_ring_get_memsize_elem(h->ctrl_elem_size, h->ctrl_entries);
	if (in_sz < 0 || ack_sz < 0 || ctrl_sz < 0)
		return -EINVAL;
	uint64_t off = align_up(sizeof(*h));
	h->off_workers = off;
	off = align_up(off + (uint64_t)p->n_workers * sizeof(struct dp_shm_worker));
	h->off_stats = off;
	off = align_up(off + (uint64_t)p->n_workers * sizeof(struct dp_stats));
	h->off_ctrl = off;
	off = align_up(off + (uint64_t)ctrl_sz);
	for (uint32_t i = 0; i < p->n_workers; i++) {
		h->off_ingress[i] = off;
		off = align_up(off + (uint64_t)in_sz);
		h->off_ack[i] = off;
		off = align_up(off + (uint64_t)ack_sz);
	}
	if (off > (4ull << 30))
		return -E2BIG;
	h->total_size = off;
	return 0;
}

int dp_shm_resolve(struct dp_shm *shm)
{
	struct dp_shm_hdr *h = shm->hdr;
	uint8_t *base = (uint8_t *)h;
	if (h->n_workers == 0 || h->n_workers > DP_SHM_MAX_WORKERS || h->total_size > shm->size)
		return -EPROTO;
	uint64_t offs[2 + 2 * DP_SHM_MAX_WORKERS];
	unsigned int n = 0;
	offs[n++] = h->off_stats;
	offs[n++] = h->off_ctrl;
	for (uint32_t i = 0; i < h->n_workers; i++) {
		offs[n++] = h->off_ingress[i];
		offs[n++] = h->off_ack[i];
	}
	for (unsigned int i = 0; i < n; i++)
		if (offs[i] < sizeof(*h) || offs[i] >= h->total_size || offs[i] % DP_CACHE_LINE != 0)
			return -EPROTO;
	shm->workers = (struct dp_shm_worker *)(base + h->off_workers);
	shm->stats = (struct dp_stats *)(base + h->off_stats);
	shm->ctrl = (struct rte_ring *)(base + h->off_ctrl);
	for (uint32_t i = 0; i < h->n_workers; i++) {
		shm->ingress[i] = (struct rte_ring *)(base + h->off_ingress[i]);
		shm->ack[i] = (struct rte_ring *)(base + h->off_ack[i]);
	}
	return 0;
}

static bool name_char_ok(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '.' || ch == '_' || ch == '-';
}

int dp_shm_name_fix(char *out, size_t cap, const char *name)
{
	if (name == NULL)
		return -EINVAL;
	const char *s = name[0] == '/' ? name + 1 : name;
	size_t n = strlen(s);
	if (n == 0 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!name_char_ok(s[i]))
			return -EINVAL;
	if (n + 1 > DP_SHM_NAME_MAX || (out != NULL && n + 2 > cap))
		return -ENAMETOOLONG;
	if (out != NULL)
		snprintf(out, cap, "/%s", s);
	return 0;
}

int dp_shm_create(struct dp_shm *shm, const struct dp_shm_params *p)
{
	struct dp_shm_hdr lay;
	int fd = -1;
	int rc;

	memset(shm, 0, sizeof(*shm));
	memset(&lay, 0, sizeof(lay));
	rc = dp_shm_layout(p, &lay);
	if (rc != 0)
		return rc;
	rc = dp_shm_name_fix(shm->name, sizeof(shm->name), p->name);
	if (rc != 0)
		return rc;
	/* A previous instance's object is never reused: a fresh inode is how the control side
	 * notices the restart even if it missed the STOPPED state (crash). */
	shm_unlink(shm->name);
	fd = shm_open(shm->name, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)lay.total_size) != 0) {
		rc = -errno;
		goto fail;
	}
	void *m = mmap(NULL, lay.total_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED) {
		rc = -errno;
		goto fail;
	}
	close(fd);
	fd = -1;
	shm->hdr = m;
	shm->size = lay.total_size;

	struct dp_shm_hdr *h = shm->hdr;
	/* Copy the layout field by field: the atomics stay zero until published. */
	h->layout_version = lay.layout_version;
	h->hdr_size = lay.hdr_size;
	h->total_size = lay.total_size;
	h->generation = dp_wall_ns();
	h->n_workers = lay.n_workers;
	h->ingress_entries = lay.ingress_entries;
	h->ack_entries = lay.ack_entries;
	h->ctrl_entries = lay.ctrl_entries;
	h->ingress_elem_size = lay.ingress_elem_size;
	h->ack_elem_size = lay.ack_elem_size;
	h->ctrl_elem_size = lay.ctrl_elem_size;
	h->stats_size = lay.stats_size;
	h->counter_count = lay.counter_count;
	h->hist_buckets = lay.hist_buckets;
	h->max_body = lay.max_body;
	h->dp_pid = (int32_t)getpid();
	h->off_workers = lay.off_workers;
	h->off_stats = lay.off_stats;
	h->off_ctrl = lay.off_ctrl;
	memcpy(h->off_ingress, lay.off_ingress, sizeof(h->off_ingress));
	memcpy(h->off_ack, lay.off_ack, sizeof(h->off_ack));
	h->xctr_count = lay.xctr_count;
	memcpy(h->xctr_names, lay.xctr_names, sizeof(h->xctr_names));
	snprintf(h->doorbell_prefix, sizeof(h->doorbell_prefix), "decp%s-%llx-",
		 shm->name, (unsigned long long)h->generation);
	rc = dp_shm_resolve(shm);
	if (rc != 0)
		goto fail_unmap;

	/* Every ring is single-producer/single-consumer: one worker and the one attached control
	 * process. Not multi-producer on purpose: a multi-producer rte_ring whose producer dies
	 * between reserving and publishing its slots blocks every later producer forever
	 * (they wait for the dead one's tail update). With SP/SC a new control process repairs
	 * the half-done operation of a dead one at attach (cp_shm_attach). */
	rc = rte_ring_init(shm->ctrl, "decp-ctrl", h->ctrl_entries, RING_F_SP_ENQ | RING_F_SC_DEQ);
	for (uint32_t i = 0; rc == 0 && i < h->n_workers; i++) {
		rc = rte_ring_init(shm->ingress[i], "decp-in", h->ingress_entries,
				   RING_F_SP_ENQ | RING_F_SC_DEQ);
		if (rc == 0)
			rc = rte_ring_init(shm->ack[i], "decp-ack", h->ack_entries,
					   RING_F_SP_ENQ | RING_F_SC_DEQ);
	}
	if (rc != 0)
		goto fail_unmap;
	atomic_store_explicit(&h->dp_state, DP_SHM_STATE_RUNNING, memory_order_relaxed);
	atomic_store_explicit(&h->dp_heartbeat_ns, dp_mono_ns(), memory_order_relaxed);
	/* Publish: an attacher that sees the magic (acquire) sees the whole layout. */
	atomic_store_explicit(&h->magic, DP_SHM_MAGIC, memory_order_release);
	return 0;

fail_unmap:
	munmap(shm->hdr, shm->size);
	shm->hdr = NULL;
fail:
	if (fd >= 0)
		close(fd);
	shm_unlink(shm->name);
	return rc;
}

void dp_shm_destroy(struct dp_shm *shm)
{
	if (shm->hdr != NULL) {
		atomic_store_explicit(&shm->hdr->dp_state, DP_SHM_STATE_STOPPED, memory_order_release);
		munmap(shm->hdr, shm->size);
		shm->hdr = NULL;
		shm_unlink(shm->name);
	}
}
