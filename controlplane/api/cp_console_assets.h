/*
 * cp_console_assets: the web console's files, embedded in decp-control at build time
 * (console/embed_console.py generates cp_console_assets.c from controlplane/api/console/),
 * so that an installed api serves the console with no files to deploy.
 */
#ifndef DECP_CP_CONSOLE_ASSETS_H
#define DECP_CP_CONSOLE_ASSETS_H

#include <stddef.h>

struct cp_console_asset {
	const char *path;   /* the request path, "/console/app.js" */
	const char *ctype;  /* Content-Type */
	const char *data;
	size_t len;
};

/* The file served at path, or NULL. */
const struct cp_console_asset *cp_console_asset_find(const char *path);

#endif
