#!/usr/bin/env python3
"""fanout_poll_revoke: a waiting poll whose token is revoked gets no signal published after.

Run under decp-testenv --pg --redis: test_poll_revoke.py SOURCE_ROOT BUILD_ROOT.

docs/security.md (Hostile subscriber, stolen tokens) and docs/console.md: a revoked
subscriber token ends the subscriber's fan-out sessions; docs/fanout.md "HTTP polling": a
waiting poll is answered 401 once its token is revoked or expired. Two subscribers of master
1 each park a long poll (`after` = the master's last, `wait=10`); the first one's token is
revoked (an UPDATE of subscriber_tokens, as `decpctl subscriber revoke-token` does), and
once the fan-out has re-read its tokens master 1 publishes sequence 2. The revoked poller
must be answered 401 with no envelope; the other 200 with sequence 2.
Before the fix the revoked poller was answered 200 with sequence 2 (the WebSocket's
revocation closes only WebSocket sessions; a waiting poll was checked again for its
subscription's state, never for its token).
"""
import os, socket, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rawws import (WS, Checks, http_answer, psql, publish_signals, start_pipeline,  # noqa: E402
                   stop_pipeline, subscribe)

SRC, BLD = sys.argv[1], sys.argv[2]
PG = os.environ['DECP_PG_CONNINFO']
REDIS = [os.environ['DECP_REDIS_HOST'], os.environ['DECP_REDIS_PORT']]
check = Checks()


def poll(port, token, after, wait):
    s = socket.create_connection(('127.0.0.1', port), timeout=30)
    s.sendall(f'GET /v1/masters/1/signals?after={after}&wait={wait} HTTP/1.1\r\n'
              f'Host: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\r\n'.encode())
    return s


def answer(s, seconds):
    """(status, X-Decp-Envelopes or None) of the answer, (0, None) without one."""
    st, head, _ = http_answer(s, seconds)
    env = [int(h.split(b':')[1]) for h in head if h.lower().startswith(b'x-decp-envelopes:')]
    return st, env[0] if env else None


ctl, log, port, tokens, run = start_pipeline(BLD, PG, REDIS, ('revoked', 'other', 'watch'))
try:
    check('decp-control (fanout, archiver) listens', port is not None)
    watch = WS(port, tokens['watch'][0])  # the fan-out tails master 1 from here on
    watch.send(subscribe(1))
    watch.frames(0.5)
    publish_signals(REDIS, 1, [(1, 1, 11, 10)])
    watch.frames(0.5)
    polls = {n: poll(port, tokens[n][0], 1, 10) for n in ('revoked', 'other')}
    time.sleep(0.5)  # both parked on master 1
    psql(PG, f"UPDATE subscriber_tokens SET revoked_at = now()"
             f" WHERE subscriber_id = {tokens['revoked'][1]}")
    time.sleep(1.5)  # the NOTIFY heard, the token list re-read (500 ms at most)
    publish_signals(REDIS, 1, [(2, 7, 11, 0)])
    st, env = answer(polls['revoked'], 12)
    check(f'the revoked token\'s waiting poll is answered 401 without signals ({st}, '
          f'envelopes {env})', st == 401 and env is None)
    st, env = answer(polls['other'], 12)
    check(f'the other subscriber\'s poll gets sequence 2 ({st}, envelopes {env})',
          st == 200 and env == 1)
    st, env = answer(poll(port, tokens['revoked'][0], 1, 0), 5)
    check(f'a new request with the revoked token is 401 ({st})', st == 401)
finally:
    stop_pipeline(ctl, log, check)
print(f'{check.failed} failed')
sys.exit(1 if check.failed else 0)
