#!/usr/bin/env bash
# Contract checks: decode the fakes' answers with the providers' official Python SDKs.
#
#   contract/run.sh            # venv + pip install, build and start bridge-fakes, run both checks
#
# Environment: CONTRACT_VENV (default target/contract-venv; reused between runs),
# PYTHON (default python3), CARGO (default cargo). Needs PyPI access on the first run.
# Exits non-zero if any check fails or cannot run.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
venv="${CONTRACT_VENV:-$repo/target/contract-venv}"
python="${PYTHON:-python3}"
cargo="${CARGO:-cargo}"

log() { printf 'contract: %s\n' "$*" >&2; }

if [ ! -x "$venv/bin/python" ]; then
    log "creating venv $venv"
    "$python" -m venv "$venv"
fi
log "installing contract/requirements.txt"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"

log "building bridge-fakes"
(cd "$repo" && "$cargo" build --quiet -p bridge-fakes)
target_dir="$(cd "$repo" && "$cargo" metadata --format-version 1 --no-deps 2>/dev/null \
    | "$venv/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])' \
    || echo "$repo/target")"
fakes_bin="$target_dir/debug/bridge-fakes"

out="$(mktemp -t bridge-fakes.XXXXXX)"
fakes_pid=""
cleanup() {
    if [ -n "$fakes_pid" ] && kill -0 "$fakes_pid" 2>/dev/null; then
        kill "$fakes_pid" 2>/dev/null || true
        wait "$fakes_pid" 2>/dev/null || true
    fi
    rm -f "$out"
}
trap cleanup EXIT

log "starting $fakes_bin"
"$fakes_bin" >"$out" &
fakes_pid=$!
for _ in $(seq 1 300); do
    grep -q '^FAKES_READY=1$' "$out" 2>/dev/null && break
    if ! kill -0 "$fakes_pid" 2>/dev/null; then
        log "bridge-fakes exited before it was ready"
        exit 1
    fi
    sleep 0.1
done
if ! grep -q '^FAKES_READY=1$' "$out"; then
    log "bridge-fakes did not print FAKES_READY=1 within 30 s"
    exit 1
fi

# Read KEY=value lines without eval'ing anything.
value() { sed -n "s/^$1=//p" "$out" | head -n 1; }
export DOCSPACE_URL DOCSPACE_API_KEY FAKE_DROPBOX_API_URL FAKE_DROPBOX_CONTENT_URL
DOCSPACE_URL="$(value DOCSPACE_URL)"
DOCSPACE_API_KEY="$(value DOCSPACE_API_KEY)"
FAKE_DROPBOX_API_URL="$(value DROPBOX_API_URL)"
FAKE_DROPBOX_CONTENT_URL="$(value DROPBOX_CONTENT_URL)"
log "DocSpace $DOCSPACE_URL, Dropbox $FAKE_DROPBOX_API_URL / $FAKE_DROPBOX_CONTENT_URL"

status=0
for check in docspace_sdk_check.py dropbox_sdk_check.py; do
    if [ ! -f "$here/$check" ]; then
        log "$check not present, skipped"
        continue
    fi
    log "running $check"
    if ! "$venv/bin/python" "$here/$check"; then
        log "$check FAILED"
        status=1
    fi
done

if [ "$status" -eq 0 ]; then
    log "all contract checks passed"
else
    log "some contract checks failed"
fi
exit "$status"
