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
"""
import os
import socket
import ssl
import sys
import time


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


def main(a):
    cmd = a[1] if len(a) > 1 else ""
    try:
        if cmd == "handshake" and len(a) == 5:
            return handshake(a[2], int(a[3]), a[4])
        if cmd in ("tls12", "garbage", "plain") and len(a) == 5:
            return globals()[cmd](a[2], int(a[3]), a[4])
        if cmd == "slow" and len(a) == 6:
            return slow(a[2], int(a[3]), a[4], float(a[5]))
        if cmd == "flood" and len(a) == 7:
            return flood(a[2], int(a[3]), a[4], int(a[5]), a[6])
    except OSError as e:
        print(f"{cmd}: {e}")
        return False
    print(__doc__, file=sys.stderr)
    return False


if __name__ == "__main__":
    sys.exit(0 if main(sys.argv) else 1)
