#!/usr/bin/env python3
"""Checks the PromQL of the Grafana dashboards and the alert rules in deploy/.

- Every dashboard is valid JSON; every panel has targets with a refId and an expression.
- Every expression parses: promtool has no command that parses a bare expression, so each one is
  written into a temporary rules file as a recording rule (one group per query, named after its
  panel) and `promtool check rules` is run on that file. Grafana variables are replaced first.
- Every metric an expression names (dashboards and alert rules) is listed in deploy/metrics.txt.

Usage: check_queries.py [--self-test] DEPLOY_DIR
Exit status 0 when everything passes, 1 otherwise (each problem is printed on its own line).
"""

import json
import pathlib
import re
import subprocess
import sys
import tempfile

import yaml

HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
KEYWORDS = {"and", "or", "unless", "bool", "inf", "nan", "offset"}
# Grafana's interval variables become a duration, every other variable a plain label value.
INTERVAL_VARIABLES = {"__rate_interval", "__interval", "__range", "__range_s", "__interval_ms"}


def load_metrics(path):
    """Metric name -> type, from deploy/metrics.txt."""
    metrics = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, kind = line.split()[:2]
        metrics[name] = kind
    return metrics


def substitute_variables(expr):
    def repl(m):
        name = m.group(1) or m.group(2)
        return "5m" if name in INTERVAL_VARIABLES else "x"

    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", repl, expr)


def metric_names(expr):
    """The metric names an expression selects (a lexical scan, enough for our own queries)."""
    s = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    s = re.sub(r"'(?:[^'\\]|\\.)*'", "''", s)
    s = re.sub(r"`[^`]*`", "``", s)
    s = re.sub(r"\{[^}]*\}", " ", s)  # label matchers
    s = re.sub(r"\[[^\]]*\]", " ", s)  # ranges and subqueries
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", s)
    s = re.sub(r"\boffset\s+-?\w+", " ", s)
    s = re.sub(r"@\s*[\w.()]+", " ", s)
    names = set()
    for m in re.finditer(r"(?<![\w.:])[A-Za-z_:][\w:]*", s):
        token = m.group(0)
        if token.lower() in KEYWORDS or s[m.end():].lstrip().startswith("("):
            continue  # operator keyword, or a function / aggregation call
        names.add(token)
    return names


def unknown_metrics(names, metrics):
    bad = []
    for name in sorted(names):
        if name in metrics:
            continue
        base = next(
            (name[: -len(suf)] for suf in HISTOGRAM_SUFFIXES if name.endswith(suf)), None
        )
        if base is not None and metrics.get(base) == "histogram":
            continue
        bad.append(name)
    return bad


def walk_panels(panels):
    for p in panels:
        yield p
        yield from walk_panels(p.get("panels", []))


def dashboard_queries(path, problems):
    """(where, expression) pairs of a dashboard: panel targets and query variables."""
    try:
        dash = json.loads(path.read_text())
    except ValueError as e:
        problems.append(f"{path}: not valid JSON: {e}")
        return []
    queries = []
    ids = set()
    for p in walk_panels(dash.get("panels", [])):
        where = f"{path.name}: panel {p.get('id')} '{p.get('title', '')}'"
        if p.get("id") in ids:
            problems.append(f"{where}: duplicate panel id")
        ids.add(p.get("id"))
        if "gridPos" not in p:
            problems.append(f"{where}: no gridPos")
        if p.get("type") == "row":
            continue
        targets = p.get("targets") or []
        if not targets:
            problems.append(f"{where}: no query")
        for t in targets:
            expr = (t.get("expr") or "").strip()
            if not expr or not t.get("refId"):
                problems.append(f"{where}: a target without refId or expression")
                continue
            queries.append((f"{where} {t['refId']}", expr))
    for v in dash.get("templating", {}).get("list", []):
        if v.get("type") != "query":
            continue
        q = v.get("query")
        q = q.get("query", "") if isinstance(q, dict) else (q or "")
        m = re.fullmatch(r"\s*label_values\((.*),\s*\w+\s*\)\s*", q)
        if m:
            queries.append((f"{path.name}: variable ${v.get('name')}", m.group(1)))
        else:
            problems.append(f"{path.name}: variable ${v.get('name')}: not label_values(selector, label)")
    return queries


def rule_queries(path):
    """(where, expression) pairs of a rules file; nothing for other Prometheus files."""
    doc = yaml.safe_load(path.read_text()) or {}
    for group in doc.get("groups", []) if isinstance(doc, dict) else []:
        for rule in group.get("rules", []):
            name = rule.get("alert") or rule.get("record")
            yield f"{path.name}: {name}", rule["expr"]


def promtool_parse(queries, problems):
    """Parses every expression with promtool: one rule group per query, named after its place."""
    doc = {
        "groups": [
            {"name": where, "rules": [{"record": "dashboard:query", "expr": substitute_variables(expr)}]}
            for where, expr in queries
        ]
    }
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
        yaml.safe_dump(doc, f, sort_keys=False, width=1000)
        rules_file = f.name
    try:
        out = subprocess.run(
            ["promtool", "check", "rules", rules_file], capture_output=True, text=True
        )
    finally:
        pathlib.Path(rules_file).unlink()
    if out.returncode != 0:
        problems.append("dashboard PromQL does not parse:\n" + out.stdout + out.stderr)


def check(deploy_dir):
    deploy = pathlib.Path(deploy_dir)
    metrics = load_metrics(deploy / "metrics.txt")
    problems = []
    dash_queries = []
    dashboards = sorted((deploy / "grafana").glob("*.json"))
    if not dashboards:
        problems.append(f"{deploy}/grafana: no dashboard")
    for path in dashboards:
        dash_queries += dashboard_queries(path, problems)
    all_queries = list(dash_queries)
    for path in sorted((deploy / "prometheus").glob("*.yml")):
        all_queries += list(rule_queries(path))
    for where, expr in all_queries:
        for name in unknown_metrics(metric_names(substitute_variables(expr)), metrics):
            problems.append(f"{where}: metric {name} is not in metrics.txt")
    if dash_queries:
        promtool_parse(dash_queries, problems)
    return problems, len(dash_queries), len(all_queries) - len(dash_queries)


def self_test():
    """The checker must catch what it claims to catch."""
    with tempfile.TemporaryDirectory() as d:
        root = pathlib.Path(d)
        (root / "grafana").mkdir()
        (root / "prometheus").mkdir()
        (root / "metrics.txt").write_text(
            "up gauge - x\nbridge_job_duration_seconds histogram kind x\n"
        )
        (root / "prometheus" / "alerts.yml").write_text(
            "groups: [{name: g, rules: [{alert: A, expr: 'absent(up) or bridge_unknown_total > 0'}]}]\n"
        )
        panel = lambda i, expr: {
            "id": i, "type": "timeseries", "title": f"p{i}", "gridPos": {},
            "targets": [{"refId": "A", "expr": expr}],
        }
        dash = {"panels": [
            panel(1, 'histogram_quantile(0.99, sum by (le) (rate(bridge_job_duration_seconds_bucket{job="$job"}[$__rate_interval])))'),
            panel(2, "sum(rate(up[5m])"),
            panel(3, "rate(bridge_made_up_total[5m]) * 2 + 1e3"),
        ]}
        (root / "grafana" / "d.json").write_text(json.dumps(dash))
        problems, _, _ = check(root)
    text = "\n".join(problems)
    expected = ["bridge_unknown_total", "bridge_made_up_total", "does not parse"]
    unexpected = ["bridge_job_duration_seconds_bucket", "metric up ", "metric e3", "metric le"]
    ok = all(e in text for e in expected) and not any(u in text for u in unexpected)
    if not ok:
        print("self-test of the query checker failed; it reported:\n" + text)
    return ok


def main(argv):
    args = [a for a in argv[1:] if a != "--self-test"]
    if "--self-test" in argv[1:] and not self_test():
        return 1
    if len(args) != 1:
        print(__doc__)
        return 2
    problems, n_dash, n_rules = check(args[0])
    for p in problems:
        print(p)
    if problems:
        return 1
    print(f"{n_dash} dashboard queries parse; {n_dash + n_rules} queries use only listed metrics")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
