/*
 * mt5_ea: what tests/mt5's EA programs (wine_e2e, resync_e2e) need around decp.dll, for
 * Windows (Winsock, run under Wine) and natively (POSIX sockets): the wall clock, TCP to
 * loopback with a short receive timeout, an input buffer, hex, and the EA's view of a
 * symbol. What the EA itself does (DLL calls) stays in each program.
 */
#ifndef DECP_MT5_EA_H
#define DECP_MT5_EA_H

#include <stddef.h>
#include <stdint.h>

#ifdef _WIN32
#include <winsock2.h>
typedef SOCKET mt5_sock;
#define MT5_NO_SOCK INVALID_SOCKET
#else
typedef int mt5_sock;
#define MT5_NO_SOCK (-1)
#endif

/* Wall clock, ns since the Unix epoch (what MQL5's TimeGMT + GetMicrosecondCount give). */
int64_t mt5_now_ns(void);
void mt5_sleep_ms(int ms);

/* A TCP connection to host:port whose receives wait at most rcv_ms. MT5_NO_SOCK on
 * failure. (Windows: WSAStartup first.) */
mt5_sock mt5_dial(const char *host, int port, int rcv_ms);
void mt5_close(mt5_sock s);

/* Sends n > 0 bytes. Returns 0, -1 (error, or n <= 0: a failed build of the bytes). */
int mt5_send_all(mt5_sock s, const uint8_t *p, int n);

/* Bytes read and not consumed yet. */
struct mt5_inbuf {
	uint8_t b[1 << 16];
	int n;
};

/* Reads more (waits up to the socket's timeout: 0 with nothing read). Returns -1 on EOF,
 * error or a full buffer. */
int mt5_fill(mt5_sock s, struct mt5_inbuf *in);
void mt5_consume(struct mt5_inbuf *in, int n);

/* 2n hex digits into n bytes. Returns 0, or -1 (length or digit). */
int mt5_unhex(const char *h, uint8_t *out, size_t n);

/* decp_rx_check's view of a symbol quoted at price (bid price - 1, ask price + 1): lots
 * 0.01..100 by 0.01, 10.0000 per pip per lot, wallet and equity 10,000.0000, no
 * position (v[9..11] 0). */
void mt5_view_at(int64_t v[12], int64_t price);

#endif
