/*
 * dll_calls: the decp.dll test body, shared by the Wine program (exports resolved with
 * LoadLibrary/GetProcAddress) and the native ASan program (the same C linked directly).
 * Every call goes through struct decp_fns, whose pointer types are generated FROM decp.mqh
 * (gen_mqh.py cimports): the test calls each export exactly as MQL5 declares it.
 */
#ifndef DECP_DLL_CALLS_H
#define DECP_DLL_CALLS_H

#include "decp_imports.h"

struct decp_fns {
#define DECP_FN_FIELD(n) fn_##n n;
	DECP_IMPORTS(DECP_FN_FIELD)
#undef DECP_FN_FIELD
};

/* Runs every check with the reference vectors of mt5_vectors (file path). Prints failures
 * and "N passed, N failed" last. Returns the number of failures. */
int dll_calls_run(const struct decp_fns *f, const char *vectors_path);

#endif
