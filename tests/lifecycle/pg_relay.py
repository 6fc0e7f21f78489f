#!/usr/bin/env python3
"""pg_relay: a TCP relay between decp-control and PostgreSQL that loses one answer.

Test tool (tests/lifecycle/test_pg_unknown_outcome.sh, issue 24 item 1). It relays every
connection from 127.0.0.1:LISTEN to 127.0.0.1:SERVER unchanged while ARMFILE does not
exist. ARMFILE holds one line "ROLE PATTERN [AFTER]". On the first session of ROLE (one that
sent "application_name = 'decp-ROLE'", as common/cp_pg sets it) whose client then sends bytes
containing PATTERN (with AFTER: PATTERN sent after AFTER, e.g. the COMMIT of a transaction that
copied signals, not of one that held only events), the relay forwards those bytes, throws away what the server answers
(the server has done the work: committed) and closes both sides: to the client the
server died between its commit and the answer, the unknown outcome a failover produces.
Then it removes ARMFILE and writes "dropped ROLE PATTERN" to LOG; sessions made afterwards
(the client's reconnect) are relayed unchanged until ARMFILE is written again.

Usage: pg_relay.py LISTEN SERVER ARMFILE LOG
"""
import os
import re
import socket
import sys
import threading

LISTEN, SERVER = int(sys.argv[1]), int(sys.argv[2])
ARMFILE, LOG = sys.argv[3], sys.argv[4]
ROLE_RE = re.compile(rb"application_name = 'decp-([a-z-]+)'")
arm_lock = threading.Lock()


def armed():
    """(role, pattern, after or None) of ARMFILE, or None."""
    try:
        with open(ARMFILE, "rb") as f:
            words = f.read().split()
    except OSError:
        return None
    if len(words) not in (2, 3):
        return None
    return words[0], words[1], words[2] if len(words) == 3 else None


def log(line):
    with open(LOG, "a") as f:
        f.write(line + "\n")


def hit(a, seen, data, state):
    """Whether the client's bytes complete the armed pattern: PATTERN, or PATTERN sent after
    AFTER (in this chunk or an earlier one of the session)."""
    role, pattern, after = a
    if after is None:
        return pattern in seen
    if state["after"] != after:
        i = seen.find(after)
        if i < 0:
            return False
        state["after"] = after
        return seen.find(pattern, i + len(after)) >= 0
    return pattern in data


def pipe(src, dst, state, upstream):
    tail = b""
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            if upstream:
                seen = tail + data
                tail = seen[-256:]
                m = ROLE_RE.search(seen)
                if m:
                    state["role"] = m.group(1)
                with arm_lock:
                    a = armed()
                    if a is not None and state["role"] == a[0] and hit(a, seen, data, state):
                        state["drop"] = a
                        os.unlink(ARMFILE)
                dst.sendall(data)
            elif state["drop"]:
                # the server's answer: lost with the "server"
                log("dropped %s %s" % (state["drop"][0].decode(), state["drop"][1].decode()))
                break
            else:
                dst.sendall(data)
    except OSError:
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        s.close()


def serve(client):
    server = socket.create_connection(("127.0.0.1", SERVER))
    state = {"role": None, "drop": None, "after": None}
    threading.Thread(target=pipe, args=(client, server, state, True), daemon=True).start()
    threading.Thread(target=pipe, args=(server, client, state, False), daemon=True).start()


def main():
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", LISTEN))
    ls.listen(64)
    log("listening")
    while True:
        c, _ = ls.accept()
        try:
            serve(c)
        except OSError:
            c.close()


main()
