#!/usr/bin/python3
"""check_k8s.py: offline checks of docs/deploy/k8s (issue 24 item 4), with what Debian 12
packages allow: no API server, so no server-side validation or admission.

Checked: every document against the Kubernetes object models of Debian's
python3-kubernetes (22.6, API 1.22): every field known to its object (a misspelt field
fails), required fields present, value types (string, integer, boolean, list, map;
int-or-string where the API takes either); the kustomization lists every manifest;
selectors match their pods; every referenced ConfigMap, Secret (secrets.example.yaml) and
key, volume and named port exists; every container has resource requests and the
restricted security settings; each Deployment's --roles is a decp-control role and the
ConfigMap's control.conf passes `decp-control --check` with it; the container ports and
mounted key files are the ones control.conf names; HTTP probe paths are routes of the api.
Not checked: admission by a real cluster (defaults, quotas, PSA), the image build, the
cluster's LoadBalancer and DNS names.

usage: check_k8s.py K8S_DIR DECP_CONTROL ROUTES_C
Prints one line per check ("ok: ..." / "FAIL: ...") and exits 1 on any failure.
"""
import os
import re
import subprocess
import sys
import tempfile

import yaml
from kubernetes.client import models

K8S, CONTROL, ROUTES = sys.argv[1:4]
failed = 0


def ok(msg):
    print("ok: " + msg)


def bad(msg):
    global failed
    failed += 1
    print("FAIL: " + msg)


SCALARS = ("str", "int", "bool", "object")
KINDS = {
    ("v1", "Namespace"): "V1Namespace", ("v1", "ConfigMap"): "V1ConfigMap",
    ("v1", "Secret"): "V1Secret", ("v1", "Service"): "V1Service",
    ("apps/v1", "Deployment"): "V1Deployment", ("batch/v1", "Job"): "V1Job",
    ("policy/v1", "PodDisruptionBudget"): "V1PodDisruptionBudget",
    ("networking.k8s.io/v1", "NetworkPolicy"): "V1NetworkPolicy",
}


def check_value(t, v, where, errs):
    """v (from YAML) against the model type name t; appends errors to errs."""
    if t == "object":  # int-or-string, or free-form
        if not isinstance(v, (int, str, dict, list)) or isinstance(v, bool):
            errs.append(f"{where}: expected int or string, got {v!r}")
        return
    if t.startswith("list["):
        if not isinstance(v, list):
            errs.append(f"{where}: expected a list")
            return
        for i, x in enumerate(v):
            check_value(t[5:-1], x, f"{where}[{i}]", errs)
        return
    if t.startswith("dict("):
        if not isinstance(v, dict):
            errs.append(f"{where}: expected a map")
            return
        vt = t[5:-1].split(", ", 1)[1]
        for k, x in v.items():
            check_value(vt, x, f"{where}.{k}", errs)
        return
    if t in ("str", "datetime", "date"):
        if not isinstance(v, str):
            errs.append(f"{where}: expected a string, got {v!r}")
        return
    if t == "int":
        if not isinstance(v, int) or isinstance(v, bool):
            errs.append(f"{where}: expected an integer, got {v!r}")
        return
    if t == "bool":
        if not isinstance(v, bool):
            errs.append(f"{where}: expected true/false, got {v!r}")
        return
    if t == "float":
        if not isinstance(v, (int, float)):
            errs.append(f"{where}: expected a number")
        return
    cls = getattr(models, t, None)
    if cls is None:
        errs.append(f"{where}: unknown model type {t}")
        return
    if not isinstance(v, dict):
        errs.append(f"{where}: expected an object ({t})")
        return
    by_json = {j: p for p, j in cls.attribute_map.items()}
    kwargs = {}
    for k, x in v.items():
        if k not in by_json:
            errs.append(f"{where}: unknown field '{k}' in {t}")
            continue
        p = by_json[k]
        check_value(cls.openapi_types[p], x, f"{where}.{k}", errs)
        kwargs[p] = x
    try:  # the model's setters: required fields, the enumerations it knows
        cls(**{p: x if cls.openapi_types[p] in SCALARS else object()
               for p, x in kwargs.items()})
    except ValueError as e:
        errs.append(f"{where}: {e}")


docs = []  # (file, doc)
files = sorted(f for f in os.listdir(K8S) if f.endswith(".yaml"))
for f in files:
    try:
        for d in yaml.safe_load_all(open(os.path.join(K8S, f))):
            if d is not None:
                docs.append((f, d))
    except yaml.YAMLError as e:
        bad(f"{f}: not YAML: {e}")

# 1. the kustomization lists every manifest but the example secrets
kust = [d for f, d in docs if f == "kustomization.yaml"]
listed = set(kust[0].get("resources", [])) if kust else set()
want = set(files) - {"kustomization.yaml", "secrets.example.yaml"}
if kust and listed == want:
    ok(f"kustomization.yaml lists the {len(want)} manifests (not secrets.example.yaml)")
else:
    bad(f"kustomization.yaml resources {sorted(listed)} != manifests {sorted(want)}")

# 2. every object against the models
objs = []
for f, d in docs:
    if f == "kustomization.yaml":
        continue
    key = (d.get("apiVersion"), d.get("kind"))
    name = (d.get("metadata") or {}).get("name")
    if key not in KINDS or not name:
        bad(f"{f}: {key} {name}: not a known kind with a name")
        continue
    errs = []
    check_value(KINDS[key], d, f"{f}:{d['kind']}/{name}", errs)
    if errs:
        for e in errs:
            bad(e)
    else:
        ok(f"{f}: {d['kind']}/{name} matches the Kubernetes {KINDS[key]} model")
    objs.append((f, d))


def of_kind(k, example=False):
    return [d for f, d in objs if d["kind"] == k and (f == "secrets.example.yaml") == example]


cms = {d["metadata"]["name"]: d for d in of_kind("ConfigMap")}
secrets = {d["metadata"]["name"]: d for d in of_kind("Secret", example=True)}
deploys = of_kind("Deployment")
routes = open(ROUTES).read()
conf = cms.get("decp-control", {}).get("data", {}).get("control.conf", "")
conf_kv = dict((m.group(1), m.group(2).strip().strip('"'))
               for m in re.finditer(r"^\s*([a-z_0-9]+)\s*=\s*(.*?)\s*$", conf, re.M))
ROLES = {"api", "fanout", "archiver", "trust", "book"}


def pod_checks(where, spec):
    """What every pod template of ours must have."""
    psc = spec.get("securityContext", {})
    if not (psc.get("runAsNonRoot") and psc.get("seccompProfile", {}).get("type") ==
            "RuntimeDefault" and spec.get("automountServiceAccountToken") is False):
        bad(f"{where}: pod not runAsNonRoot + RuntimeDefault seccomp + no service account token")
    vols = {v["name"]: v for v in spec.get("volumes", [])}
    for c in spec["containers"]:
        sc = c.get("securityContext", {})
        if not (sc.get("allowPrivilegeEscalation") is False and sc.get("readOnlyRootFilesystem")
                and sc.get("capabilities", {}).get("drop") == ["ALL"]):
            bad(f"{where}: container {c['name']}: not restricted (escalation, read-only "
                "root, capabilities)")
        if not c.get("resources", {}).get("requests"):
            bad(f"{where}: container {c['name']}: no resource requests")
        for m in c.get("volumeMounts", []):
            if m["name"] not in vols:
                bad(f"{where}: mount of unknown volume {m['name']}")
        for e in c.get("env", []):
            ref = e.get("valueFrom", {}).get("secretKeyRef")
            if ref and ref["key"] not in secrets.get(ref["name"], {}).get("stringData", {}):
                bad(f"{where}: env {e['name']}: secret {ref['name']} key {ref['key']} is not "
                    "in secrets.example.yaml")
    for v in vols.values():
        if "configMap" in v and v["configMap"]["name"] not in cms:
            bad(f"{where}: volume {v['name']}: no ConfigMap {v['configMap']['name']}")
        if "secret" in v and v["secret"]["secretName"] not in secrets:
            bad(f"{where}: volume {v['name']}: no Secret {v['secret']['secretName']} in "
                "secrets.example.yaml")
    return vols


def mounted_file(c, vols, path):
    """The (kind, name, key) a file path in the container comes from, or None."""
    for m in c.get("volumeMounts", []):
        mp = m["mountPath"]
        if m.get("subPath") and path == mp:
            v = vols[m["name"]]
            src = v.get("configMap", {}).get("name") or v.get("secret", {}).get("secretName")
            return (src, m["subPath"])
        if not m.get("subPath") and path.startswith(mp.rstrip("/") + "/"):
            v = vols[m["name"]]
            src = v.get("configMap", {}).get("name") or v.get("secret", {}).get("secretName")
            return (src, path[len(mp.rstrip("/")) + 1:])
    return None


# 3. Deployments: selector, role, config, ports, mounted files, probes
for d in deploys:
    n = d["metadata"]["name"]
    spec = d["spec"]
    tmpl = spec["template"]
    if not all(tmpl["metadata"].get("labels", {}).get(k) == v
               for k, v in spec["selector"]["matchLabels"].items()):
        bad(f"{n}: selector does not match its pods' labels")
    vols = pod_checks(n, tmpl["spec"])
    c = tmpl["spec"]["containers"][0]
    args = c.get("args", [])
    role = args[args.index("--roles") + 1] if "--roles" in args else None
    if role not in ROLES:
        bad(f"{n}: --roles {role}: not one cold-path role of {sorted(ROLES)}")
        continue
    cfg = args[args.index("--config") + 1] if "--config" in args else None
    src = mounted_file(c, vols, cfg) if cfg else None
    if src != ("decp-control", "control.conf"):
        bad(f"{n}: --config {cfg} is not the ConfigMap decp-control's control.conf ({src})")
    with tempfile.NamedTemporaryFile("w", suffix=".conf") as t:
        t.write(conf)
        t.flush()
        r = subprocess.run([CONTROL, "--config", t.name, "--roles", role, "--check"],
                           capture_output=True, text=True)
    if r.returncode == 0:
        ok(f"{n}: control.conf passes decp-control --roles {role} --check")
    else:
        bad(f"{n}: decp-control --check: {r.stdout}{r.stderr}")
    ports = {p.get("name"): p.get("containerPort") for p in c.get("ports", [])}
    want_port = {"api": conf_kv.get("api_port"), "fanout": conf_kv.get("fanout_port")}.get(role)
    if want_port is not None and list(ports.values()) != [int(want_port)]:
        bad(f"{n}: container ports {ports} != control.conf's {role} port {want_port}")
    elif want_port is None and ports:
        bad(f"{n}: the {role} role serves nothing, yet ports {ports}")
    for key in {"api": ["api_cert", "api_key"],
                "fanout": ["fanout_cert", "fanout_key", "fanout_snapshot_key"]}.get(role, []):
        got = mounted_file(c, vols, conf_kv.get(key, ""))
        if got is None or got[1] not in secrets.get(got[0], {}).get("stringData", {}):
            bad(f"{n}: {key} = {conf_kv.get(key)} is not a mounted key of a Secret ({got})")
    for pname in ("livenessProbe", "readinessProbe"):
        p = c.get(pname)
        if p is None:
            continue
        act = p.get("httpGet") or p.get("tcpSocket")
        if act and isinstance(act["port"], str) and act["port"] not in ports:
            bad(f"{n}: {pname} names port {act['port']}, not a container port")
        if p.get("httpGet") and f'"{p["httpGet"]["path"]}"' not in routes:
            bad(f"{n}: {pname} path {p['httpGet']['path']} is not an api route")
    ok(f"{n}: role {role}, its ports, files and probes are consistent")

# 4. Services and PDBs select a Deployment; a Service's named target ports exist
dep_labels = [(d["metadata"]["name"], d["spec"]["template"]["metadata"]["labels"],
               {p.get("name"): p.get("containerPort")
                for p in d["spec"]["template"]["spec"]["containers"][0].get("ports", [])})
              for d in deploys]
for k in ("Service", "PodDisruptionBudget"):
    for s in of_kind(k):
        sel = s["spec"].get("selector", {})
        sel = sel.get("matchLabels", sel)
        hit = [(n, ports) for n, lab, ports in dep_labels
               if all(lab.get(a) == b for a, b in sel.items())]
        if len(hit) != 1:
            bad(f"{k}/{s['metadata']['name']}: selects {len(hit)} Deployments")
            continue
        for p in s["spec"].get("ports", []):
            tp = p.get("targetPort", p["port"])
            if (isinstance(tp, str) and tp not in hit[0][1]) or \
               (isinstance(tp, int) and tp not in hit[0][1].values()):
                bad(f"{k}/{s['metadata']['name']}: target port {tp} not in {hit[0][0]}")
        ok(f"{k}/{s['metadata']['name']} selects {hit[0][0]}")

# 5. the migration Job
for j in of_kind("Job"):
    pod_checks(j["metadata"]["name"], j["spec"]["template"]["spec"])
    cmd = j["spec"]["template"]["spec"]["containers"][0].get("command", [])
    if cmd[:3] != ["decpctl", "db", "migrate"]:
        bad(f"Job/{j['metadata']['name']}: not decpctl db migrate: {cmd}")
    else:
        ok(f"Job/{j['metadata']['name']} runs decpctl db migrate")

# 6. NetworkPolicy ports are container ports of what they select
for p in of_kind("NetworkPolicy"):
    sel = p["spec"]["podSelector"].get("matchLabels", {})
    for rule in p["spec"].get("ingress", []):
        for port in rule.get("ports", []):
            hit = [ports for n, lab, ports in dep_labels
                   if sel and all(lab.get(a) == b for a, b in sel.items())]
            if not hit or port["port"] not in hit[0].values():
                bad(f"NetworkPolicy/{p['metadata']['name']}: port {port['port']} is not a "
                    "port of the pods it selects")
    ok(f"NetworkPolicy/{p['metadata']['name']} checked")

print(f"k8s: {failed} failed")
sys.exit(1 if failed else 0)
