#!/usr/bin/env python3
"""Network detection on the labelled public captures: recall and precision
per set, before/after tables for issue 20, floors pinned by a test.

Usage: netlab.py --vakt BIN [--data DIR] [--sites DIR] [--no-site]
                 [--floors FILE] [--set NAME]... [--json OUT] [--verbose]

For each set, runs `vakt hunt --analytics all --format jsonl` over its logs
(with its site file from --sites unless --no-site) and scores the network
findings (family "network", and Suricata's own alerts) against the set's
truth. Standard library only.

The unit (written in docs/NETWORK.md as well):
- A finding names a source (its first IP actor) and a destination (its
  first IP target) or a server name, or only a source (a scanning source).
- It is right when its source->destination pair carries a Malicious label
  (labelled sets) or is the attack traffic the set's README names; a finding
  about a source alone (a scan) is right when that source is an attacker.
  Inbound pairs (outside source, site's own destination) that are labelled
  malicious are right only when reported as what they are: scanning or
  probing (`scan`, `inbound-scan`) or the sensor's own alert (`suricata`),
  never as beaconing or C2.
- Recall counts the attacking pairs with at least FLOOR (10) flows in the
  set's conn logs (EVE: flow events), plus the README-named scanning
  sources; a pair is found when a right finding names it, or names its
  source as a scanner (for scan traffic), or names the server name the
  pair's flows carried (labelled http/ssl logs).
- Background (unlabelled) pairs are not attacks: a finding on them is false.

Exit code: 0, or 1 when --floors is given and a set falls below its floor.
"""
import argparse
import collections
import glob
import gzip
import json
import os
import subprocess
import sys

FLOOR = 10
SCAN_KINDS = {"scan", "inbound-scan", "zeek-notice"}
# What command and control is reported as.
C2 = {"beacon", "strobe", "long-connection", "rare-destination", "http-anomaly", "tls-anomaly"}
PASS_KINDS = {"suricata", "zeek-notice"}


def rows(path):
    """Zeek TSV or JSON rows (dotted names), or EVE records."""
    op = gzip.open if path.endswith(".gz") else open
    fields = None
    with op(path, "rt", errors="replace") as f:
        for line in f:
            if line.startswith("\t#"):
                line = line.lstrip("\t")
            if line.startswith("#fields"):
                fields = line.rstrip("\n").split("\t")[1:]
                continue
            if line.startswith("#") or not line.strip():
                continue
            if line.startswith("{"):
                try:
                    r = json.loads(line)
                except ValueError:
                    continue
                out = {}
                for k, v in r.items():
                    if k.startswith("id_"):
                        k = "id." + k[3:]
                    out[k] = v
                yield out
                continue
            if fields:
                yield dict(zip(fields, line.rstrip("\n").split("\t")))


def zeek_kind(path):
    import re

    toks = re.split(r"[._-]", os.path.basename(path).lower())
    if "summary" in toks or "open" in toks:
        return None
    for k in ("conn", "http", "ssl", "dns"):
        if k in toks:
            return k
    return None


class Truth:
    def __init__(self):
        self.flows = collections.Counter()  # (src, dst) -> conn records
        self.mflows = collections.Counter()  # (src, dst) -> conn records labelled malicious
        self.mal = set()  # malicious (src, dst)
        self.bad_names = set()  # (src, name) malicious
        self.name_pairs = collections.defaultdict(set)  # (src, name) -> dsts
        self.scanners = set()  # attacking sources whose traffic is scanning
        self.attackers = set()  # sources with malicious traffic
        self.positives = set()  # pairs that recall counts
        self.inbound = set()  # malicious pairs that are inbound
        self.kinds = {}  # pair -> the detectors that report it as what it is
        self.unscored_probes = False  # inbound probing is not labelled in this set


def labelled(files, internal):
    t = Truth()
    for p in files:
        kind = zeek_kind(p)
        for r in rows(p):
            s, d = r.get("id.orig_h"), r.get("id.resp_h")
            if not s or not d:
                continue
            lab = r.get("label", "")
            if kind == "conn":
                t.flows[(s, d)] += 1
            name = r.get("server_name") or r.get("host") or r.get("query")
            if name and name not in ("-", "(empty)"):
                t.name_pairs[(s, name.lower())].add(d)
            if lab.lower().startswith("malicious"):
                if kind == "conn":
                    t.mflows[(s, d)] += 1
                t.mal.add((s, d))
                t.attackers.add(s)
                if name and name not in ("-", "(empty)"):
                    t.bad_names.add((s, name.lower()))
    for (s, d) in t.mal:
        if not internal(s) and internal(d):
            t.inbound.add((s, d))
        # The pair's attack flows (labelled malicious) must be enough for
        # behaviour to show.
        if t.mflows[(s, d)] >= FLOOR:
            t.positives.add((s, d))
    return t


def known(files, pairs, scanners, internal):
    t = Truth()
    t.unscored_probes = True
    for p in files:
        if zeek_kind(p) == "conn":
            for r in rows(p):
                s, d = r.get("id.orig_h"), r.get("id.resp_h")
                if s and d:
                    t.flows[(s, d)] += 1
    for (s, d, kinds) in pairs:
        t.mal.add((s, d))
        t.attackers.add(s)
        if kinds is not None:
            t.kinds[(s, d)] = set(kinds)
        if not internal(s) and internal(d) and kinds is None:
            t.inbound.add((s, d))
        if t.flows[(s, d)] >= FLOOR:
            t.positives.add((s, d))
    for s in scanners:
        t.scanners.add(s)
        t.attackers.add(s)
        t.positives.add((s, "*scan*"))
    return t


def eve(path, internal):
    """Suricata EVE: the sensor's alerts say which pairs are attacks."""
    t = Truth()
    for r in rows(path):
        s, d = r.get("src_ip"), r.get("dest_ip")
        if not s or not d:
            continue
        if r.get("event_type") == "flow":
            t.flows[(s, d)] += 1
        if r.get("event_type") == "alert":
            t.mal.add((s, d))
            t.attackers.add(s)
            if not internal(s) and internal(d):
                t.inbound.add((s, d))
    # Every alerted pair is a positive: the sensor's judgement must come through whole.
    t.positives = set(t.mal)
    return t


def cidrs(site):
    """The site file's internal ranges (the subset of YAML the site files here use)."""
    import ipaddress

    nets = []
    if site and os.path.exists(site):
        key = None
        for line in open(site):
            s = line.split("#", 1)[0].rstrip()
            if not s.strip():
                continue
            if not s.startswith(" ") and s.endswith(":"):
                key = s[:-1].strip()
                continue
            if not s.startswith(" ") and ":" in s:
                key, _, rest = s.partition(":")
                key = key.strip()
                rest = rest.strip()
                if key in ("internal", "nat") and rest.startswith("["):
                    for x in rest.strip("[]").split(","):
                        if x.strip():
                            nets.append(ipaddress.ip_network(x.strip().strip("\"'"), strict=False))
                    key = None
                continue
            if key in ("internal", "nat") and s.strip().startswith("- "):
                nets.append(ipaddress.ip_network(s.strip()[2:].strip().strip("\"'"), strict=False))
    if not nets:
        nets = [ipaddress.ip_network(n) for n in
                ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8",
                 "169.254.0.0/16", "fc00::/7", "fe80::/10", "::1/128")]

    def internal(ip):
        try:
            a = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(a in n for n in nets if n.version == a.version)

    return internal


def sets(data):
    strat = f"{data}/zeek-stratosphere-labelled"
    slips = f"{data}/zeek-slips-testdata"
    rita = f"{data}/zeek-rita-testdata"
    apt = f"{data}/zeek-otrf-apt29"

    def lab(*globs):
        return ("labels", sorted(f for g in globs for f in glob.glob(g)))

    def logs(d):
        return sorted(glob.glob(f"{d}/**/*.log*", recursive=True))

    return [
        # name, inputs, truth
        ("strat-001-njrat", [f"{strat}/001-zeek-scenario-malicious/labeled-conn.log"],
         lab(f"{strat}/001-zeek-scenario-malicious/labeled-conn.log")),
        ("strat-002-portscan", [f"{strat}/002-zeek-scenario-port-scanning"],
         ("known", logs(f"{strat}/002-zeek-scenario-port-scanning"), [], ["172.16.1.11"])),
        ("strat-008-mixed", [f"{strat}/008-zeek-mixed/data"], lab(f"{strat}/008-zeek-mixed/data/*.labeled")),
        ("strat-010-mixed", [f"{strat}/010-zeek-mixed/data"], lab(f"{strat}/010-zeek-mixed/data/*.labeled")),
        ("strat-012-mixed", [f"{strat}/012-zeek-mixed/data"], lab(f"{strat}/012-zeek-mixed/data/*.labeled")),
        ("slips-test18-remcos", [f"{slips}/test18-malicious-ctu-sme-11-win/zeek-labeled"],
         lab(f"{slips}/test18-malicious-ctu-sme-11-win/zeek-labeled/*.labeled")),
        ("slips-portscan-vertical", [f"{slips}/port-scans/vertical"],
         ("known", logs(f"{slips}/port-scans/vertical"), [], ["192.168.1.9"])),
        ("slips-portscan-horizontal", [f"{slips}/port-scans/horizontal"],
         ("known", logs(f"{slips}/port-scans/horizontal"), [], ["10.0.2.112"])),
        ("slips-test10-scans", [f"{slips}/test10-mixed-zeek-dir"],
         ("known", logs(f"{slips}/test10-mixed-zeek-dir"), [], ["147.32.83.156", "222.186.30.112"])),
        ("slips-eve-test6", [f"{data}/suricata-eve-slips/test6-malicious.eve.before-2021-06-07T0930.json"],
         ("eve", f"{data}/suricata-eve-slips/test6-malicious.eve.before-2021-06-07T0930.json")),
        ("rita-missing-host", [f"{rita}/missing_host"],
         ("known", logs(f"{rita}/missing_host"),
          [("73.54.23.243", "64.225.56.201", C2 | {"long-connection", "http-anomaly"})], [])),
        ("apt29-day1", [f"{apt}/day1"],
         ("known", logs(f"{apt}/day1"),
          [("10.0.1.6", "192.168.0.4", None), ("10.0.1.4", "192.168.0.4", None)], [])),
        ("apt29-day2", [f"{apt}/day2"],
         ("known", logs(f"{apt}/day2"),
          [("10.0.1.5", "192.168.0.4", None)], [])),
    ]


def findings(vakt, inputs, site, allow=()):
    cmd = [vakt, "hunt", "-q", "--analytics", "all", "--format", "jsonl"]
    if site:
        cmd += ["--site", site]
    for a in allow:
        cmd += ["--allow-list", a]
    cmd += inputs
    out = subprocess.run(cmd, capture_output=True, text=True)
    # 1: detections; 2: some records rejected (said on standard error).
    if out.returncode not in (0, 1, 2):
        sys.exit(f"netlab: {' '.join(cmd)} exited {out.returncode}: {out.stderr}")
    found = []
    for line in out.stdout.splitlines():
        if not line.strip():
            continue
        a = json.loads(line)
        fam = a.get("rule", {}).get("family")
        if fam != "network" and a["detector"] not in PASS_KINDS:
            continue
        ips = [x["value"] for x in a.get("actors", []) if x["kind"] == "ip"]
        tips = [x["value"] for x in a.get("targets", []) if x["kind"] == "ip"]
        names = [x["value"].lower() for x in a.get("targets", []) if x["kind"] == "domain"]
        if not ips:
            continue
        found.append((a["detector"], a["severity"], ips[0], tips[0] if tips else None,
                      names[0] if names else None, a["title"]))
    return found


def score(t, found):
    right, wrong, covered, unscored = [], [], set(), []
    for f in found:
        det, _sev, s, d, name, _title = f
        ok = False
        if d is not None and (s, d) in t.mal:
            if (s, d) in t.kinds:
                ok = det in t.kinds[(s, d)] | PASS_KINDS
            else:
                ok = (s, d) not in t.inbound or det in SCAN_KINDS | PASS_KINDS
            if ok:
                covered.add((s, d))
        elif d is None and name is not None and (s, name) in t.bad_names:
            ok = True
            for dd in t.name_pairs.get((s, name), ()):
                covered.add((s, dd))
        elif det == "inbound-scan" and t.unscored_probes:
            # A set whose README names only its attack does not label the
            # Internet's probes of an exposed server: not scored.
            unscored.append(f)
            continue
        elif det in SCAN_KINDS and s in t.attackers:
            ok = True
            covered.add((s, "*scan*"))
            for (ps, pd) in t.mal:
                if ps == s:
                    covered.add((ps, pd))
        if ok and det in SCAN_KINDS and s in t.attackers:
            covered.add((s, "*scan*"))
            for (ps, pd) in t.mal:
                if ps == s:
                    covered.add((ps, pd))
        (right if ok else wrong).append(f)
    found_pos = t.positives & covered
    missed = sorted(t.positives - covered)
    recall = len(found_pos) / len(t.positives) if t.positives else None
    scored = len(right) + len(wrong)
    precision = len(right) / scored if scored else None
    return recall, precision, right, wrong, missed, unscored


def fmt(x):
    return "-" if x is None else f"{x:.2f}"


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--vakt", required=True)
    ap.add_argument("--data", default=os.path.join(here, "..", "..", "shared", "data"))
    ap.add_argument("--sites", default=os.path.join(here, "..", "crates", "vakt", "tests", "data", "sites"))
    ap.add_argument("--no-site", action="store_true")
    ap.add_argument("--floors")
    ap.add_argument("--set", action="append")
    ap.add_argument("--json")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--allow-list", action="append", default=[],
                    help="MISP warninglists to set findings aside with (vakt hunt --allow-list)")
    a = ap.parse_args()
    floors = json.load(open(a.floors)) if a.floors else {}
    report, failed = [], []
    print(f"{'set':28} {'pos':>4} {'found':>5} {'recall':>6} {'findings':>8} {'right':>5} {'precision':>9} {'unscored':>8}")
    for name, inputs, truth in sets(a.data):
        if a.set and name not in a.set:
            continue
        site = None if a.no_site else os.path.join(a.sites, name + ".yml")
        if site and not os.path.exists(site):
            site = None
        # The truth's directions come from the set's site file, with or
        # without --no-site (which only leaves vakt without it).
        internal = cidrs(os.path.join(a.sites, name + ".yml"))
        if truth[0] == "labels":
            t = labelled(truth[1], internal)
        elif truth[0] == "known":
            t = known(truth[1], truth[2], truth[3], internal)
        else:
            t = eve(truth[1], internal)
        found = findings(a.vakt, inputs, site, a.allow_list)
        recall, precision, right, wrong, missed, unscored = score(t, found)
        npos = len(t.positives)
        print(f"{name:28} {npos:>4} {npos - len(missed):>5} {fmt(recall):>6} {len(found):>8} "
              f"{len(right):>5} {fmt(precision):>9} {len(unscored):>8}")
        if a.verbose:
            by = collections.Counter((f[0], f[1]) for f in wrong)
            print(f"    false by detector: {dict(by)}")
            for f in wrong[:8]:
                print(f"    false: {f[0]} {f[1]} {f[5][:110]}")
            for m in missed[:8]:
                print(f"    missed: {m[0]} -> {m[1]} ({t.flows.get(m, 0)} flows)")
        report.append({"set": name, "positives": npos, "found": npos - len(missed),
                       "recall": recall, "findings": len(found), "right": len(right),
                       "precision": precision, "unscored": len(unscored),
                       "false": [f"{f[0]}: {f[5]}" for f in wrong],
                       "missed": [f"{m[0]} -> {m[1]}" for m in missed]})
        fl = floors.get("with_allow_lists" if a.allow_list else "site_only", floors).get(name)
        if fl:
            if recall is not None and recall < fl.get("recall", 0) - 1e-9:
                failed.append(f"{name}: recall {recall:.2f} < {fl['recall']}")
            if fl.get("precision") is not None and (precision or 0) < fl["precision"] - 1e-9:
                failed.append(f"{name}: precision {fmt(precision)} < {fl['precision']}")
            if fl.get("max_findings") is not None and len(found) > fl["max_findings"]:
                failed.append(f"{name}: {len(found)} findings > {fl['max_findings']}")
    if a.json:
        json.dump(report, open(a.json, "w"), indent=1)
    for f in failed:
        print(f"netlab: below the floor: {f}", file=sys.stderr)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
