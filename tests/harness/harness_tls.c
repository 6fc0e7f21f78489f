/* harness_tls: a test's own certificate set (harness.h), made as `decpctl tls init` makes
 * one (ctl_certs_init_dir), so tests serve and verify the same kind of certificates. */
#include "harness.h"

#include <stdio.h>

#include "ctl_certs.h"

int harness_tls_certs(const char *dir)
{
	struct ctl_cert_req srv = {.kind = CTL_CERT_SERVER, .cn = "decp-test", .days = 2};
	char err[512];

	if (ctl_certs_init_dir(dir, &srv, 2, true, NULL, NULL, err, sizeof(err)) != 0) {
		fprintf(stderr, "harness_tls_certs: %s: %s\n", dir, err);
		return -1;
	}
	return 0;
}
