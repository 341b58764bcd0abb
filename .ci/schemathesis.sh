#!/usr/bin/env bash
# Fuzzes the gateway's published OpenAPI document with schemathesis (PyPI, pinned, in a venv):
# the built gateway runs on the bundled CIC simulator (demo mode) with an API key, on a free
# port; every operation is exercised with generated valid and invalid requests and checked
# for no server error, only documented status codes and content types, and bodies matching
# the documented schemas; requests without the key must get 401, undeclared methods 405 with
# Allow. Bounded by --max-examples; exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
VENV=.cache/schemathesis-venv
if [ ! -x "$VENV/bin/st" ] || ! "$VENV/bin/st" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi
[ -f dist/main.js ] || npm run build

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
KEY=$(openssl rand -hex 24)
LOG=$(mktemp)
GATEWAY_API_KEYS="$KEY" HOST=127.0.0.1 PORT="$PORT" LOG_LEVEL=info SHUTDOWN_DELAY_SECONDS=0 SHUTDOWN_TIMEOUT_SECONDS=5 \
  node dist/main.js >"$LOG" 2>&1 &
GATEWAY=$!
cleanup () { kill "$GATEWAY" 2>/dev/null || true; wait "$GATEWAY" 2>/dev/null || true; rm -f "$LOG"; }
trap cleanup EXIT

for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$PORT/livez" >/dev/null 2>&1 && break
  sleep 0.1
done

# Store and forward (demo mode has an outbox): a few documents accepted with
# Prefer: respond-async, so the delivery routes also run on real ids (the OpenAPI links
# from GET /deliveries and from the 202 lead schemathesis's stateful phase to them).
for i in 1 2 3; do
  curl -fsS -o /dev/null -H "Authorization: Bearer $KEY" -H 'Prefer: respond-async' \
    -H 'Content-Type: application/octet-stream' --data-binary "schemathesis seed $i" \
    "http://127.0.0.1:$PORT/documents?filename=schemathesis-seed-$i.edi"
done

# --generation-database none: no example database is kept, so nothing from an earlier run
# in this clone is replayed (as on a fresh clone) and none is written into the work tree.
# Everything but positive_data_acceptance: OpenAPI cannot say "a filename is required, from
# ?filename=, Content-Disposition or the multipart part", so schema-valid requests without
# one are rightly refused with 400.
CHECKS=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance,negative_data_rejection,ignored_auth,missing_required_header,unsupported_method,allow_header_conformance
status=0
"$VENV/bin/st" run "http://127.0.0.1:$PORT/openapi.json" \
  --checks "${SCHEMATHESIS_CHECKS:-$CHECKS}" \
  --header "Authorization: Bearer $KEY" \
  --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-100}" \
  --seed 42 \
  --generation-database none \
  --workers 4 \
  --request-timeout 30 \
  --output-sanitize true \
  --report junit --report-dir .cache/schemathesis-report \
  || status=$?

# The fuzzed gateway's log must not hold the key it was called with.
if grep -qF "$KEY" "$LOG"; then
  echo "schemathesis: the API key appears in the gateway log" >&2
  status=1
fi

# What a run writes (.schemathesis/ crash cache, .hypothesis/ caches, the venv and report in
# .cache/) is ignored and must stay untracked, so a CI run leaves the clone clean.
tracked=$(git ls-files -- .schemathesis .hypothesis .cache 2>/dev/null || true)
if [ -n "$tracked" ]; then
  printf 'schemathesis: files this run rewrites are tracked by git (git rm --cached them):\n%s\n' "$tracked" >&2
  status=1
fi
exit "$status"
