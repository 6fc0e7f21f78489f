"""rawws: a WebSocket client (RFC 6455) and the few protobuf messages of decp's subscriber
channel the fan-out tests send, written from docs/protocol.md alone (as a third party would:
no generated code), and the pipeline set-up they share (decpctl, decp-control fanout +
archiver on plain ws). Used by test_report_poison.py, test_report_bounds.py,
test_report_rate.py, test_report_acks.py, test_token_expiry.py, test_poll_revoke.py,
test_poll_policy.py, test_wss_timeout.py,
test_subprotocol.py, test_many_subs.py, test_msg_rate.py and test_send_stamp.py."""
import base64, json, os, signal, socket, struct, subprocess, tempfile, time, urllib.error
import urllib.request


# ---- protobuf (docs/protocol.md "Subscriber channel"): an encoder, a field walker ----
def varint(n):
    n &= (1 << 64) - 1
    out = b''
    while True:
        b, n = n & 0x7f, n >> 7
        if not n:
            return out + bytes([b])
        out += bytes([b | 0x80])


def fld(num, val):
    if isinstance(val, bytes):
        return varint(num << 3 | 2) + varint(len(val)) + val
    return varint(num << 3) + varint(val)


def msg(*fields):
    return b''.join(fld(n, v) for n, v in fields)


def varint_at(b, i):
    """The varint at b[i:] and the index after it."""
    v = shift = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7f) << shift
        shift += 7
        if not c & 0x80:
            return v, i


def fields(b):
    """(field number, value) of a message's fields: varints as int, length-delimited as
    bytes (the only wire types of the subscriber channel's messages)."""
    out, i = [], 0
    while i < len(b):
        key, i = varint_at(b, i)
        if key & 7 == 0:
            v, i = varint_at(b, i)
        elif key & 7 == 2:
            n, i = varint_at(b, i)
            v, i = b[i:i + n], i + n
        else:
            raise ValueError(f'wire type {key & 7}')
        out.append((key >> 3, v))
    return out


def subscribe(master):                       # ClientMessage.subscribe (1)
    return fld(1, msg((1, master)))


def protection(master, seq, reason, rid, extra=()):  # ClientMessage.protection_event (4)
    return fld(4, msg((3, master), (4, seq), (5, reason), (13, rid), *extra))


def execution(master, seq, status, ticket, rid, extra=()):  # ClientMessage.execution_report (3)
    return fld(3, msg((2, master), (3, seq), (4, status), (9, ticket), (14, rid), *extra))


# ---- the pipeline's other ends ----
def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    p = s.getsockname()[1]
    s.close()
    return p


def http_metric(port, name):
    """A counter's value on the api's plain-HTTP /metrics at port, None when absent."""
    try:
        body = urllib.request.urlopen(f'http://127.0.0.1:{port}/metrics', timeout=5).read()
    except OSError:
        return None
    for line in body.decode().splitlines():
        if line.startswith(name + ' '):
            return int(float(line.split()[1]))
    return None


# ---- WebSocket client (RFC 6455) ----
def frame(payload):
    """A masked binary client frame (payload < 65,536 bytes)."""
    m = os.urandom(4)
    n = len(payload)
    hdr = struct.pack('!BB', 0x82, 0x80 | n) if n < 126 else struct.pack('!BBH', 0x82, 0xfe, n)
    return hdr + m + bytes(c ^ m[i % 4] for i, c in enumerate(payload))


def upgrade_request(token):
    key = base64.b64encode(os.urandom(16)).decode()
    return (f'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n'
            f'Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n'
            f'Sec-WebSocket-Version: 13\r\nAuthorization: Bearer {token}\r\n\r\n').encode()


class WS:
    def __init__(self, port, token):
        self.s = socket.create_connection(('127.0.0.1', port), timeout=5)
        self.s.sendall(upgrade_request(token))
        self.buf = b''
        while b'\r\n\r\n' not in self.buf:
            d = self.s.recv(4096)
            if not d:
                break
            self.buf += d
        head, _, self.buf = self.buf.partition(b'\r\n\r\n')
        self.head = head
        self.status = int(head.split(b' ')[1]) if head.startswith(b'HTTP/1.1 ') else 0

    def send(self, payload):
        self.s.sendall(frame(payload))

    def _need(self, n):
        while len(self.buf) < n:
            d = self.s.recv(65536)
            if not d:
                raise EOFError
            self.buf += d

    def frames(self, seconds):
        """(opcode, payload) until a close frame, the end of the stream or `seconds`."""
        out, end = [], time.time() + seconds
        while time.time() < end:
            self.s.settimeout(max(0.01, end - time.time()))
            try:
                self._need(2)
                n, off = self.buf[1] & 0x7f, 2
                if n == 126:
                    self._need(4)
                    n, off = struct.unpack('!H', self.buf[2:4])[0], 4
                self._need(off + n)
                op, p = self.buf[0] & 0x0f, self.buf[off:off + n]
                self.buf = self.buf[off + n:]
            except (socket.timeout, TimeoutError):
                break
            except (EOFError, ConnectionResetError):
                out.append(('EOF', b''))
                break
            out.append((op, p))
            if op == 8:
                break
        return out


def http_answer(s, seconds):
    """One HTTP answer read from socket s (its Content-Length body whole, or what came
    before the end of the stream or `seconds`): (status, head lines, body); status 0
    without an answer."""
    s.settimeout(seconds)
    b = b''
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            b += d
            head, sep, body = b.partition(b'\r\n\r\n')
            cl = [int(h.split(b':')[1]) for h in head.split(b'\r\n')
                  if h.lower().startswith(b'content-length:')]
            if sep and cl and len(body) >= cl[0]:
                break
    except (socket.timeout, TimeoutError, ConnectionResetError):
        pass
    head, _, body = b.partition(b'\r\n\r\n')
    if not head.startswith(b'HTTP/1.1 '):
        return 0, [], b''
    lines = head.split(b'\r\n')
    return int(lines[0].split(b' ')[1]), lines, body


def acked(frames, rid):     # ServerMessage.report_ack (7) { report_id (1) }
    return any(op == 2 and p == fld(7, msg((1, rid))) for op, p in frames)


def close_code(frames):
    c = [p for op, p in frames if op == 8]
    return struct.unpack('!H', c[0][:2])[0] if c and len(c[0]) >= 2 else None


def redis_server_start(port, run):
    """redis-server on `port` (no persistence, files in `run`), answering PING within 10 s;
    its Popen."""
    p = subprocess.Popen(['redis-server', '--port', str(port), '--bind', '127.0.0.1',
                          '--save', '', '--appendonly', 'no', '--dir', run],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        r = subprocess.run(['redis-cli', '-p', str(port), 'ping'], capture_output=True,
                           text=True)
        if r.stdout.strip() == 'PONG':
            return p
        time.sleep(0.1)
    return p


def redis_server_stop(p):
    """Stop redis_server_start's server by its PID."""
    os.kill(p.pid, signal.SIGTERM)
    p.wait(timeout=10)


def redis_cmd(addr, *args):
    """One Redis command over RESP (binary-safe, which redis-cli's arguments are not)."""
    s = socket.create_connection((addr[0], int(addr[1])), timeout=5)
    parts = [a if isinstance(a, bytes) else str(a).encode() for a in args]
    s.sendall(b'*%d\r\n' % len(parts) + b''.join(b'$%d\r\n%s\r\n' % (len(p), p) for p in parts))
    out = s.recv(4096)
    s.close()
    if out.startswith(b'-'):
        raise RuntimeError(out)
    return out


def publish_signals(addr, master, signals):
    """Signals of `master` as the edge writes them (docs/control.md "Redis key layout"): each
    (sequence, order_type, ticket, volume) a Signal (decp.proto) in a one-field record
    (cp_redis_rec.h), unsigned (the fan-out and the archiver do not verify), and the master
    in the archiver's set."""
    redis_cmd(addr, 'SADD', 'decp:masters', str(master))
    for seq, ot, ticket, vol in signals:
        redis_cmd(addr, 'XADD', f'decp:{{m{master}}}:signals', f'{seq}-0', 'r',
                  signal_record(master, seq, ot, ticket, vol))


def signal_record(master, seq, ot, ticket, vol, arrival_ns=None):
    """A stream entry's "r" field: the Signal (sequence, order_type, ticket, volume) in a
    one-field record (cp_redis_rec.h), unsigned; its arrival stamp `arrival_ns` (default:
    now)."""
    now = time.time_ns()
    body = msg((1, master), (2, seq), (3, b'EURUSD'), (4, ot), (5, vol), (6, 110000 + seq),
               (9, ticket), (10, now))
    arrival = now - 1000 if arrival_ns is None else arrival_ns
    return bytes([1]) + arrival.to_bytes(8, 'little') + bytes([0, 0]) + body


def poll_answer(s, seconds):
    """(status, [(ServerMessage field, {field: value})]) of the polling answer read from s
    (docs/fanout.md "HTTP polling": messages framed as on the ingest channel)."""
    st, _, body = http_answer(s, seconds)
    out, i = [], 0
    while i + 4 <= len(body):
        n = struct.unpack('!I', body[i:i + 4])[0]
        kind, val = fields(body[i + 4:i + 4 + n])[0]
        out.append((kind, dict(fields(val))))
        i += 4 + n
    return st, out


class Checks:
    """check(what, cond): an 'ok:' or 'FAIL:' line; check.failed counts the FAILs."""

    def __init__(self):
        self.failed = 0

    def __call__(self, what, cond):
        print(('ok: ' if cond else 'FAIL: ') + what, flush=True)
        self.failed += 0 if cond else 1


def stop_pipeline(ctl, log, check):
    """Stop start_pipeline's decp-control (SIGTERM): it must exit 0; its log's tail when a
    check failed."""
    ctl.terminate()
    rc = ctl.wait(timeout=10)
    check(f'decp-control exits 0 ({rc})', rc == 0)
    if check.failed:
        log.seek(0)
        print(log.read()[-4000:])


def psql(pg, sql):
    """One statement's result, unaligned, tuples only."""
    return subprocess.check_output(['psql', '-X', '-q', '-t', '-A', '-d', pg, '-c', sql],
                                   text=True).strip()


def wait_psql(pg, sql, want, seconds=10):
    """psql(pg, sql) until it is `want`, at most `seconds`; the last result."""
    got = None
    for _ in range(seconds * 10):
        got = psql(pg, sql)
        if got == want:
            break
        time.sleep(0.1)
    return got


def reports_left(redis, seconds=10):
    """XLEN of the reports stream until the archiver has drained it (0), at most
    `seconds`; the last length, as text."""
    left = '?'
    for _ in range(seconds * 10):
        left = subprocess.check_output(['redis-cli', '-h', redis[0], '-p', redis[1], 'XLEN',
                                        'decp:{rep}:reports'], text=True).strip()
        if left == '0':
            break
        time.sleep(0.1)
    return left


def event(sid, reason, seq, rid, attribution=None):
    """One event of POST /v1/protection-events (docs/api.md "Protection events")."""
    e = {'subscription_id': sid, 'reason': reason, 'sequence': seq, 'report_id': rid}
    if attribution is not None:
        e['attribution'] = attribution
    return e


def post_events(api, tok, events):
    """POST /v1/protection-events as the subscriber of `tok`; the HTTP status."""
    req = urllib.request.Request(f'http://127.0.0.1:{api}/v1/protection-events',
                                 data=json.dumps({'events': events}).encode(), method='POST',
                                 headers={'Authorization': f'Bearer {tok}',
                                          'Content-Type': 'application/json'})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def delivery_runs(pg, sid, want, seconds=10):
    """Subscription sid's trust_deliveries as 'first-last live late polled,...' until it is
    `want`, at most `seconds`."""
    return wait_psql(pg, 'SELECT string_agg(first_sequence || \'-\' || last_sequence || \' \''
                     ' || live::int || \' \' || late::int || \' \' || polled::int, \',\''
                     ' ORDER BY first_sequence) FROM trust_deliveries WHERE subscription_id'
                     f' = {sid}', want, seconds)


def trust_scored(pg, api, sid):
    """Once sid's inbox is empty (30 s at most: the wait for records, 10 s, plus the way of
    the fan-out's runs): (rows left, trust score, 'sequence credited,...' of its
    executions, platform_stale, attribution_refuted)."""
    left = wait_psql(pg, f'SELECT count(*) FROM trust_inbox WHERE subscription_id = {sid}',
                     '0', seconds=30)
    return (left, psql(pg, f'SELECT trust_score FROM subscriptions WHERE id = {sid}'),
            psql(pg, 'SELECT string_agg(sequence || \' \' || credited::int, \',\') FROM '
                 f'execution_reports WHERE subscription_id = {sid}'),
            http_metric(api, 'decp_trust_platform_stale_total'),
            http_metric(api, 'decp_trust_attribution_refuted_total'))


def ledger_verify(bld, check):
    """decpctl ledger verify must exit 0 (the money trail replays, sql 0032)."""
    v = subprocess.run([os.path.join(bld, 'tools/decpctl/decpctl'), 'ledger', 'verify'],
                       capture_output=True, text=True)
    check(f'decpctl ledger verify: exit {v.returncode} ({(v.stdout + v.stderr).strip()[-300:]})',
          v.returncode == 0)


def profit(extra):
    """ExecutionReport.realized_profit (11), in 1e-4, as extra fields of execution()."""
    return [(11, extra & ((1 << 64) - 1))]


def start_pipeline(bld, pg, redis, names, extra='', roles='fanout,archiver', tls=False,
                   api_port=None):
    """Schema, master 1, a subscriber with a subscription to it per name, and decp-control
    --roles fanout,archiver (plain ws; `roles` to add others; `tls`: wss with a set from
    `decpctl tls init` in the run directory, its CA `ca.crt` there; `api_port`: the api role
    too, plain HTTP there, and its /metrics answering before this returns, http_metric).
    Returns (process, log file, port, {name: (token, subscriber id)}, run directory)."""
    if api_port is not None:
        roles += ',api'
        extra += f'api_port = {api_port}\napi_tls = off\n'
    decpctl = os.path.join(bld, 'tools/decpctl/decpctl')
    run = tempfile.mkdtemp(prefix='decp-rawws.')
    subprocess.check_call([decpctl, 'db', 'migrate'], stdout=subprocess.DEVNULL)
    subprocess.check_call([decpctl, 'master', 'add', '--id', '1', '--name', 'm1', '--key-seed',
                           'rawws'], stdout=subprocess.DEVNULL)
    tokens = {}
    for name in names:
        out = os.path.join(run, name + '.token')
        subprocess.check_call([decpctl, 'subscriber', 'add', '--name', name, '--out', out],
                              stdout=subprocess.DEVNULL)
        kv = dict(l.split(' = ', 1) for l in open(out).read().splitlines() if ' = ' in l)
        subprocess.check_call([decpctl, 'subscription', 'add', '--subscriber',
                               kv['subscriber_id'], '--master', '1'], stdout=subprocess.DEVNULL)
        tokens[name] = (kv['subscriber_token'], int(kv['subscriber_id']))
    conf = os.path.join(run, 'control.conf')
    wss = 'fanout_tls = off\n'
    if tls:
        subprocess.check_call([decpctl, 'tls', 'init', '--dir', run], stdout=subprocess.DEVNULL)
        wss = f'fanout_cert = {run}/server.crt\nfanout_key = {run}/server.key\n'
    with open(conf, 'w') as f:
        f.write(f'roles = {roles}\nredis_host = {redis[0]}\nredis_port = {redis[1]}\n'
                f'pg_conninfo = "{pg}"\nfanout_port = 0\n{wss}{extra}')
    log = open(os.path.join(run, 'control.log'), 'w+')
    ctl = subprocess.Popen([os.path.join(bld, 'controlplane/core/decp-control'), '--config', conf],
                           stdout=log, stderr=subprocess.STDOUT)
    port = None
    for _ in range(100):
        time.sleep(0.1)
        log.seek(0)
        for line in log.read().splitlines():
            if 'listening on 127.0.0.1:' in line:
                port = int(line.split('listening on 127.0.0.1:')[1].split()[0])
        if port:
            break
    for _ in range(100 if api_port is not None and port else 0):
        if http_metric(api_port, 'decp_fanout_connections_total') is not None:
            break
        time.sleep(0.1)
    return ctl, log, port, tokens, run
