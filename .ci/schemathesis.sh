#!/usr/bin/env bash
# schemathesis (`--checks all`) over the served /openapi.json, a bounded run: starts the gatehouse
# binary on SQLite on a loopback port, sets up an owner, an org and an API key through the API,
# then runs schemathesis twice, once signed in as the owner (session cookie + CSRF header) and
# once as the API key, and stops the server. Exits non-zero when schemathesis finds anything.
#
#   .ci/schemathesis.sh [path/to/gatehouse]     (default: target/debug/gatehouse, built first)
#   ST_MAX_EXAMPLES=N                            cases per operation and phase (default 10)
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${1:-}
if [ -z "$bin" ]; then
    # The binary `cargo test --workspace` builds (the same features, so nothing rebuilds).
    cargo build --quiet --workspace --all-targets
    bin=${CARGO_TARGET_DIR:-target}/debug/gatehouse
fi
command -v schemathesis >/dev/null 2>&1 || { echo "schemathesis: not installed" >&2; exit 1; }
max_examples=${ST_MAX_EXAMPLES:-10}

work=$(mktemp -d)
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

# The server, with test-sized hashing and limits that a fuzzer cannot exhaust.
env -u GATEHOUSE_SECRET \
    GATEHOUSE_DATABASE_URL="sqlite://$work/gatehouse.db" \
    GATEHOUSE_ARGON2="m=1024,t=1,p=1" \
    GATEHOUSE_RATE_LIMIT_AUTH="1000000/1m" \
    GATEHOUSE_RATE_LIMIT_API="1000000/1m" \
    GATEHOUSE_LOCKOUT="1000000/15m" \
    GATEHOUSE_LOG="warn" \
    "$bin" serve --listen 127.0.0.1:0 >"$work/stdout" 2>"$work/stderr" &
server_pid=$!
base=""
for _ in $(seq 1 300); do
    base=$(sed -n 's/^gatehouse listening on //p' "$work/stderr" | head -n1)
    [ -n "$base" ] && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/stderr" >&2; exit 1; }
    sleep 0.1
done
[ -n "$base" ] || { echo "schemathesis: gatehouse did not start" >&2; cat "$work/stderr" >&2; exit 1; }
token=$(sed -n 's/.*setup?token=//p' "$work/stderr" | head -n1)

# Owner, org, API key, through the API.
python3 - "$base" "$token" "$work" <<'EOF'
import json, sys, urllib.request
base, token, work = sys.argv[1:4]

def call(method, path, body=None, headers=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("content-type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    with urllib.request.urlopen(req) as r:
        return r.headers, json.loads(r.read() or b"null")

password = "correct horse battery staple"
_, setup = call("POST", "/v1/setup", {"token": token, "email": "owner@example.com",
                                      "password": password, "org_name": "Acme"})
org = setup["org"]["id"]
headers, login = call("POST", "/v1/auth/login", {"email": "owner@example.com", "password": password})
cookie = headers["set-cookie"].split(";")[0]
session = {"cookie": cookie, "x-csrf-token": login["csrf_token"]}
scopes = ["audit:read", "audit:write", "members:read", "introspect", "metrics:read", "check"]
_, key = call("POST", f"/v1/orgs/{org}/api-keys", {"name": "schemathesis", "scopes": scopes}, session)
open(f"{work}/cookie", "w").write(cookie)
open(f"{work}/csrf", "w").write(login["csrf_token"])
open(f"{work}/key", "w").write(key["key"])
EOF

# Each run authenticates through the document's own security schemes, so schemathesis knows which
# credential it holds (its ignored-auth check strips exactly that one). Operations that end the
# credential under test would leave the rest of the run anonymous. Forward-auth judges the request
# its headers describe, with rules a schema cannot state (X-Forwarded-* or else X-Original-*,
# ambiguous paths answering 400): it is tested against real proxies instead
# (tests/api/forward_auth*.rs). 422 is the documented answer
# to semantic validation a schema cannot state (a taken email, a weak password, an unknown
# scope), so schema-valid data may get it.
accept='expected-statuses = ["2xx", "401", "403", "404", "409", "422", "429"]'
printf '[auth.openapi.session]\napi_key = "%s"\n[auth.openapi.csrf]\napi_key = "%s"\n[checks.positive_data_acceptance]\n%s\n' \
    "$(cut -d= -f2- "$work/cookie")" "$(cat "$work/csrf")" "$accept" >"$work/owner.toml"
printf '[auth.openapi.api_key]\nbearer = "%s"\n[checks.positive_data_acceptance]\n%s\n' \
    "$(cat "$work/key")" "$accept" >"$work/api-key.toml"
run() {
    local name=$1
    echo "schemathesis: as $name"
    (cd "$work" && schemathesis --config-file "$work/$name.toml" run "$base/openapi.json" \
        --checks all \
        --max-examples "$max_examples" \
        --seed 11 \
        --workers 2 \
        --exclude-name 'POST /v1/auth/logout' \
        --exclude-name 'POST /v1/auth/logout-all' \
        --exclude-name 'GET /v1/forward-auth' \
        --suppress-health-check all)
}
status=0
run owner || status=1
run api-key || status=1
exit $status
