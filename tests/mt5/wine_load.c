/* decp.dll loading for the Windows test programs; contract in wine_load.h. */
#include "wine_load.h"

#include <stdio.h>
#include <wchar.h>
#include <windows.h>

int wine_load_dll(const char *path, struct decp_fns *f)
{
	wchar_t w[1024];
	HMODULE dll;
	int missing = 0;

	if (MultiByteToWideChar(CP_UTF8, 0, path, -1, w, 1024) == 0 ||
	    (dll = LoadLibraryW(w)) == NULL) {
		fprintf(stderr, "FAIL: LoadLibrary(%s): error %lu\n", path, GetLastError());
		return -1;
	}
#define RESOLVE(n)                                                                        \
	f->n = (fn_##n)(void (*)(void))GetProcAddress(dll, #n);                           \
	if (f->n == NULL) {                                                               \
		fprintf(stderr, "FAIL: decp.dll does not export %s\n", #n);               \
		missing++;                                                                \
	}
	DECP_IMPORTS(RESOLVE)
#undef RESOLVE
	return missing == 0 ? 0 : -1;
}
