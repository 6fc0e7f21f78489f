/*
 * cp_http: what the control plane's two HTTP/1.1 servers (the api role, controlplane/api;
 * the fan-out's upgrade and polling requests, controlplane/fanout) share: finding the end
 * of a request head, walking its request line and header lines (every reader of a head
 * goes through these, so a line one server refuses is not read differently by another),
 * and the refusal reply. Pure: no I/O, no allocation.
 */
#ifndef DECP_CP_HTTP_H
#define DECP_CP_HTTP_H

#include <stdbool.h>
#include <stddef.h>

/* The end of an HTTP request head in buf[0..n): the offset just after its blank line (a
 * line feed followed by an empty line, CR LF or a bare LF, RFC 9112 §2.2), 0 when it has
 * not arrived yet. */
size_t cp_http_head_end(const char *buf, size_t n);

/* Is p[0..n) well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing above
 * U+10FFFF)? What PostgreSQL takes as text (NUL aside) and what RFC 6455 asks of text
 * messages and close reasons (cp_ws_utf8_valid). */
bool cp_utf8_valid(const unsigned char *p, size_t n);

/* ---------------------------------------------------------------- reading a head */

/* The request line, split at its first two spaces (pointers into the head). */
struct cp_http_line {
	const char *method, *target, *version;
	size_t method_len, target_len, version_len;
};

/* The head's first line (head[0..len), without its CR LF) into *l. false when it holds
 * fewer than two spaces; nothing else is checked (each server has its own rules). */
bool cp_http_line(const char *head, size_t len, struct cp_http_line *l);

/* One header line: the name as sent, the value without surrounding SP / HTAB. */
struct cp_http_field {
	const char *name, *value;
	size_t name_len, value_len;
};

/* The header lines of a head, in order. */
struct cp_http_fields {
	const char *p, *end;
};

/* Start at the line after the request line of head[0..len). */
void cp_http_fields_init(struct cp_http_fields *it, const char *head, size_t len);

/*
 * The next header line. Returns 1 with *f set; 0 at the blank line that ends the head (or
 * its end); -1 for a line no server of ours accepts, with *why (static text): obsolete
 * line folding (a line starting with SP or HTAB), no colon, or a name that is empty or
 * not a token (RFC 9110 §5.6.2). The iterator stays on a malformed line.
 */
int cp_http_field_next(struct cp_http_fields *it, struct cp_http_field *f, const char **why);

/* f's name equals lit, ignoring case. */
bool cp_http_field_is(const struct cp_http_field *f, const char *lit);

/* Does the comma-separated list v[0..n) hold token tok (ignoring case and the SP / HTAB
 * around each element)? ("Connection: keep-alive, Upgrade") */
bool cp_http_list_has(const char *v, size_t n, const char *tok);

/* The same, the token compared exactly (a WebSocket subprotocol: RFC 6455 §4.2.2). */
bool cp_http_list_has_exact(const char *v, size_t n, const char *tok);

/*
 * RFC 9112 §3.2, the Host rule every server of ours applies to a request head (head[0..len),
 * its header lines well formed: cp_http_field_next): more than one Host header line, or a
 * Host value that is not uri-host [":" port] (RFC 3986 §3.2.2: empty, or a byte outside
 * unreserved, pct-encoded, sub-delims, ':', '[' and ']'), and, when http11, no Host at
 * all. Returns NULL when the head passes, else why (static text) for the 400 that RFC
 * 9112 asks for. An HTTP/1.0 request may lack Host (1.0 had none).
 */
const char *cp_http_host_refusal(const char *head, size_t len, bool http11);

/* RFC 9110 §5.6.2 tchar: a byte of a method or a header name. */
bool cp_http_is_tchar(unsigned char c);

/* ---------------------------------------------------------------- answering */

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
