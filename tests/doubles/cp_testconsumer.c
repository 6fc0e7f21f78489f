/*
 * decp-testconsumer: plays decp-control's edge role for tests and benchmarks until the real
 * one exists. Attaches to the dataplane segment (no EAL), loads test credentials
 * (cp_testkeys.h) and each master's last durable sequence through the control ring, sends
 * READY, then drains the ingress rings: a signal is made "durable" by appending a line to
 * --out with write(2) (survives our own SIGKILL: the kernel has the bytes), then ACKed.
 *
 * Dedupe per master, like the idempotent Redis XADD of SPEC §4: seq == last durable + 1 is
 * written and ACKed OK; seq <= last durable is ACKed DUPLICATE and not written again;
 * seq > last durable + 1 (can only follow a lost predecessor, e.g. records dequeued by a
 * consumer that was then killed) is neither written nor ACKed: the master times out,
 * reconnects, and resends from HelloAck's expected sequence.
 * On start the --out file is read back to restore each master's last durable sequence,
 * which is pushed to the dataplane (SET_DURABLE) before READY, as decp-control does from
 * Redis.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cp_shm.h"
#include "cp_testkeys.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

struct tc {
	const char *shm_name;
	const char *seed;
	const char *out_path;
	const char *events_path;
	const char *ready_path;
	uint64_t base;
	uint32_t n_masters;
	uint32_t attach_ms;
	int out_fd;
	int ev_fd;
	uint64_t *durable;       /* per master index */
	uint64_t cookie;
	uint64_t n_written, n_dup, n_ooo, n_unknown, n_events, n_acks, n_reattach, n_positions;
	struct cp_shm c;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: decp-testconsumer --shm NAME --masters N [options]\n"
		"\n"
		"Test stand-in for decp-control's edge role: loads test credentials into the\n"
		"dataplane, drains the ingress rings, appends durable signals to --out, ACKs them.\n"
		"\n"
		"  --shm NAME            dataplane segment\n"
		"  --masters N           master ids BASE..BASE+N-1 get credentials\n"
		"  --master-base B       first master id (default 1)\n"
		"  --key-seed S          credential seed (default \"decp-test\"), see cp_testkeys.h\n"
		"  --out FILE            durable log, one line \"master seq arrival_ns\" per signal;\n"
		"                        read back at start to restore last durable sequences\n"
		"  --events FILE         protection events, one line \"reason master seq\"\n"
		"  --attach-timeout-ms MS  wait this long for the segment and for the dataplane to\n"
		"                          apply the tables, at start and after a restart (default 60000)\n"
		"  --ready-file FILE     created once the dataplane has applied READY\n"
		"  --help\n"
		"SIGSTOP/SIGCONT pause it (rings fill: masters get Nack BUSY); SIGTERM stops it and\n"
		"prints a summary line on stderr.\n");
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t k = write(fd, p, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

static int restore_durable(struct tc *t)
{
	FILE *f = fopen(t->out_path, "r");
	if (f == NULL)
		return errno == ENOENT ? 0 : -1;
	unsigned long long m, s, a;
	while (fscanf(f, "%llu %llu %llu", &m, &s, &a) == 3) {
		if (m >= t->base && m - t->base < t->n_masters && s > t->durable[m - t->base])
			t->durable[m - t->base] = s;
	}
	fclose(f);
	return 0;
}

static int send_cmd(struct tc *t, struct dp_ctrl_cmd *cmd)
{
	cmd->cookie = ++t->cookie;
	for (int tries = 0; tries < 5000; tries++) {
		int rc = cp_ctrl_send(&t->c, cmd);
		if (rc != -ENOBUFS)
			return rc;
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
	}
	return -ETIMEDOUT;
}

static int load_dataplane(struct tc *t)
{
	for (uint32_t i = 0; i < t->n_masters; i++) {
		struct cp_testkeys k;
		struct dp_ctrl_cmd cmds[3];
		if (cp_testkeys_derive(t->seed, t->base + i, &k) != 0)
			return -EIO;
		cp_testkeys_commands(&k, t->base + i, t->durable[i], cmds);
		for (int j = 0; j < 3; j++)
			if (send_cmd(t, &cmds[j]) != 0)
				return -EIO;
	}
	struct dp_ctrl_cmd ready;
	memset(&ready, 0, sizeof(ready));
	ready.type = DP_CTRL_READY;
	if (send_cmd(t, &ready) != 0)
		return -EIO;
	return cp_ctrl_wait_applied(&t->c, t->cookie, 10000);
}

/* Attach and load the dataplane's tables. A dataplane that is still starting (or starved
 * of CPU on a loaded machine) may not apply the commands in time: then detach and try again
 * until --attach-timeout-ms has passed, as decp-control does. */
static int attach(struct tc *t)
{
	uint64_t deadline = dp_mono_ns() + (uint64_t)t->attach_ms * 1000000ull;
	for (;;) {
		int rc = cp_shm_attach(&t->c, t->shm_name);
		if (rc == 0) {
			t->cookie = atomic_load(&t->c.s.hdr->dp_ctrl_last_cookie);
			rc = load_dataplane(t);
			if (rc == 0)
				return 0;
			cp_shm_detach(&t->c);
			if (dp_mono_ns() > deadline || stop_requested) {
				fprintf(stderr, "decp-testconsumer: loading credentials failed: %s\n",
					strerror(-rc));
				return rc;
			}
			fprintf(stderr, "decp-testconsumer: loading credentials: %s, again\n",
				strerror(-rc));
			continue;
		}
		if (rc == -EPROTO) {
			fprintf(stderr, "decp-testconsumer: segment %s has a different layout "
					"(another build?)\n", t->shm_name);
			return rc;
		}
		if (dp_mono_ns() > deadline || stop_requested) {
			fprintf(stderr, "decp-testconsumer: cannot attach %s: %s\n", t->shm_name,
				strerror(-rc));
			return rc;
		}
		struct timespec ts = {0, 5000000};
		nanosleep(&ts, NULL);
	}
}

static int drain_worker(struct tc *t, unsigned int w)
{
	struct dp_ingress_rec recs[64];
	struct dp_ack_rec acks[64];
	char buf[64 * 64];
	size_t blen = 0;
	char evbuf[64 * 96];
	size_t elen = 0;
	unsigned int na = 0;

	unsigned int n = cp_ingress_dequeue(&t->c, w, recs, 64);
	for (unsigned int i = 0; i < n; i++) {
		const struct dp_ingress_rec *r = &recs[i];
		if (r->kind == DP_REC_PROTECTION) {
			t->n_events++;
			int k = snprintf(evbuf + elen, sizeof(evbuf) - elen, "%s %" PRIu64 " %" PRIu64 "\n",
					 dp_reason_name(r->reason), r->master_id, r->sequence);
			if (k > 0 && (size_t)k < sizeof(evbuf) - elen)
				elen += (size_t)k;
			continue;
		}
		if (r->kind != DP_REC_SIGNAL) {
			/* a positions part (or a login record): never ACKed, as the edge does not
			 * (docs/protocol.md: a valid part is never answered) */
			t->n_positions += r->kind == DP_REC_POSITIONS;
			continue;
		}
		if (r->master_id < t->base || r->master_id - t->base >= t->n_masters) {
			t->n_unknown++;
			continue;
		}
		uint64_t *d = &t->durable[r->master_id - t->base];
		uint32_t status;
		if (r->sequence == *d + 1) {
			int k = snprintf(buf + blen, sizeof(buf) - blen, "%" PRIu64 " %" PRIu64 " %" PRId64 "\n",
					 r->master_id, r->sequence, r->arrival_ns);
			if (k > 0 && (size_t)k < sizeof(buf) - blen)
				blen += (size_t)k;
			*d = r->sequence;
			status = DP_ACK_OK;
			t->n_written++;
		} else if (r->sequence <= *d) {
			status = DP_ACK_DUPLICATE;
			t->n_dup++;
		} else {
			t->n_ooo++;
			continue;
		}
		cp_ack_for(&acks[na++], r, status);
	}
	/* Durable first (write), ACK second: an ACKed signal is never lost. */
	if (blen > 0 && t->out_fd >= 0 && write_all(t->out_fd, buf, blen) != 0) {
		fprintf(stderr, "decp-testconsumer: write %s: %s\n", t->out_path, strerror(errno));
		return -1;
	}
	if (elen > 0 && t->ev_fd >= 0)
		(void)write_all(t->ev_fd, evbuf, elen);
	unsigned int sent = 0;
	while (sent < na && !stop_requested) {
		sent += cp_ack_enqueue(&t->c, w, acks + sent, na - sent);
		if (sent < na) {
			struct timespec ts = {0, 100000};
			nanosleep(&ts, NULL);
		}
	}
	t->n_acks += sent;
	return (int)n;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{"shm", required_argument, NULL, 's'},
		{"masters", required_argument, NULL, 'n'},
		{"master-base", required_argument, NULL, 'b'},
		{"key-seed", required_argument, NULL, 'k'},
		{"out", required_argument, NULL, 'o'},
		{"events", required_argument, NULL, 'e'},
		{"attach-timeout-ms", required_argument, NULL, 'a'},
		{"ready-file", required_argument, NULL, 'r'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct tc t;
	memset(&t, 0, sizeof(t));
	t.seed = "decp-test";
	t.base = 1;
	t.attach_ms = 60000;
	t.out_fd = t.ev_fd = -1;
	int c;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		char *end = NULL;
		switch (c) {
		case 's': t.shm_name = optarg; break;
		case 'n': t.n_masters = (uint32_t)strtoul(optarg, &end, 10); break;
		case 'b': t.base = strtoull(optarg, &end, 10); break;
		case 'k': t.seed = optarg; break;
		case 'o': t.out_path = optarg; break;
		case 'e': t.events_path = optarg; break;
		case 'r': t.ready_path = optarg; break;
		case 'a': t.attach_ms = (uint32_t)strtoul(optarg, &end, 10); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
		if (end != NULL && (*end != '\0' || end == optarg)) {
			fprintf(stderr, "decp-testconsumer: '%s' is not a number\n", optarg);
			return 2;
		}
	}
	if (t.shm_name == NULL || t.n_masters == 0 || t.n_masters > 10000000 || t.base == 0) {
		fprintf(stderr, "decp-testconsumer: --shm and --masters N (>= 1) are required, "
				"--master-base >= 1 (see --help)\n");
		return 2;
	}
	t.durable = calloc(t.n_masters, sizeof(uint64_t));
	if (t.durable == NULL)
		return 1;
	if (t.out_path != NULL) {
		if (restore_durable(&t) != 0) {
			fprintf(stderr, "decp-testconsumer: read %s: %s\n", t.out_path, strerror(errno));
			return 1;
		}
		t.out_fd = open(t.out_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (t.out_fd < 0) {
			fprintf(stderr, "decp-testconsumer: open %s: %s\n", t.out_path, strerror(errno));
			return 1;
		}
	}
	if (t.events_path != NULL) {
		t.ev_fd = open(t.events_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (t.ev_fd < 0) {
			fprintf(stderr, "decp-testconsumer: open %s: %s\n", t.events_path,
				strerror(errno));
			return 1;
		}
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	int rc = 1;
	if (attach(&t) != 0)
		goto out;
	if (t.ready_path != NULL) {
		FILE *rf = fopen(t.ready_path, "w");
		if (rf == NULL || fclose(rf) != 0) {
			fprintf(stderr, "decp-testconsumer: cannot create %s: %s\n", t.ready_path,
				strerror(errno));
			goto out;
		}
	}
	uint64_t next_check = dp_mono_ns() + 100000000ull;
	while (!stop_requested) {
		int got = 0;
		for (unsigned int w = 0; w < t.c.s.hdr->n_workers; w++) {
			int n = drain_worker(&t, w);
			if (n < 0)
				goto out;
			got += n;
		}
		if (got == 0)
			cp_wait(&t.c, 10);
		uint64_t now = dp_mono_ns();
		if (now >= next_check) {
			next_check = now + 100000000ull;
			int h = cp_shm_check(&t.c, 3000000000ull);
			if (h != CP_SHM_OK) {
				fprintf(stderr, "decp-testconsumer: dataplane %s, re-attaching\n",
					h == CP_SHM_RESTARTED ? "restarted" : h == CP_SHM_STOPPED ? "stopped"
					: h == CP_SHM_STALE ? "hung" : "gone");
				cp_shm_detach(&t.c);
				t.n_reattach++;
				if (attach(&t) != 0)
					goto out;
			}
		}
	}
	rc = 0;
out:
	fprintf(stderr,
		"decp-testconsumer: written=%" PRIu64 " duplicate=%" PRIu64 " out_of_order=%" PRIu64
		" unknown=%" PRIu64 " events=%" PRIu64 " acks=%" PRIu64 " reattach=%" PRIu64
		" positions=%" PRIu64 "\n",
		t.n_written, t.n_dup, t.n_ooo, t.n_unknown, t.n_events, t.n_acks, t.n_reattach,
		t.n_positions);
	cp_shm_detach(&t.c);
	if (t.out_fd >= 0)
		close(t.out_fd);
	if (t.ev_fd >= 0)
		close(t.ev_fd);
	free(t.durable);
	return rc;
}
