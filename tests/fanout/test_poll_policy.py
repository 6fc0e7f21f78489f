#!/usr/bin/env python3
"""fanout_poll_policy: a waiting poll answered after a copy-policy change carries the new policy.

Run under decp-testenv --pg --redis: test_poll_policy.py SOURCE_ROOT BUILD_ROOT.

docs/fanout.md "HTTP polling", the answer's body: "1. `CopyPolicy`, when the subscription's
version is above `policy`", ahead of the envelopes, so that the EA sizes and maps them by
it. A poller holding version 1 parks a long poll (`after` = the master's last, `wait=10`,
`policy=1`); the subscription's copy policy is changed (version 2, multiplier 2.5) while it
waits, and once the fan-out has it (a WebSocket session of the same subscriber is sent it)
the master publishes sequence 2. The answer must be CopyPolicy version 2, then envelope 2,
then SyncEnd{2}. Before the fix the policy was chosen when the request arrived, so the
answer carried envelope 2 alone and the EA executed it under version 1 (the next poll
brought version 2, one signal too late).
"""
import os, socket, struct, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rawws import (WS, Checks, fields, http_answer, psql, publish_signals,  # noqa: E402
                   start_pipeline, stop_pipeline, subscribe)

SRC, BLD = sys.argv[1], sys.argv[2]
PG = os.environ['DECP_PG_CONNINFO']
REDIS = [os.environ['DECP_REDIS_HOST'], os.environ['DECP_REDIS_PORT']]
check = Checks()


def answer(s, seconds):
    """(status, [(ServerMessage field, {field: value})]) of the answer on s."""
    st, _, body = http_answer(s, seconds)
    out, i = [], 0
    while i + 4 <= len(body):  # framed as on the ingest channel: 4-byte length, message
        n = struct.unpack('!I', body[i:i + 4])[0]
        kind, val = fields(body[i + 4:i + 4 + n])[0]
        out.append((kind, dict(fields(val))))
        i += 4 + n
    return st, out


def policy_versions(frames):
    """Versions of the CopyPolicy messages (ServerMessage 8, version 3) among WS frames."""
    out = []
    for op, p in frames:
        if op == 2:
            kind, val = fields(p)[0]
            if kind == 8:
                out.append(dict(fields(val)).get(3))
    return out


ctl, log, port, tokens, run = start_pipeline(BLD, PG, REDIS, ('poller',))
try:
    check('decp-control (fanout, archiver) listens', port is not None)
    tok, sid = tokens['poller']
    watch = WS(port, tok)  # the same subscriber's WebSocket: tells when version 2 is in
    watch.send(subscribe(1))
    check('the WebSocket session gets CopyPolicy version 1 on Subscribe',
          policy_versions(watch.frames(1.0)) == [1])
    publish_signals(REDIS, 1, [(1, 1, 11, 10)])
    watch.frames(0.5)
    s = socket.create_connection(('127.0.0.1', port), timeout=30)
    s.sendall(f'GET /v1/masters/1/signals?after=1&wait=10&policy=1 HTTP/1.1\r\n'
              f'Host: 127.0.0.1\r\nAuthorization: Bearer {tok}\r\n\r\n'.encode())
    watch.frames(0.3)  # the poll parked on master 1
    psql(PG, "UPDATE subscriptions SET copy_policy = '{\"mode\": \"MULTIPLIER\", "
             f"\"multiplier\": 2.5}}' WHERE subscriber_id = {sid}")
    seen = []
    for _ in range(50):  # bounded: the policy thread's NOTIFY, 10 s at most
        seen += policy_versions(watch.frames(0.2))
        if 2 in seen:
            break
    check(f'the fan-out has version 2 (pushed to the WebSocket session: {seen})', 2 in seen)
    publish_signals(REDIS, 1, [(2, 1, 12, 10)])
    st, msgs = answer(s, 12)
    kinds = [k for k, _ in msgs]
    check(f'the waiting poll is answered 200 ({st})', st == 200)
    check(f'its answer is CopyPolicy, envelope 2, SyncEnd ({kinds})', kinds == [8, 1, 3])
    check('the CopyPolicy is version 2 with multiplier 2.5 (lot_multiplier_milli 2500)',
          bool(msgs) and msgs[0][0] == 8 and msgs[0][1].get(3) == 2 and
          msgs[0][1].get(6) == 2500)
    check('the envelope is sequence 2',
          len(msgs) > 1 and msgs[1][0] == 1 and msgs[1][1].get(4) == 2)
    s.close()
finally:
    stop_pipeline(ctl, log, check)
print(f'{check.failed} failed')
sys.exit(1 if check.failed else 0)
