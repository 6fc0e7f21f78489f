#!/usr/bin/python3
"""check_api_doc.py: docs/api.md is the api's contract; this checks it against the code.

- every route of the api's table (controlplane/api/cp_api_routes.c, cp_api_routes[]) is a
  row of docs/api.md's "Endpoints" table with the same method, path and who may call it
  (API_ADMIN: operator, API_ANY: both, API_PUBLIC: anyone), and every row there is a route;
- every error code the api's sources answer with (api_error(r, STATUS, "code", ...) and
  refuse(..., STATUS, "code", ...)) is in docs/api.md with that status (the console's own
  codes, from cp_api_console.c, in docs/console.md).

usage: check_api_doc.py SOURCE_ROOT. Prints "ok: ..."/"FAIL: ..." lines; exit 1 on a failure.
"""
import glob
import re
import sys

root = sys.argv[1]
failed = 0


def ok(msg):
    print("ok: " + msg)


def bad(msg):
    global failed
    failed += 1
    print("FAIL: " + msg)


src = open(f"{root}/controlplane/api/cp_api_routes.c").read()
table = src[src.index("const struct api_route cp_api_routes[]"):]
routes = re.findall(r'\{API_(GET|POST), "([^"]+)", API_(ADMIN|ANY|PUBLIC),', table)
WHO = {"ADMIN": "operator", "ANY": "both", "PUBLIC": "public"}
code = {(m, re.sub(r":id\b", "{id}", p)): WHO[a] for m, p, a in routes}

doc = open(f"{root}/docs/api.md").read()
sec = doc[doc.index("\n## Endpoints"):]
sec = sec[:sec.index("\n## ", 1)]
documented = {}
console_row = None
for line in sec.splitlines():
    m = re.match(r"\| (GET|POST) \| `([^`]+)`(.*?)\| ([^|]*)\|", line)
    if not m:
        continue
    method, path, rest, who = m.group(1), m.group(2), m.group(3), m.group(4).strip()
    path = path.split("?")[0]
    if path == "/console/":  # one row for the console's files and sessions
        console_row = line
        continue
    who = "operator" if who.startswith("operator") else "both" if who.startswith("both") \
        else "public" if who in ("", "anyone", "public") else who
    documented[(method, path)] = who

for (m, p), who in sorted(code.items()):
    if p.startswith("/console") or p.startswith("/v1/console/"):
        # the console's own routes: one row of the table, the rest in docs/console.md
        cons = open(f"{root}/docs/console.md").read()
        if console_row is None or (p.split("/")[-1] not in console_row and p not in cons):
            bad(f"{m} {p}: not in docs/api.md's console row nor docs/console.md")
        continue
    if p in ("/healthz", "/readyz", "/metrics"):
        if f"`{p}`" not in doc:
            bad(f"{m} {p}: not documented in docs/api.md")
        continue
    if (m, p) not in documented:
        bad(f"{m} {p} (route, {who}) is not a row of docs/api.md's Endpoints table")
    elif documented[(m, p)] != who:
        bad(f"{m} {p}: docs/api.md says '{documented[(m, p)]}', the route table {who}")
for (m, p) in sorted(documented):
    if (m, p) not in code:
        bad(f"{m} {p}: in docs/api.md's Endpoints table, but no such route")
ok(f"{len(code)} routes against {len(documented)} rows of docs/api.md's Endpoints table")

# error codes: every (status, code) the api answers is in docs/api.md with that status
pairs = set()
console_doc = open(f"{root}/docs/console.md").read()
for f in glob.glob(f"{root}/controlplane/api/*.c"):
    s = open(f).read()
    if f.endswith("cp_api_console.c"):
        for st, c in re.findall(r'api_error\(\s*\w+\s*,\s*(\d{3})\s*,\s*"([a-z_]+)"', s):
            if not re.search(rf"{st} `{c}`", console_doc) and (int(st), c) not in pairs:
                pairs.add((int(st), c))  # judged against docs/api.md below
        continue
    for st, c in re.findall(r'(?:api_error|refuse)\(\s*\w+\s*,\s*(\d{3})\s*,\s*"([a-z_]+)"', s):
        pairs.add((int(st), c))
rows = re.findall(r"^\| (\d{3}) \| ([^|]+)\|", doc, re.M)
doc_pairs = {(int(st), c) for st, cs in rows for c in re.findall(r"`([a-z_]+)`", cs)}
missing = sorted(p for p in pairs if p not in doc_pairs and (p[1] not in doc))
wrong_status = sorted(p for p in pairs if p not in doc_pairs and p[1] in doc)
for st, c in missing:
    bad(f"error {st} {c}: answered by the api, not in docs/api.md")
for st, c in wrong_status:
    if not re.search(rf"\b{st}\b[^\n]*`{c}`|`{c}`[^\n]*\b{st}\b", doc):
        bad(f"error {c}: answered with {st}, docs/api.md never says {st} beside it")
ok(f"{len(pairs)} (status, code) pairs the api answers, against docs/api.md")

# the fan-out's polling refusals (cp_poll_req.c, cp_fanout_poll.c) against docs/fanout.md
fdoc = open(f"{root}/docs/fanout.md").read()
frows = {(int(st), c) for st, cs in re.findall(r"^\| (\d{3}) \| ([^|]+)\|", fdoc, re.M)
         for c in re.findall(r"`([a-z_]+)`", cs)}
fpairs = set()
s = open(f"{root}/controlplane/fanout/cp_poll_req.c").read()
fpairs |= {(int(st), c) for c, st in re.findall(r'\*code = "([a-z_]+)", (\d{3})', s)}
fpairs |= {(int(st), c) for a, c, st in  # *code = x ? "a" : "b", 400
           re.findall(r'\*code = \w+ \? "([a-z_]+)" : "([a-z_]+)", (\d{3})', s)}
fpairs |= {(int(st), a) for a, c, st in
           re.findall(r'\*code = \w+ \? "([a-z_]+)" : "([a-z_]+)", (\d{3})', s)}
s = open(f"{root}/controlplane/fanout/cp_fanout_poll.c").read()
fpairs |= {(int(st), c) for st, c in re.findall(r'poll_error\(\w+, (\d{3}), "([a-z_]+)"', s)}
if '"range_not_retained"' in s:  # chosen by a condition beside its status
    fpairs.add((410, "range_not_retained"))
for st, c in sorted(fpairs - frows):
    bad(f"polling refusal {st} {c}: answered by the fan-out, not in docs/fanout.md's table")
ok(f"{len(fpairs)} (status, code) pairs of the fan-out's polling, against docs/fanout.md")
sys.exit(1 if failed else 0)
