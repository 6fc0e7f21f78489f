/* Pass/fail counting of tests/mt5; see mt5_check.h. */
#include "mt5_check.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>

static atomic_int passed, failed;

void mt5_check(int ok, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	if (ok) {
		atomic_fetch_add(&passed, 1);
		return;
	}
	atomic_fetch_add(&failed, 1);
	fprintf(stderr, "FAIL %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int mt5_passed(void)
{
	return atomic_load(&passed);
}

int mt5_failed(void)
{
	return atomic_load(&failed);
}
