#!/usr/bin/env python3
"""decp.dll's MQL5 #import block, generated from its C header (tools/mt5/decp_dll.h).

usage:
  gen_mqh.py mqh HEADER OUT.mqh        write the #import block
  gen_mqh.py check HEADER FILE.mqh     exit 1 when FILE.mqh declares any function other
                                       than the header does (name, return, parameter
                                       types and order), or misses or adds one
  gen_mqh.py cimports FILE.mqh OUT.h   C function-pointer types and a name table for
                                       the Wine test, read back FROM THE .mqh, so the
                                       test calls every export exactly as MQL5 will

Types (decp_dll.h "ABI rules"): int32_t=int, int64_t=long, const uint8_t*=const uchar &x[],
uint8_t*=uchar &x[], const int64_t*=const long &x[], int64_t*=long &x[],
const wchar_t*=string. Anything else in the header is an error.
"""
import re
import sys

C2MQL = {
    "int32_t": "int",
    "int64_t": "long",
    "const uint8_t *": "const uchar &[]",
    "uint8_t *": "uchar &[]",
    "const int64_t *": "const long &[]",
    "int64_t *": "long &[]",
    "const wchar_t *": "string",
}
# .mqh type -> the C type the Wine test passes (what MQL5 hands the DLL)
MQL2C = {
    "int": "int32_t",
    "long": "int64_t",
    "const uchar &[]": "const uint8_t *",
    "uchar &[]": "uint8_t *",
    "const long &[]": "const int64_t *",
    "long &[]": "int64_t *",
    "string": "const wchar_t *",
}


def fail(msg):
    sys.stderr.write("gen_mqh: " + msg + "\n")
    sys.exit(1)


def parse_header(path):
    """[(name, ret, [(ctype, pname)])] in header order."""
    text = open(path).read()
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    out = []
    for m in re.finditer(r"DECP_API\s+(\w+)\s+(\w+)\s*\(([^)]*)\)\s*;", text):
        ret, name, params = m.group(1), m.group(2), " ".join(m.group(3).split())
        if ret not in ("int32_t", "int64_t"):
            fail("%s returns %s: only int32_t/int64_t" % (name, ret))
        ps = []
        if params != "void":
            for p in params.split(","):
                pm = re.match(r"^\s*(const\s+)?(\w+)\s*(\*?)\s*(\w+)\s*$", p)
                if not pm:
                    fail("%s: cannot read parameter '%s'" % (name, p))
                ctype = (pm.group(1) or "") + pm.group(2) + (" *" if pm.group(3) else "")
                if ctype not in C2MQL:
                    fail("%s: parameter type '%s' is not in the ABI" % (name, ctype))
                ps.append((ctype, pm.group(4)))
        out.append((name, ret, ps))
    if not out:
        fail("no DECP_API functions in " + path)
    return out


def mql_param(ctype, pname):
    t = C2MQL[ctype]
    if t.endswith("&[]"):
        return "%s&%s[]" % (t[:-3], pname)
    return "%s %s" % (t, pname)


def write_mqh(funcs, out):
    lines = [
        "// decp.mqh: decp.dll's #import block. GENERATED from tools/mt5/decp_dll.h by",
        "// tools/mt5/gen_mqh.py; do not edit (the mt5 suite fails when they disagree).",
        "// Reference: docs/mt5.md.",
        "#property strict",
        "",
        '#import "decp.dll"',
    ]
    for name, ret, ps in funcs:
        args = ", ".join(mql_param(c, n) for c, n in ps)
        lines.append("%s %s(%s);" % (C2MQL[ret], name, args))
    lines += ["#import", ""]
    open(out, "w").write("\n".join(lines))


def parse_mqh(path):
    """[(name, ret, [mqltype])] from the #import block."""
    text = open(path).read()
    m = re.search(r'#import\s+"decp\.dll"(.*?)#import', text, flags=re.S)
    if not m:
        fail("no #import \"decp.dll\" block in " + path)
    out = []
    for line in m.group(1).splitlines():
        line = line.split("//")[0].strip()
        if not line:
            continue
        fm = re.match(r"^(\w+)\s+(\w+)\s*\((.*)\)\s*;$", line)
        if not fm:
            fail("cannot read .mqh line '%s'" % line)
        ret, name, params = fm.group(1), fm.group(2), fm.group(3).strip()
        ps = []
        for p in [x.strip() for x in params.split(",")] if params else []:
            pm = re.match(r"^(const\s+)?(\w+)\s*(&)?\s*(\w+)\s*(\[\])?$", p)
            if not pm:
                fail("%s: cannot read .mqh parameter '%s'" % (name, p))
            t = (pm.group(1) or "") + pm.group(2)
            if pm.group(3) and pm.group(5):
                t += " &[]"
            elif pm.group(3) or pm.group(5):
                fail("%s: '%s' is a reference or an array, not both" % (name, p))
            if t not in MQL2C:
                fail("%s: .mqh type '%s' has no ABI meaning" % (name, t))
            ps.append(t)
        out.append((name, ret, ps))
    return out


def check(header, mqh):
    want = {n: (C2MQL[r], [C2MQL[c] for c, _ in ps]) for n, r, ps in parse_header(header)}
    have = {n: (r, ps) for n, r, ps in parse_mqh(mqh)}
    bad = []
    for n in sorted(set(want) | set(have)):
        if n not in have:
            bad.append("%s: in the header, missing from %s" % (n, mqh))
        elif n not in want:
            bad.append("%s: in %s, not exported by the header" % (n, mqh))
        elif want[n] != have[n]:
            bad.append("%s: header says %s, .mqh says %s" % (n, want[n], have[n]))
    for b in bad:
        sys.stderr.write("gen_mqh: " + b + "\n")
    if bad:
        sys.exit(1)
    print("%s agrees with %s: %d functions" % (mqh, header, len(want)))


def write_cimports(mqh, out):
    funcs = parse_mqh(mqh)
    lines = [
        "/* GENERATED by tools/mt5/gen_mqh.py from decp.mqh: the exports as MQL5 calls them. */",
        "#include <stdint.h>",
        "#include <wchar.h>",
        "",
    ]
    for name, ret, ps in funcs:
        args = ", ".join(MQL2C[t] for t in ps) or "void"
        lines.append("typedef %s (*fn_%s)(%s);" % (MQL2C[ret], name, args))
    lines.append("")
    lines.append("#define DECP_IMPORTS(X) \\")
    for name, _, _ in funcs:
        lines.append("\tX(%s) \\" % name)
    lines.append("")
    lines.append("#define DECP_IMPORT_COUNT %d" % len(funcs))
    lines.append("")
    open(out, "w").write("\n".join(lines))


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("mqh", "check", "cimports"):
        sys.stderr.write(__doc__)
        sys.exit(2)
    mode, a, b = sys.argv[1:]
    if mode == "mqh":
        write_mqh(parse_header(a), b)
    elif mode == "check":
        check(a, b)
    else:
        write_cimports(a, b)


if __name__ == "__main__":
    main()
