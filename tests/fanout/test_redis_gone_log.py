#!/usr/bin/env python3
"""fanout_redis_gone_log: the fan-out's start-up warnings are said once, not once per retry.

Run under decp-testenv --pg: test_redis_gone_log.py SOURCE_ROOT BUILD_ROOT.

decp-control's fanout role creates the fan-out again at every retry while Redis or
PostgreSQL is unreachable at start (create_retrying, cp_fanout_role.c), and the creation
logged "fanout_snapshot_key not set: re-sync snapshots are sent UNSIGNED" each time: with
Redis gone and backoff_max_ms = 50, about 20 lines a second, forever. docs/control.md
(`fanout_snapshot_key`) promises one warning, when the fan-out starts serving.

This test starts its own redis-server, stops it by PID (Redis gone), starts decp-control
--roles fanout against its port, waits (bounded) for the rate-limited retry line that counts
the suppressed retries (proof that it retried many times), and counts the warning: at most
one. Then it starts redis-server again on the same port, waits for the fan-out to listen,
and wants exactly one warning in all.
"""
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rawws import Checks, free_port, redis_server_start, redis_server_stop  # noqa: E402

SRC, BLD = sys.argv[1], sys.argv[2]
PG = os.environ['DECP_PG_CONNINFO']
WARN = 'fanout_snapshot_key not set'
check = Checks()
run = tempfile.mkdtemp(prefix='decp-redisgone.')
port = free_port()


def redis_start():
    return redis_server_start(port, run)


def redis_stop(p):
    redis_server_stop(p)


def log_text():
    with open(os.path.join(run, 'control.log')) as f:
        return f.read()


def wait_log(pred, secs):
    """Poll the log until pred(text) holds, at most secs seconds; the last text."""
    end = time.monotonic() + secs
    while True:
        t = log_text()
        if pred(t) or time.monotonic() > end:
            return t
        time.sleep(0.1)


def suppressed_retries(text):
    """The largest '(+N suppressed)' count on the fan-out's retry line."""
    n = 0
    for line in text.splitlines():
        if 'unreachable at start; retrying' in line and 'suppressed)' in line:
            n = max(n, int(line.rsplit('(+', 1)[1].split()[0]))
    return n


subprocess.check_call([os.path.join(BLD, 'tools/decpctl/decpctl'), 'db', 'migrate'],
                      stdout=subprocess.DEVNULL)
redis = redis_start()
conf = os.path.join(run, 'control.conf')
with open(conf, 'w') as f:
    f.write(f'roles = fanout\nredis_host = 127.0.0.1\nredis_port = {port}\n'
            f'pg_conninfo = "{PG}"\nfanout_port = 0\nfanout_tls = off\nbackoff_max_ms = 50\n')
redis_stop(redis)  # Redis goes away before the fan-out reaches it
redis = None
log = open(os.path.join(run, 'control.log'), 'w')
ctl = subprocess.Popen([os.path.join(BLD, 'controlplane/core/decp-control'), '--config', conf],
                       stdout=log, stderr=subprocess.STDOUT)
try:
    # the second retry line comes 5 s after the first (CP_LOG_RL) with the count between
    text = wait_log(lambda t: suppressed_retries(t) >= 20, 30)
    n = suppressed_retries(text)
    check(f'decp-control retried while Redis was gone ({n} retries not logged)', n >= 20)
    k = text.count(WARN)
    check(f'"{WARN}" logged at most once during {n} retries ({k})', k <= 1)

    redis = redis_start()
    text = wait_log(lambda t: 'listening on 127.0.0.1:' in t, 30)
    check('the fan-out listens once Redis is back', 'listening on 127.0.0.1:' in text)
    k = text.count(WARN)
    check(f'"{WARN}" logged exactly once in all ({k})', k == 1)
finally:
    ctl.terminate()
    rc = ctl.wait(timeout=10)
    check(f'decp-control exits 0 ({rc})', rc == 0)
    if redis is not None:
        redis_stop(redis)
    log.close()
    if check.failed:
        print(log_text()[-3000:])
    subprocess.run(['rm', '-rf', run])
print(f'{check.failed} failed')
sys.exit(1 if check.failed else 0)
