#!/usr/bin/env python3
"""fanout_subprotocol: the optional subprotocol `decp` is confirmed in the 101.

Run under decp-testenv --pg --redis: test_subprotocol.py SOURCE_ROOT BUILD_ROOT.

docs/fanout.md "Protocol": "Subprotocol `decp` (optional)". A client that offers
subprotocols fails a 101 naming none: the npm `ws` package ("Server sent no subprotocol"),
and browsers (the WHATWG WebSocket standard). So an upgrade offering `decp` (alone, in a
list, in a second Sec-WebSocket-Protocol header) must be answered with
`Sec-WebSocket-Protocol: decp`, and one that offers other subprotocols only, or none, with
no such header (RFC 6455 §4.2.2: only a value the client sent). The session then works (a
Subscribe is answered). Before the fix the 101 never named it: a client that followed the
documentation and offered `decp` could not connect.
"""
import os, socket, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rawws import (WS, Checks, frame, start_pipeline, stop_pipeline, subscribe,  # noqa: E402
                   upgrade_request)

SRC, BLD = sys.argv[1], sys.argv[2]
PG = os.environ['DECP_PG_CONNINFO']
REDIS = [os.environ['DECP_REDIS_HOST'], os.environ['DECP_REDIS_PORT']]
check = Checks()
ctl, log, port, tokens, run = start_pipeline(BLD, PG, REDIS, ('a',))


def head(extra):
    """The 101's head lines (lower case) for an upgrade with `extra` header lines, and the
    socket, its session open."""
    s = socket.create_connection(('127.0.0.1', port), timeout=5)
    s.sendall(upgrade_request(tokens['a'][0]).replace(b'\r\n\r\n', b'\r\n' + extra + b'\r\n'))
    b = b''
    while b'\r\n\r\n' not in b:
        d = s.recv(4096)
        if not d:
            break
        b += d
    return b.split(b'\r\n\r\n')[0].decode().lower().split('\r\n'), s


try:
    check('decp-control (fanout) listens', port is not None)
    for offer, want in [(b'Sec-WebSocket-Protocol: decp\r\n', True),
                        (b'Sec-WebSocket-Protocol: chat, decp\r\n', True),
                        (b'Sec-WebSocket-Protocol: chat\r\nSec-WebSocket-Protocol: decp\r\n', True),
                        (b'Sec-WebSocket-Protocol: chat, DECP\r\n', False),
                        (b'', False)]:
        lines, s = head(offer)
        named = [l for l in lines if l.startswith('sec-websocket-protocol:')]
        ok = lines[0].startswith('http/1.1 101') and (
            named == ['sec-websocket-protocol: decp'] if want else named == [])
        check(f'offered {offer.strip()!r}: 101 names {named or "none"}', ok)
        s.close()
    lines, s = head(b'Sec-WebSocket-Protocol: decp\r\n')
    s.sendall(frame(subscribe(1)))
    s.settimeout(3)
    got = s.recv(4096)
    check('the session with the subprotocol is answered (a binary frame after Subscribe)',
          got[:1] == b'\x82')
    s.close()
finally:
    stop_pipeline(ctl, log, check)
print(f'{check.failed} failed')
sys.exit(1 if check.failed else 0)
