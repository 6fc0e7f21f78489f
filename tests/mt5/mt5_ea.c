/* mt5_ea: the EA programs' platform helpers. Contract in mt5_ea.h. */
#include "mt5_ea.h"

#include <stdio.h>
#include <string.h>

#ifdef _WIN32
#include <windows.h>
#else
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#endif

int64_t mt5_now_ns(void)
{
#ifdef _WIN32
	FILETIME ft;
	ULARGE_INTEGER u;

	GetSystemTimePreciseAsFileTime(&ft);
	u.LowPart = ft.dwLowDateTime;
	u.HighPart = ft.dwHighDateTime;
	return ((int64_t)u.QuadPart - INT64_C(116444736000000000)) * 100;
#else
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
#endif
}

void mt5_sleep_ms(int ms)
{
#ifdef _WIN32
	Sleep((DWORD)ms);
#else
	usleep((useconds_t)ms * 1000);
#endif
}

void mt5_close(mt5_sock s)
{
#ifdef _WIN32
	closesocket(s);
#else
	close(s);
#endif
}

mt5_sock mt5_dial(const char *host, int port, int rcv_ms)
{
	mt5_sock s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
	struct sockaddr_in a;
#ifdef _WIN32
	DWORD tmo = (DWORD)rcv_ms;
#else
	struct timeval tmo = { rcv_ms / 1000, (rcv_ms % 1000) * 1000 };
#endif

	if (s == MT5_NO_SOCK)
		return s;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((unsigned short)port);
	a.sin_addr.s_addr = inet_addr(host);
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, (const char *)&tmo, sizeof(tmo));
	if (connect(s, (struct sockaddr *)&a, sizeof(a)) != 0) {
		mt5_close(s);
		return MT5_NO_SOCK;
	}
	return s;
}

int mt5_send_all(mt5_sock s, const uint8_t *p, int n)
{
	if (n <= 0)
		return -1;
	while (n > 0) {
		int k = (int)send(s, (const char *)p, n, 0);

		if (k <= 0)
			return -1;
		p += k;
		n -= k;
	}
	return 0;
}

int mt5_fill(mt5_sock s, struct mt5_inbuf *in)
{
	int k;

	if (in->n == (int)sizeof(in->b))
		return -1;
	k = (int)recv(s, (char *)in->b + in->n, (int)sizeof(in->b) - in->n, 0);
	if (k > 0) {
		in->n += k;
		return 0;
	}
#ifdef _WIN32
	return k == SOCKET_ERROR && WSAGetLastError() == WSAETIMEDOUT ? 0 : -1;
#else
	return k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
#endif
}

void mt5_consume(struct mt5_inbuf *in, int n)
{
	memmove(in->b, in->b + n, (size_t)(in->n - n));
	in->n -= n;
}

int mt5_unhex(const char *h, uint8_t *out, size_t n)
{
	if (strlen(h) != 2 * n)
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned v;

		if (sscanf(h + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (uint8_t)v;
	}
	return 0;
}

void mt5_view_at(int64_t v[12], int64_t price)
{
	memset(v, 0, 12 * sizeof(*v));
	v[0] = price - 1;
	v[1] = price + 1;
	v[2] = 1;
	v[3] = 10000;
	v[4] = 1;
	v[5] = 100000;
	v[6] = INT64_C(100000000);
	v[8] = INT64_C(100000000);
}
