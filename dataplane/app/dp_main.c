/*
 * decp-dataplane: ingest server. Options (dp_opts; a --config file is first expanded into
 * options by dp_conf) choose the transport: `--stack posix` (kernel sockets, below) or
 * `--stack dpdk` (dpdk/dp_dpdk_app.h), both over the same session layer. The main thread owns the shared-memory segment and the tables: it
 * applies control-ring commands, keeps the heartbeat, and handles SIGTERM (dp_ctrl).
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "dp_conf.h"
#include "dp_ctrl.h"
#include "dp_dpdk_app.h"
#include "dp_opts.h"
#include "dp_posix.h"
#include "dp_shm.h"
#include "dp_tables.h"
#include "dp_tls.h"

/* --stack posix: the epoll transport (dp_posix) under the main thread's control loop. */
static int posix_run(const struct dp_opts *o)
{
	struct dp_shm shm;
	struct dp_tables tables;
	struct dp_posix *stack = NULL;
	struct dp_tls *tls = NULL;
	int rc = 1;

	memset(&shm, 0, sizeof(shm));
	memset(&tables, 0, sizeof(tables));
	const volatile sig_atomic_t *stop = dp_ctrl_signals_install();
	struct dp_shm_params sp;

	dp_opts_shm_params(o, &sp);
	int e = dp_shm_create(&shm, &sp);
	if (e != 0) {
		fprintf(stderr, "decp-dataplane: cannot create shared memory '%s': %s\n", o->shm_name,
			strerror(-e));
		goto fail;
	}
	e = dp_tables_init(&tables, o->max_masters);
	if (e != 0) {
		fprintf(stderr, "decp-dataplane: tables: %s\n", strerror(-e));
		goto fail;
	}
	char terr[512];
	tls = dp_tls_create(&o->tls, terr, sizeof(terr));
	if (tls == NULL && o->tls.mode != DP_TLS_OFF) {
		fprintf(stderr, "decp-dataplane: %s\n", terr);
		goto fail;
	}
	struct dp_posix_cfg pc = {
		.listen_addr = o->listen_addr,
		.listen_port = o->listen_port,
		.n_workers = o->workers,
		.max_conns = o->max_conns,
		.login_fail_burst = o->login_burst,
		.login_fail_refill_ns = (uint64_t)o->login_refill_ms * 1000000ull,
		.tls = tls,
	};
	dp_opts_session_cfg(o, &pc.session);
	stack = dp_posix_start(&pc, &shm, &tables);
	if (stack == NULL)
		goto fail;
	if (o->port_file != NULL) {
		char port[16];
		snprintf(port, sizeof(port), "%u\n", (unsigned int)dp_posix_port(stack));
		e = dp_ctrl_publish_file(o->port_file, port);
		if (e != 0) {
			fprintf(stderr, "decp-dataplane: cannot write %s: %s\n", o->port_file,
				strerror(-e));
			goto fail;
		}
	}
	fprintf(stderr, "decp-dataplane: listening on %s:%u, %u worker(s), shm %s\n",
		o->listen_addr, (unsigned int)dp_posix_port(stack), o->workers, shm.name);
	dp_ctrl_run(&shm, &tables, o->stats_ms, o->cp_stale_ms, "decp-dataplane", stop, dp_tls_hup,
		    tls);
	rc = 0;
fail:
	dp_posix_stop(stack);
	dp_tls_destroy(tls);
	if (shm.hdr != NULL && o->stats_ms != 0)
		dp_ctrl_print_stats(&shm, stderr, "decp-dataplane");
	dp_tables_fini(&tables);
	dp_shm_destroy(&shm);
	return rc;
}

int main(int argc, char **argv)
{
	struct dp_opts o;
	int ac = argc;
	char **av = argv;
	int rc = dp_opts_load(&ac, &av, DP_STACK_NONE, "decp-dataplane", &o);
	if (rc != 0)
		rc = rc > 0 ? 0 : 2; /* --help: 0, usage error: 2 */
	else if (o.stack == DP_STACK_DPDK)
		rc = dp_dpdk_run(&o, ac, av, "decp-dataplane");
	else
		rc = posix_run(&o);
	dp_conf_free(av, argv);
	return rc;
}
