/*
 * cp_http: what the control plane's two HTTP/1.1 servers (the api role, controlplane/api;
 * the fan-out's upgrade and polling requests, controlplane/fanout) share. Pure: no I/O, no
 * allocation.
 */
#ifndef DECP_CP_HTTP_H
#define DECP_CP_HTTP_H

#include <stddef.h>

/* The end of an HTTP request head in buf[0..n): the offset just after its blank line (a
 * line feed followed by an empty line, CR LF or a bare LF, RFC 9112 §2.2), 0 when it has
 * not arrived yet. */
size_t cp_http_head_end(const char *buf, size_t n);

/* The reason phrase of a status we send ("Error" for one we never send). */
const char *cp_http_reason(int status);

/*
 * The whole reply that refuses a request and ends the connection: status line, JSON
 * Content-Type and Content-Length, Cache-Control: no-store, `Allow: <allow>` when allow is
 * not NULL (a 405), Connection: close, body {"code": code, "message": message} (both
 * written as given: the callers' own constant texts). Into out (cap bytes); returns its
 * length, 0 when cap is too small.
 */
size_t cp_http_error_reply(int status, const char *code, const char *message, const char *allow,
			   char *out, size_t cap);

#endif
