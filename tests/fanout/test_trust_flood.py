#!/usr/bin/env python3
"""fanout_trust_flood: while Redis is down, one subscriber's flood of reports does not push
another subscriber's delivery runs out of the fan-out's queue (docs/fanout.md "Reports",
"Send stamps and delivery records").

Run under decp-testenv --pg: test_trust_flood.py SOURCE_ROOT BUILD_ROOT (it starts its
own redis-server, stopped and started again by PID).

decp-control --roles fanout,archiver (fanout_report_rate = 0: no report budget). Master 1
publishes 1..3; the fan-out holds them in its history ring (the flooder's WebSocket gets
them live). Redis stops. A poller asks after=0: answered from memory, its run 1-3 (live,
polled) waits in the fan-out for Redis. The flooder then sends 101,000 ExecutionReports
(more than REPORT_QUEUE_MAX, 100,000) and a ping; its pong says all were read. Redis
starts again (empty): the poller's run must reach trust_deliveries.

Before: runs and reports waited in one queue bounded at 100,000, the oldest dropped: the
flood pushed the poller's run out, and its true platform claims would be refuted for want
of a record (no row after 30 s).
"""
import os, socket, struct, sys, tempfile

SRC, BLD = sys.argv[1], sys.argv[2]
PG = os.environ['DECP_PG_CONNINFO']

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rawws import (WS, Checks, delivery_runs, execution, frame, free_port,  # noqa: E402
                   poll_answer, psql, publish_signals, redis_server_start,
                   redis_server_stop, start_pipeline, stop_pipeline, subscribe)

FLOOD = 101_000
check = Checks()
rport = free_port()
rdir = tempfile.mkdtemp(prefix='decp-trustflood.')
REDIS = ['127.0.0.1', str(rport)]
redis = redis_server_start(rport, rdir)
ctl, log, port, tokens, run = start_pipeline(BLD, PG, REDIS, ('flooder', 'poller'),
                                             extra='fanout_report_rate = 0\n')
try:
    check('decp-control (fanout, archiver) listens', port is not None)
    w = WS(port, tokens['flooder'][0])
    w.send(subscribe(1))
    w.frames(0.3)
    publish_signals(REDIS, 1, [(1, 1, 11, 10), (2, 1, 12, 10), (3, 1, 13, 10)])
    seen = 0
    for _ in range(100):  # bounded: 10 s
        seen += sum(1 for op, p in w.frames(0.1) if op == 2 and p[:1] == b'\x0a')
        if seen >= 3:
            break
    check(f'the fan-out published 1..3 (the flooder got {seen} envelopes)', seen >= 3)
    redis_server_stop(redis)
    redis = None
    s = socket.create_connection(('127.0.0.1', port), timeout=30)
    s.sendall(f'GET /v1/masters/1/signals?after=0&wait=0 HTTP/1.1\r\nHost: 127.0.0.1\r\n'
              f'Authorization: Bearer {tokens["poller"][0]}\r\n\r\n'.encode())
    st, m = poll_answer(s, 10)
    seqs = [d.get(4) for k, d in m if k == 1]
    check(f'Redis down: the poll answered from memory ({st}, {seqs})', st == 200 and
          seqs == [1, 2, 3])
    s.close()
    one = frame(execution(1, 1, 1, 1, 0))
    w.s.settimeout(60)
    for i in range(0, FLOOD, 1000):
        w.s.sendall(one * 1000)
    ping = os.urandom(4)
    w.s.sendall(struct.pack('!BB', 0x89, 0x80) + ping)  # an empty, masked ping
    pong = False
    for _ in range(600):  # bounded: 60 s for the fan-out to read the flood
        if any(op == 10 for op, _ in w.frames(0.1)):
            pong = True
            break
    check(f'{FLOOD} reports read (the ping after them answered)', pong)
    redis = redis_server_start(rport, rdir)
    sid = psql(PG, f'SELECT id FROM subscriptions WHERE subscriber_id = {tokens["poller"][1]}')
    runs = delivery_runs(PG, sid, '1-3 1 0 1', seconds=30)
    check(f"the poller's run reached trust_deliveries after the flood ({runs})",
          runs == '1-3 1 0 1')
finally:
    stop_pipeline(ctl, log, check)
    if redis is not None:
        redis_server_stop(redis)
print(f'{check.failed} failed')
sys.exit(1 if check.failed else 0)
