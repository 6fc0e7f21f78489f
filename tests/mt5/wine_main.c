/*
 * wine_dll_test (mingw-w64, run under Wine): loads decp.dll (wine_load: LoadLibraryW, every
 * export the generated decp.mqh declares) and runs dll_calls through those pointers.
 *
 * usage: wine_dll_test.exe DECP_DLL VECTORS
 */
#include <stdio.h>

#include "wine_load.h"

int main(int argc, char **argv)
{
	struct decp_fns f;

	if (argc != 3) {
		fprintf(stderr, "usage: wine_dll_test.exe DECP_DLL VECTORS\n");
		return 2;
	}
	if (wine_load_dll(argv[1], &f) != 0) {
		printf("0 passed, 1 failed\n");
		return 1;
	}
	return dll_calls_run(&f, argv[2]) == 0 ? 0 : 1;
}
