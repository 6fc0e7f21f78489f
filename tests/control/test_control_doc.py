#!/usr/bin/env python3
"""test_control_doc: docs/control.md's key table against the real decp-control.

Every key --help lists has a row in the table and every row's key is one --help lists; every
numeric key's row gives its range, and the binary takes both ends and refuses one past each
(exit 2, the key and the range named), from --set and from a file alike. Runs
`decp-control --check --roles edge` only: nothing is started or connected to.
Usage: test_control_doc.py DECP_CONTROL docs/control.md
"""
import os
import re
import subprocess
import sys
import tempfile

BIN, DOC = sys.argv[1], sys.argv[2]
fails = []
passed = 0


def check(ok, what):
    global passed
    if ok:
        passed += 1
    else:
        fails.append(what)
        print('FAIL', what)


def run(args, conf=None):
    a = [BIN, '--check', '--roles', 'edge'] + args
    path = None
    if conf is not None:
        fd, path = tempfile.mkstemp(suffix='.conf')
        os.write(fd, conf.encode())
        os.close(fd)
        a += ['--config', path]
    p = subprocess.run(a, capture_output=True, text=True, timeout=20)
    if path:
        os.unlink(path)
    return p.returncode, p.stderr + p.stdout


helptext = subprocess.run([BIN, '--help'], capture_output=True, text=True, timeout=20).stdout
code_keys = helptext[helptext.index('Keys:') + 5:].split('SIGINT')[0].split()

lines = open(DOC, encoding='utf-8').read().split('\n')
start = next(i for i, l in enumerate(lines) if l.startswith('| key | default | meaning'))
doc = {}  # key -> range (lo, hi) or None
for l in lines[start + 2:]:
    if not l.startswith('|'):
        break
    cells = [c.strip() for c in l.strip().strip('|').split(' | ')]
    keys = [k.strip(' `') for k in cells[0].split(' / ')]
    meaning = cells[2]
    for k in keys:
        m = re.search(r'`%s` (\d+)\.\.(\d+)' % k, meaning) if len(keys) > 1 else \
            re.search(r"\((\d+)\.\.(10\^9|\d+(?: MiB)?)", meaning)
        rng = None
        if m:
            hi = m.group(2)
            hi = 10**9 if hi == '10^9' else int(hi[:-4]) << 20 if hi.endswith(' MiB') else int(hi)
            rng = (int(m.group(1)), hi)
        doc[k] = rng

for k in code_keys:
    check(k in doc, f'{k}: accepted by decp-control, not in docs/control.md\'s table')
for k in doc:
    check(k in code_keys, f'{k}: in docs/control.md\'s table, not a decp-control key')

for k in code_keys:
    rc, out = run(['--set', f'{k}=x1'])
    if 'is not a number' not in out:
        continue  # not numeric
    rng = doc.get(k)
    check(rng is not None, f'{k}: numeric, its range not in docs/control.md')
    if rng is None:
        continue
    lo, hi = rng
    for v, want in [(lo, 0), (hi, 0), (hi + 1, 2)] + ([(lo - 1, 2)] if lo > 0 else []):
        for how in ('set', 'file'):
            rc, out = run(['--set', f'{k}={v}']) if how == 'set' else run([], f'{k} = {v}\n')
            ok = rc == want and (want == 0 or f'{k}: {v} is out of range {lo}..{hi}' in out)
            check(ok, f'{k}={v} ({how}): exit {rc}, want {want} (docs: {lo}..{hi}): {out.strip()[:160]}')

# The scheduling keys (edge_sched's row, "the same forms" for the other *_sched keys): the
# documented forms taken at both ends of N, one past each end refused, and N written other
# than as the row says (a '+', blanks) refused, exit 2 with the key named.
sched_row = next(l for l in lines if l.startswith('| `edge_sched` |'))
fifo = re.search(r'`fifo:N` \(SCHED_FIFO priority (-?\d+)\.\.(-?\d+)', sched_row)
nice = re.search(r'`nice:N` \((-?\d+)\.\.(-?\d+)\)', sched_row)
check(fifo is not None and nice is not None, 'edge_sched: fifo:N and nice:N ranges not in the row')
sched_keys = [k for k in code_keys if k.endswith('_sched')]
check('edge_sched' in sched_keys and 'background_sched' in sched_keys,
      f'*_sched keys: {sched_keys}')
if fifo and nice:
    flo, fhi, nlo, nhi = (int(x) for x in fifo.groups() + nice.groups())
    good = [f'fifo:{flo}', f'fifo:{fhi}', f'nice:{nlo}', f'nice:{nhi}', 'nice:0', 'idle',
            'inherit']
    bad = [f'fifo:{flo - 1}', f'fifo:{fhi + 1}', f'nice:{nlo - 1}', f'nice:{nhi + 1}',
           'nice:+5', f'fifo:+{fhi}', 'nice: 5', 'nice:- 5', 'fifo:10 ', 'nice']
    for k in sched_keys:
        for v, want in [(v, 0) for v in good] + [(v, 2) for v in bad]:
            for how in ('set', 'file'):
                if how == 'set':
                    rc, out = run(['--set', f'{k}={v}'])
                else:  # quoted: the file keeps the value's blanks as written
                    rc, out = run([], f'{k} = "{v}"\n')
                ok = rc == want and (want == 0 or f"{k}: '{v}' is not inherit" in out)
                check(ok, f'{k}={v!r} ({how}): exit {rc}, want {want}: {out.strip()[:160]}')

print(f'{passed} passed, {len(fails)} failed')
sys.exit(1 if fails else 0)
