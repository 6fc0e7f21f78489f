/*
 * test_mt5_native: dll_calls against the DLL's C built natively (ASan/UBSan), through the
 * same decp.mqh-generated pointer types: a header/.mqh type mismatch fails to compile.
 *
 * usage: test_mt5_native VECTORS
 */
#include <stdio.h>

#include "decp_dll.h"
#include "dll_calls.h"

int main(int argc, char **argv)
{
	struct decp_fns f;

	if (argc != 2) {
		fprintf(stderr, "usage: test_mt5_native VECTORS\n");
		return 2;
	}
#define DIRECT(n) f.n = n;
	DECP_IMPORTS(DIRECT)
#undef DIRECT
	return dll_calls_run(&f, argv[1]) == 0 ? 0 : 1;
}
