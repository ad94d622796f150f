#!/usr/bin/env python3
"""Checks what the schemas cannot: the promises deploy/kubernetes makes to the operator.

- kustomization.yaml lists every manifest (except *.example.yaml, which must never be applied)
  and nothing else.
- Every secret reaches the pods through a secretKeyRef, in the bridge and the migrate container
  alike, and none sits in the ConfigMap.
- Liveness is /healthz, readiness /readyz; the pod runs as uid 10001, non-root, read-only root
  filesystem with an emptyDir at /tmp, ALL capabilities dropped, no privilege escalation; every
  container has requests and limits.
- terminationGracePeriodSeconds exceeds BRIDGE_SHUTDOWN_GRACE plus the preStop pause.
- The metrics port annotated for scraping is the port of BRIDGE_METRICS_LISTEN.
- A PodDisruptionBudget selects the Deployment's pods.

Usage: check_kubernetes.py DIR. Exit status 0 when everything holds, 1 otherwise.
"""

import pathlib
import re
import sys

import yaml

SECRETS = [
    "BRIDGE_DATABASE_URL",
    "BRIDGE_API_TOKEN",
    "DOCSPACE_API_KEY",
    "DOCSPACE_WEBHOOK_SECRET",
    "DROPBOX_APP_SECRET",
    "DROPBOX_REFRESH_TOKEN",
]


def seconds(text):
    m = re.fullmatch(r"(\d+)\s*(ms|s|m)?", text.strip())
    if not m:
        raise ValueError(f"cannot read the duration {text!r}")
    n, unit = int(m.group(1)), m.group(2) or "s"
    return {"ms": n / 1000, "s": n, "m": n * 60}[unit]


def main(directory):
    root = pathlib.Path(directory)
    problems = []
    docs = {}
    for path in sorted(root.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                docs.setdefault(doc["kind"], []).append((path.name, doc))

    listed = yaml.safe_load((root / "kustomization.yaml").read_text()).get("resources", [])
    applied = {p.name for p in root.glob("*.yaml")} - {"kustomization.yaml"}
    applied = {n for n in applied if not n.endswith(".example.yaml")}
    if set(listed) != applied:
        problems.append(
            f"kustomization.yaml resources {sorted(listed)} differ from the manifests {sorted(applied)}"
        )
    if any(n.endswith(".example.yaml") for n in listed):
        problems.append("kustomization.yaml applies an example file")

    config = {}
    for _, cm in docs.get("ConfigMap", []):
        config.update(cm.get("data", {}))
    for name in SECRETS:
        if name in config:
            problems.append(f"ConfigMap holds the secret {name}")

    deployments = docs.get("Deployment", [])
    if len(deployments) != 1:
        problems.append(f"expected one Deployment, found {len(deployments)}")
        return report(problems)
    _, dep = deployments[0]
    spec = dep["spec"]["template"]["spec"]
    labels = dep["spec"]["template"]["metadata"].get("labels", {})
    annotations = dep["spec"]["template"]["metadata"].get("annotations", {})
    containers = {c["name"]: c for c in spec.get("containers", [])}
    inits = {c["name"]: c for c in spec.get("initContainers", [])}
    bridge = containers.get("bridge")
    if bridge is None:
        problems.append("no container named bridge")
        return report(problems)
    if "migrate" not in inits or inits["migrate"].get("args") != ["migrate"]:
        problems.append("no migrate initContainer running `migrate`")

    if dep["spec"].get("replicas", 1) < 2:
        problems.append("the Deployment runs fewer than two replicas")
    for name, secret in docs.get("Secret", []):
        url = secret.get("stringData", {}).get("BRIDGE_DATABASE_URL", "")
        if not url.startswith("postgres"):
            problems.append(f"{name}: several replicas need a postgres:// BRIDGE_DATABASE_URL")

    for c in list(containers.values()) + list(inits.values()):
        where = f"container {c['name']}"
        refs = {
            e["name"]: e.get("valueFrom", {}).get("secretKeyRef")
            for e in c.get("env", [])
        }
        for name in SECRETS:
            ref = refs.get(name)
            if not ref or ref.get("key") != name:
                problems.append(f"{where}: {name} does not come from a secretKeyRef")
        for e in c.get("env", []):
            if "value" in e and e["name"] in SECRETS:
                problems.append(f"{where}: {e['name']} has a literal value")
        sc = c.get("securityContext", {})
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{where}: privilege escalation is not off")
        if sc.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{where}: root filesystem is not read-only")
        if sc.get("capabilities", {}).get("drop") != ["ALL"]:
            problems.append(f"{where}: capabilities are not all dropped")
        res = c.get("resources", {})
        for part in ("requests", "limits"):
            if not {"cpu", "memory"} <= set(res.get(part, {})):
                problems.append(f"{where}: no cpu and memory {part}")
        mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        if "emptyDir" not in volumes.get(mounts.get("/tmp", ""), {}):
            problems.append(f"{where}: /tmp is not an emptyDir")

    psc = spec.get("securityContext", {})
    if psc.get("runAsNonRoot") is not True or psc.get("runAsUser") != 10001:
        problems.append("the pod does not run as non-root uid 10001")

    def probe_path(name):
        return bridge.get(name, {}).get("httpGet", {}).get("path")

    if probe_path("livenessProbe") != "/healthz":
        problems.append("liveness probe is not /healthz")
    if probe_path("readinessProbe") != "/readyz":
        problems.append("readiness probe is not /readyz")

    grace = seconds(config.get("BRIDGE_SHUTDOWN_GRACE", "25s"))
    pre_stop = bridge.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
    pause = seconds(pre_stop[1]) if pre_stop[:1] == ["sleep"] and len(pre_stop) == 2 else 0
    termination = spec.get("terminationGracePeriodSeconds", 30)
    if termination <= grace + pause:
        problems.append(
            f"terminationGracePeriodSeconds {termination} is not above BRIDGE_SHUTDOWN_GRACE "
            f"{grace:g}s + preStop {pause:g}s"
        )

    metrics_listen = config.get("BRIDGE_METRICS_LISTEN", "")
    metrics_port = metrics_listen.rsplit(":", 1)[-1]
    ports = {p["name"]: p["containerPort"] for p in bridge.get("ports", [])}
    if annotations.get("prometheus.io/scrape") != "true":
        problems.append("the pod is not annotated prometheus.io/scrape: \"true\"")
    if not metrics_port or annotations.get("prometheus.io/port") != metrics_port:
        problems.append("prometheus.io/port is not the port of BRIDGE_METRICS_LISTEN")
    if str(ports.get("metrics")) != metrics_port:
        problems.append("the container's metrics port is not the port of BRIDGE_METRICS_LISTEN")

    pdbs = docs.get("PodDisruptionBudget", [])
    if not any(
        set(p["spec"]["selector"]["matchLabels"].items()) <= set(labels.items()) for _, p in pdbs
    ):
        problems.append("no PodDisruptionBudget selects the bridge's pods")
    for _, svc in docs.get("Service", []):
        if not set(svc["spec"].get("selector", {}).items()) <= set(labels.items()):
            problems.append(f"Service {svc['metadata']['name']} selects no bridge pod")
    return report(problems)


def report(problems):
    for p in problems:
        print(p)
    if not problems:
        print("kubernetes manifests keep their promises")
    return 1 if problems else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
