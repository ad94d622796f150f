#!/usr/bin/env bash
# Validates everything in deploy/: the Prometheus alert rules (syntax and unit tests), the scrape
# configuration, the Grafana dashboard (JSON, every query parses, every metric is one the bridge
# exports: deploy/metrics.txt) and the Kubernetes manifests (schemas in strict mode, offline, and
# the promises they make). Installs promtool (Debian package `prometheus`) and a Python venv with
# kubernetes-validate under /tmp when missing; works on a fresh Debian machine as root.
# Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")"

KUBERNETES_VALIDATE_VERSION=1.37.0
# The oldest Kubernetes the manifests are checked against, and the newest the schemas know.
KUBERNETES_VERSIONS=(1.29.0 1.37.0)
VENV=/tmp/bridge-deploy-venv

log() { printf '\n--- deploy: %s\n' "$*"; }

apt_install() {
  if [ "$(id -u)" != 0 ]; then
    echo "deploy/check.sh: $* missing and not root to install it" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

log "tools"
if ! command -v promtool >/dev/null 2>&1; then
  apt_install prometheus
fi
promtool --version 2>&1 | sed -n 1p
if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' >/dev/null 2>&1; then
  apt_install python3-venv
fi
if ! "$VENV/bin/kubernetes-validate" --version 2>/dev/null | grep -F "$KUBERNETES_VALIDATE_VERSION" >/dev/null; then
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
fi
PY="$VENV/bin/python"

log "prometheus: alert rules"
promtool check rules prometheus/alerts.yml
promtool test rules prometheus/alerts_test.yml

log "prometheus: scrape configuration"
promtool check config prometheus/prometheus.yml

log "grafana and rules: queries parse and name only exported metrics"
"$PY" check_queries.py --self-test .

log "kubernetes: schemas (strict, offline)"
manifests=()
for f in kubernetes/*.yaml; do
  [ "$(basename "$f")" = kustomization.yaml ] || manifests+=("$f")
done
for version in "${KUBERNETES_VERSIONS[@]}"; do
  "$VENV/bin/kubernetes-validate" --strict --quiet -k "$version" "${manifests[@]}"
  echo "${#manifests[@]} manifests valid against Kubernetes $version"
done

log "kubernetes: what the manifests promise"
"$PY" check_kubernetes.py kubernetes

log "deploy checks passed"
