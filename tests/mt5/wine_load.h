/* wine_load: decp.dll loaded with LoadLibraryW, every export the generated decp.mqh declares
 * resolved with GetProcAddress (Windows programs of tests/mt5 only). */
#ifndef DECP_WINE_LOAD_H
#define DECP_WINE_LOAD_H

#include "dll_calls.h"

/* Returns 0, or -1 after printing what failed (the DLL does not load, an export is missing). */
int wine_load_dll(const char *path, struct decp_fns *f);

#endif
