/*
 * wine_dll_test (mingw-w64, run under Wine): loads decp.dll with LoadLibraryW, resolves
 * every export the generated decp.mqh declares with GetProcAddress (a missing one fails),
 * and runs dll_calls through those pointers.
 *
 * usage: wine_dll_test.exe DECP_DLL VECTORS
 */
#include <stdio.h>
#include <stdlib.h>
#include <wchar.h>
#include <windows.h>

#include "dll_calls.h"

int main(int argc, char **argv)
{
	struct decp_fns f;
	wchar_t path[1024];
	HMODULE dll;
	int missing = 0;

	if (argc != 3) {
		fprintf(stderr, "usage: wine_dll_test.exe DECP_DLL VECTORS\n");
		return 2;
	}
	if (MultiByteToWideChar(CP_UTF8, 0, argv[1], -1, path, 1024) == 0 ||
	    (dll = LoadLibraryW(path)) == NULL) {
		fprintf(stderr, "LoadLibrary(%s) failed: %lu\n", argv[1], GetLastError());
		printf("0 passed, 1 failed\n");
		return 1;
	}
#define RESOLVE(n)                                                                        \
	f.n = (fn_##n)(void (*)(void))GetProcAddress(dll, #n);                            \
	if (f.n == NULL) {                                                                \
		fprintf(stderr, "FAIL: decp.dll does not export %s\n", #n);               \
		missing++;                                                                \
	}
	DECP_IMPORTS(RESOLVE)
#undef RESOLVE
	if (missing != 0) {
		printf("0 passed, %d failed\n", missing);
		return 1;
	}
	return dll_calls_run(&f, argv[2]) == 0 ? 0 : 1;
}
