#!/usr/bin/env python3
"""fanout_wss_timeout: on wss the TLS handshake and the upgrade request are bounded by
fanout_header_timeout_ms.

Run under decp-testenv --pg --redis: test_wss_timeout.py SOURCE_ROOT BUILD_ROOT.

docs/fanout.md "Pre-authentication budgets": on wss "a client that completes the handshake
and then sends nothing is closed after fanout_header_timeout_ms". With it at 2,000 ms a raw
TLS 1.3 client (Python's ssl, the set from `decpctl tls init`) that completes the handshake
and sends nothing, and one that sends half of its upgrade request, must be closed within
1.5..3.5 s; a complete upgrade is answered 101 and its session is not cut by that timeout
(a ping 3 s later is answered); a TLS 1.2 client fails the handshake. Before the fix lws's
own timeout_secs (a fixed 10 s) replaced ours after the handshake: both idle clients were
held 10 s, whatever fanout_header_timeout_ms said.
"""
import os, socket, ssl, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rawws import Checks, frame, start_pipeline, stop_pipeline, upgrade_request  # noqa: E402

SRC, BLD = sys.argv[1], sys.argv[2]
PG = os.environ['DECP_PG_CONNINFO']
REDIS = [os.environ['DECP_REDIS_HOST'], os.environ['DECP_REDIS_PORT']]
check = Checks()

ctl, log, port, tokens, run = start_pipeline(BLD, PG, REDIS, ('a',), tls=True,
                                             extra='fanout_header_timeout_ms = 2000\n')


def tls(maxver=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(os.path.join(run, 'ca.crt'))
    if maxver:
        ctx.maximum_version = maxver
    return ctx.wrap_socket(socket.create_connection(('127.0.0.1', port), timeout=15),
                           server_hostname='localhost')


def ended_after(s):
    """Seconds until the server ends the connection (at most 15)."""
    t0 = time.time()
    try:
        while s.recv(4096):
            pass
    except (OSError, ssl.SSLError):
        pass
    return time.time() - t0


try:
    check('decp-control (fanout on wss) listens', port is not None)
    try:
        tls(ssl.TLSVersion.TLSv1_2)
        check('a TLS 1.2 client fails the handshake', False)
    except ssl.SSLError:
        check('a TLS 1.2 client fails the handshake', True)
    idle, half = tls(), tls()
    req = upgrade_request(tokens['a'][0])
    half.sendall(req[:len(req) // 2])
    t = ended_after(idle)
    check(f'handshake, then nothing: closed after {t:.2f} s (1.5..3.5)', 1.5 <= t <= 3.5)
    t = ended_after(half)   # started with the first, so at most as long
    check(f'half a request: closed by then too ({t:.2f} s more)', t <= 1.0)
    ws = tls()
    ws.sendall(req)
    head = ws.recv(4096)
    check('a complete upgrade is answered 101', head.startswith(b'HTTP/1.1 101'))
    time.sleep(3)
    ws.sendall(b'\x89\x82abcd' + bytes(c ^ b'abcd'[i] for i, c in enumerate(b'hi')))
    ws.settimeout(2)
    try:
        got = ws.recv(4096)
    except (OSError, ssl.SSLError):
        got = b''
    check(f'the session outlives the timeout: its ping answered ({got[:4]!r})',
          got[:4] == b'\x8a\x02hi')
finally:
    stop_pipeline(ctl, log, check)
print(f'{check.failed} failed')
sys.exit(1 if check.failed else 0)
