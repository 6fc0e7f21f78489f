#!/usr/bin/python3
"""tls_probe.py: real TLS clients (Python's ssl, raw sockets) against decp-dataplane's TLS.

Each subcommand is one client behaviour; it prints one line and exits 0 when the dataplane
behaved as docs/dataplane.md "TLS" says, 1 otherwise. SRC is the source address to bind
(tests give attackers addresses of their own, so the per-source handshake limit of an
attacker never touches the legitimate master's bucket).

  handshake HOST PORT CA            TLS 1.3 with certificate + address verification, then a
                                    second connection resuming the first one's ticket
  tls12 HOST PORT SRC               a TLS 1.2-only client: must be refused
  garbage HOST PORT SRC             a handshake record of random bytes: must be closed
  plain HOST PORT SRC               plaintext bytes (tls = required): must be closed
  slow HOST PORT SRC DEADLINE_S     a real ClientHello at one byte per second: the
                                    dataplane must cut it within DEADLINE_S + 3 s, before
                                    the hello is complete
  flood HOST PORT SRC N CA          N handshakes back to back; prints ok=X refused=Y
  login HOST PORT SRC CA MASTER BINDING ok|refused
                                    a protocol-2 login over TLS 1.3 (pyOpenSSL, which
                                    exports keying material) with the proof computed
                                    over BINDING: "exporter" (this connection's
                                    EXPORTER-decp-login, what an honest client sends),
                                    "zeros" (the plaintext binding) or "other" (the
                                    exporter of a second TLS connection: the proof an
                                    active man in the middle relays from the victim's
                                    connection into his own); must end in HelloAck (ok)
                                    or Nack BAD_TOKEN + close (refused)
  mitm LHOST PORT_FILE HOST PORT SRC CA CERT KEY
                                    an active man in the middle holding a certificate
                                    the master trusts: accepts one TLS connection on
                                    LHOST (port written to PORT_FILE), opens its own TLS
                                    connection to HOST:PORT from SRC and relays every
                                    byte both ways until one side closes; prints what
                                    the dataplane answered the relayed login
Logins use decp's derived test credentials (proto_creds.h, seed "decp-test").
"""
import hashlib
import hmac
import os
import select
import socket
import ssl
import struct
import sys
import time

LABEL = b"EXPORTER-decp-login"
SEED = "decp-test"
INGEST_KINDS = {1: "hello_ack", 2: "ack", 3: "nack", 4: "error", 5: "heartbeat",
                6: "challenge"}


def conn(host, port, src=None, timeout=5.0):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if src:
        s.bind((src, 0))
    s.settimeout(timeout)
    s.connect((host, port))
    return s


def closed_within(s, secs):
    """True when the peer closes (EOF or reset) within secs; reads and drops its bytes."""
    end = time.monotonic() + secs
    while time.monotonic() < end:
        s.settimeout(max(0.05, end - time.monotonic()))
        try:
            if not s.recv(4096):
                return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False
    return False


def client_ctx(ca):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(ca)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    return ctx


def handshake(host, port, ca):
    ctx = client_ctx(ca)
    with ctx.wrap_socket(conn(host, port), server_hostname=host) as s1:
        ver = s1.version()
        s1.settimeout(0.5)
        try:  # let the NewSessionTicket (sent after the handshake) be read
            s1.recv(1)
        except socket.timeout:
            pass
        sess = s1.session
    with ctx.wrap_socket(conn(host, port), server_hostname=host, session=sess) as s2:
        reused = s2.session_reused
        ver2 = s2.version()
    print(f"handshake: {ver} resumed: {reused} ({ver2})")
    return ver == "TLSv1.3" and ver2 == "TLSv1.3" and reused


def tls12(host, port, src):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    try:
        with ctx.wrap_socket(conn(host, port, src)) as s:
            print(f"tls12: NOT refused ({s.version()})")
            return False
    except (ssl.SSLError, ConnectionError) as e:
        print(f"tls12: refused ({e})")
        return True


def garbage(host, port, src):
    s = conn(host, port, src)
    s.sendall(b"\x16\x03\x01\x00\x80" + os.urandom(128))
    ok = closed_within(s, 5)
    print(f"garbage: closed={ok}")
    return ok


def plain(host, port, src):
    s = conn(host, port, src)
    s.sendall(b"\x00\x00\x00\x10" + b"not a TLS record")
    ok = closed_within(s, 5)
    print(f"plain: closed={ok}")
    return ok


def client_hello():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


def slow(host, port, src, deadline):
    hello = client_hello()
    s = conn(host, port, src)
    t0 = time.monotonic()
    sent = 0
    for b in hello:
        try:
            s.sendall(bytes([b]))
        except (BrokenPipeError, ConnectionResetError):
            break
        sent += 1
        if closed_within(s, 1.0):
            break
        if time.monotonic() - t0 > deadline + 3:
            break
    took = time.monotonic() - t0
    ok = sent < len(hello) and took <= deadline + 3
    print(f"slow: cut after {took:.1f} s, {sent} of {len(hello)} hello bytes sent: ok={ok}")
    return ok


def flood(host, port, src, n, ca):
    ctx = client_ctx(ca)
    ok = refused = 0
    for _ in range(n):
        try:
            with ctx.wrap_socket(conn(host, port, src), server_hostname=host):
                ok += 1
        except (ssl.SSLError, ConnectionError, socket.timeout, OSError):
            refused += 1
    print(f"flood: ok={ok} refused={refused}")
    return True


def varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def field(num, wire, payload):
    if wire == 0:
        return varint(num << 3) + varint(payload)
    return varint(num << 3 | 2) + varint(len(payload)) + payload


def frame(payload):
    return struct.pack(">I", len(payload)) + payload


def hello_frame(master):
    hello = field(2, 0, master) + field(3, 2, b"tls_probe") + field(4, 0, 2)
    return frame(field(1, 2, hello))  # MasterFrame.hello


def proof_frame(proof):
    return frame(field(4, 2, field(1, 2, proof)))  # MasterFrame.login_proof


def read_varint(b, i):
    v = shift = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        shift += 7
        if not c & 0x80:
            return v, i


def fields(b):
    """(number, value) of each field of one message (varints and byte strings only)."""
    i, out = 0, []
    while i < len(b):
        key, i = read_varint(b, i)
        if key & 7 == 0:
            v, i = read_varint(b, i)
        elif key & 7 == 2:
            n, i = read_varint(b, i)
            v, i = b[i:i + n], i + n
        else:
            raise ValueError("unexpected wire type")
        out.append((key >> 3, v))
    return out


def token_of(master):
    """proto_creds_derive: hex(SHA-256("decp-token:" seed ":" master))."""
    return hashlib.sha256(f"decp-token:{SEED}:{master}".encode()).hexdigest()


def login_proof(master, nonce, binding):
    """docs/protocol.md "Login": HMAC-SHA256(SHA-256(token), label16 || nonce || id || binding)."""
    key = hashlib.sha256(token_of(master).encode()).digest()
    msg = b"decp-login-v2" + bytes(3) + nonce + struct.pack(">Q", master) + binding
    return hmac.new(key, msg, hashlib.sha256).digest()


class TlsConn:
    """A blocking pyOpenSSL TLS 1.3 client connection (stdlib ssl cannot export keying
    material)."""

    def __init__(self, host, port, src, ca):
        from OpenSSL import SSL
        ctx = SSL.Context(SSL.TLS_METHOD)
        ctx.set_min_proto_version(SSL.TLS1_3_VERSION)
        ctx.load_verify_locations(ca)
        ctx.set_verify(SSL.VERIFY_PEER, lambda *a: a[-1])
        s = conn(host, port, src, 10.0)
        # pyOpenSSL treats a Python timeout as non-blocking: block, bounded by the kernel.
        s.settimeout(None)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 10, 0))
        self.c = SSL.Connection(ctx, s)
        self.c.set_connect_state()
        self.c.do_handshake()
        self.buf = b""

    def exporter(self):
        return self.c.export_keying_material(LABEL, 32)

    def send(self, b):
        self.c.sendall(b)

    def frame(self):
        """The next IngestFrame as (kind, fields of the member), or None at EOF."""
        from OpenSSL import SSL
        while True:
            if len(self.buf) >= 4:
                n = struct.unpack(">I", self.buf[:4])[0]
                if len(self.buf) >= 4 + n:
                    p, self.buf = self.buf[4:4 + n], self.buf[4 + n:]
                    num, member = fields(p)[0]
                    return INGEST_KINDS.get(num, str(num)), dict(fields(member))
            try:
                d = self.c.recv(4096)
            except (SSL.ZeroReturnError, SSL.SysCallError):
                return None
            if not d:
                return None
            self.buf += d


def login(host, port, src, ca, master, binding, expect):
    c = TlsConn(host, port, src, ca)
    other = TlsConn(host, port, src, ca) if binding == "other" else None
    c.send(hello_frame(master))
    kind, f = c.frame()
    if kind != "challenge":
        print(f"login: expected a challenge, got {kind}")
        return False
    b = {"exporter": lambda: c.exporter(), "zeros": lambda: bytes(32),
         "other": lambda: other.exporter()}[binding]()
    c.send(proof_frame(login_proof(master, f[1], b)))
    got = []
    while True:
        r = c.frame()
        if r is None:
            break
        got.append(r[0] if r[0] != "nack" else f"nack({r[1].get(2)})")
        if r[0] == "hello_ack":
            break
    ok = got[:1] == ["hello_ack"]
    refused = got[:1] == ["nack(4)"]  # Nack BAD_TOKEN, then Error and close
    print(f"login: master {master} binding {binding}: {' '.join(got) or 'closed'}")
    return ok if expect == "ok" else refused


def mitm(lhost, port_file, host, port, src, ca, cert, key):
    srv = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    srv.minimum_version = ssl.TLSVersion.TLSv1_3
    srv.load_cert_chain(cert, key)
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((lhost, 0))
    ls.listen(1)
    with open(port_file + ".tmp", "w") as f:
        f.write(str(ls.getsockname()[1]))
    os.rename(port_file + ".tmp", port_file)
    ls.settimeout(60)
    victim = srv.wrap_socket(ls.accept()[0], server_side=True)
    up = client_ctx(ca).wrap_socket(conn(host, port, src, 10.0), server_hostname=host)
    seen = b""
    end = time.monotonic() + 30
    while time.monotonic() < end:
        r, _, _ = select.select([victim, up], [], [], 0.2)
        for a in r:
            b = up if a is victim else victim
            try:
                d = a.recv(16384)
            except (ssl.SSLError, OSError):
                d = b""
            if not d:
                end = 0
                break
            if a is up:
                seen += d
            b.sendall(d)
    kinds = []
    while len(seen) >= 4:
        n = struct.unpack(">I", seen[:4])[0]
        if len(seen) < 4 + n:
            break
        num, member = fields(seen[4:4 + n])[0]
        kinds.append(INGEST_KINDS.get(num, str(num)) +
                     (f"({dict(fields(member)).get(2)})" if num == 3 else ""))
        seen = seen[4 + n:]
    print(f"mitm: relayed a login; the dataplane answered: {' '.join(kinds)}")
    return "hello_ack" not in kinds


def main(a):
    cmd = a[1] if len(a) > 1 else ""
    try:
        if cmd == "handshake" and len(a) == 5:
            return handshake(a[2], int(a[3]), a[4])
        if cmd in ("tls12", "garbage", "plain") and len(a) == 5:
            return globals()[cmd](a[2], int(a[3]), a[4])
        if cmd == "slow" and len(a) == 6:
            return slow(a[2], int(a[3]), a[4], float(a[5]))
        if cmd == "login" and len(a) == 9 and a[7] in ("exporter", "zeros", "other") \
                and a[8] in ("ok", "refused"):
            return login(a[2], int(a[3]), a[4], a[5], int(a[6]), a[7], a[8])
        if cmd == "mitm" and len(a) == 10:
            return mitm(a[2], a[3], a[4], int(a[5]), a[6], a[7], a[8], a[9])
        if cmd == "flood" and len(a) == 7:
            return flood(a[2], int(a[3]), a[4], int(a[5]), a[6])
    except OSError as e:
        print(f"{cmd}: {e}")
        return False
    print(__doc__, file=sys.stderr)
    return False


if __name__ == "__main__":
    sys.exit(0 if main(sys.argv) else 1)
