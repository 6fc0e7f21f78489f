/* cp_http: HTTP/1.1 pieces the api and the fan-out share. Contract in cp_http.h. */
#include "cp_http.h"

#include <stdio.h>

size_t cp_http_head_end(const char *buf, size_t n)
{
	for (size_t i = 0; i + 1 < n; i++) {
		if (buf[i] != '\n')
			continue;
		if (buf[i + 1] == '\n')
			return i + 2;
		if (i + 2 < n && buf[i + 1] == '\r' && buf[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

const char *cp_http_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 422: return "Unprocessable Content";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	default: return "Error";
	}
}

size_t cp_http_error_reply(int status, const char *code, const char *message, const char *allow,
			   char *out, size_t cap)
{
	char body[512];
	int bl = snprintf(body, sizeof(body), "{\"code\":\"%s\",\"message\":\"%s\"}\n", code,
			  message);
	int n;

	if (bl < 0 || (size_t)bl >= sizeof(body))
		return 0;
	n = snprintf(out, cap, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
		     "Content-Length: %d\r\nCache-Control: no-store\r\n%s%s%sConnection: close\r\n"
		     "\r\n%s", status, cp_http_reason(status), bl, allow ? "Allow: " : "",
		     allow ? allow : "", allow ? "\r\n" : "", body);
	return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}
