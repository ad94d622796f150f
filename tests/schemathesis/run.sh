#!/usr/bin/env bash
# Property-based test of the HTTP interface against openapi.yaml: schemathesis generates requests
# from the spec (valid and invalid ones) and sends them to a running
# `docspace-dropbox-bridge demo --keep-running` (the bridge on a temporary SQLite database with
# the DocSpace and Dropbox stand-ins), with every check on: each answer must be documented
# (status, content type, headers, body schema), valid input accepted, invalid input refused
# with 4xx, API routes refused without the token, a method a path does not list answered 405
# with Allow, and no 5xx.
#
#   tests/schemathesis/run.sh
#
# The webhook routes are included: hooks.py signs their requests with the demo's webhook
# secrets, so what they are tested on is their bodies and answers, not the signature check.
#
# Environment: BRIDGE_BIN (default target/debug/docspace-dropbox-bridge, built with the default
# `demo` feature), SCHEMATHESIS_VENV (default /tmp/bridge-schemathesis-venv; reused while it has
# the pinned version), PYTHON (default python3), MAX_EXAMPLES (default 50 per operation and
# phase), SEED (default 20260520), REPORT_DIR (JUnit report; default: a temporary directory,
# removed afterwards). Needs PyPI access the first time. Exits non-zero on any failure.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
bin="${BRIDGE_BIN:-$repo/target/debug/docspace-dropbox-bridge}"
venv="${SCHEMATHESIS_VENV:-/tmp/bridge-schemathesis-venv}"
python="${PYTHON:-python3}"
version="4.32.5"

log() { printf 'schemathesis: %s\n' "$*" >&2; }

[ -x "$bin" ] || { log "no bridge binary at $bin (cargo build first)"; exit 1; }
installed="$("$venv/bin/schemathesis" --version 2>/dev/null || true)"
if [ "$installed" != "schemathesis, version $version" ]; then
    log "installing schemathesis $version into $venv"
    "$python" -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$version"
fi

work="$(mktemp -d -t bridge-schemathesis.XXXXXX)"
demo_pid=""
cleanup() {
    if [ -n "$demo_pid" ] && kill -0 "$demo_pid" 2>/dev/null; then
        kill -TERM "$demo_pid" 2>/dev/null || true
        wait "$demo_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

log "starting $bin demo --keep-running"
"$bin" demo --keep-running >"$work/demo.out" 2>"$work/demo.err" &
demo_pid=$!
# The demo runs its walkthrough first, then prints the addresses, the token and the secrets.
for _ in $(seq 1 1200); do
    grep -q '^ *webhook secrets ' "$work/demo.out" 2>/dev/null && break
    if ! kill -0 "$demo_pid" 2>/dev/null; then
        log "the demo exited early:"
        cat "$work/demo.out" "$work/demo.err" >&2
        exit 1
    fi
    sleep 0.1
done
field() { sed -nE "s/^ *$1 +(\\S+).*/\\1/p" "$work/demo.out" | head -n1; }
url="$(field bridge)"
token="$(field 'API token')"
secrets="$(grep -m1 '^ *webhook secrets ' "$work/demo.out" || true)"
docspace_secret="$(sed -nE 's/.*DocSpace (\S+),.*/\1/p' <<<"$secrets")"
dropbox_secret="$(sed -nE 's/.*Dropbox app secret (\S+).*/\1/p' <<<"$secrets")"
if [ -z "$url" ] || [ -z "$token" ] || [ -z "$docspace_secret" ] || [ -z "$dropbox_secret" ]; then
    log "the demo did not print the bridge, the token and the secrets within 120 s:"
    cat "$work/demo.out" >&2
    exit 1
fi
log "bridge at $url"

# Run from the temporary directory: schemathesis and hypothesis keep caches in the current one.
# One worker: the run takes seconds, and several workers trip CPython 3.11's `ast` module
# (hypothesis parses lambdas from several threads).
started=$(date +%s)
status=0
(
    cd "$work"
    BRIDGE_DOCSPACE_WEBHOOK_SECRET="$docspace_secret" BRIDGE_DROPBOX_APP_SECRET="$dropbox_secret" \
    SCHEMATHESIS_HOOKS=hooks PYTHONPATH="$here" PYTHONDONTWRITEBYTECODE=1 \
        "$venv/bin/schemathesis" run "$repo/openapi.yaml" \
        --url "$url" \
        --header "Authorization: Bearer $token" \
        --checks all \
        --max-examples "${MAX_EXAMPLES:-50}" \
        --seed "${SEED:-20260520}" \
        --generation-database none \
        --workers 1 \
        --request-timeout 35 \
        --continue-on-failure \
        --no-color \
        --report junit --report-dir "${REPORT_DIR:-$work/report}"
) || status=$?
log "schemathesis finished in $(($(date +%s) - started)) s with exit status $status"
if [ "$status" -ne 0 ]; then
    log "bridge log (last 40 lines):"
    tail -n 40 "$work/demo.err" >&2
fi
exit "$status"
