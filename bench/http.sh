#!/usr/bin/env bash
# Load over real HTTP with wrk, in one run against a release build on SQLite or PostgreSQL:
# GET /healthz, GET /v1/auth/me with an API key, an access token and a session cookie, a vault
# read (GET of a 1 KiB secret with an API key: opened and audited per request), a permission
# check (POST /v1/orgs/{org}/check with a `check` key, about a key holding a grant), and sign-in.
#   bench/http.sh [sqlite|postgres] [duration, default 10s] [connections, default 16]
#   RATE_BACKEND=database bench/http.sh postgres   (the rate limiter's shared backend)
# /healthz is never rate limited; every /v1 route is: the pair shows what limiting costs.
# Needs wrk (apt-get install wrk), curl, and for postgres psql on 127.0.0.1:5432.
set -euo pipefail
cd "$(dirname "$0")/.."
DB=${1:-sqlite}
DURATION=${2:-10s}
CONNS=${3:-16}
source bench/lib.sh
# Production Argon2 parameters; logs at info (the access log is part of every request's cost).
# RATE_BACKEND=database measures the shared backend.
start_gatehouse GATEHOUSE_RATE_LIMIT_BACKEND="${RATE_BACKEND:-memory}"
echo "# gatehouse $DB at $BASE, rate limits on the ${RATE_BACKEND:-memory} backend, wrk -t1 -c$CONNS -d$DURATION, $(nproc) cores"

for i in $(seq 0 15); do
    curl -sf "$BASE/v1/auth/signup" -H 'content-type: application/json' \
        -d "{\"email\":\"bench$i@example.com\",\"password\":\"correct horse battery staple\"}" >/dev/null
done
curl -sf "$BASE/v1/auth/signup" -H 'content-type: application/json' \
    -d '{"email":"bench@example.com","password":"correct horse battery staple"}' >/dev/null
LOGIN=$(curl -sf -D "$WORK/login.headers" "$BASE/v1/auth/login" -H 'content-type: application/json' \
    -d '{"email":"bench@example.com","password":"correct horse battery staple"}')
COOKIE=$(sed -n 's/^[Ss]et-[Cc]ookie: \([^;]*\);.*/\1/p' "$WORK/login.headers")
CSRF=$(echo "$LOGIN" | json '["csrf_token"]')
[ -n "$COOKIE" ] || { echo "login failed" >&2; exit 1; }
ORG=$(curl -sf "$BASE/v1/orgs" -H "Cookie: $COOKIE" -H "X-CSRF-Token: $CSRF" \
    -H 'content-type: application/json' -d '{"name":"Bench"}' | json '["id"]')
KEY=$(curl -sf "$BASE/v1/orgs/$ORG/api-keys" -H "Cookie: $COOKIE" -H "X-CSRF-Token: $CSRF" \
    -H 'content-type: application/json' -d '{"name":"bench","scopes":["tasks:read"]}' | json '["key"]')
SKEY=$(curl -sf "$BASE/v1/orgs/$ORG/api-keys" -H "Cookie: $COOKIE" -H "X-CSRF-Token: $CSRF" \
    -H 'content-type: application/json' -d '{"name":"vault","scopes":["secrets:read","secrets:write"]}' | json '["key"]')
CHECKER=$(curl -sf "$BASE/v1/orgs/$ORG/api-keys" -H "Cookie: $COOKIE" -H "X-CSRF-Token: $CSRF" \
    -H 'content-type: application/json' -d '{"name":"checker","scopes":["check"]}' | json '["key"]')
GRANTEE=$(curl -sf "$BASE/v1/orgs/$ORG/api-keys" -H "Cookie: $COOKIE" -H "X-CSRF-Token: $CSRF" \
    -H 'content-type: application/json' -d '{"name":"grantee","scopes":["tasks:read"]}' | json '["id"]')
curl -sf "$BASE/v1/orgs/$ORG/grants" -H "Cookie: $COOKIE" -H "X-CSRF-Token: $CSRF" \
    -H 'content-type: application/json' \
    -d "{\"resource\":\"page:1\",\"subject\":\"api_key:$GRANTEE\",\"capabilities\":[\"view\"]}" >/dev/null
export CHECK_SUBJECT="api_key:$GRANTEE"
VALUE=$(head -c 768 /dev/urandom | base64 -w0 | head -c 1024)
curl -sf -X PUT "$BASE/v1/orgs/$ORG/secrets/bench-1k" -H "Authorization: Bearer $SKEY" \
    -H 'content-type: application/json' -d "{\"value\":\"$VALUE\"}" >/dev/null

run() {
    local title=$1; shift
    echo "## $title"
    wrk -t1 -c"$CONNS" -d"$DURATION" --latency "$@" | tee "$WORK/wrk.txt" | grep -E "Requests/sec|  50%|  99%|Non-2xx"
}
JWT=$(curl -sf "$BASE/v1/auth/token" -H 'content-type: application/json' \
    -d '{"grant_type":"password","email":"bench@example.com","password":"correct horse battery staple"}' \
    | json '["access_token"]')

run "GET /healthz" "$BASE/healthz"
run "GET /v1/auth/me (API key)" -H "Authorization: Bearer $KEY" "$BASE/v1/auth/me"
run "GET /v1/auth/me (access token)" -H "Authorization: Bearer $JWT" "$BASE/v1/auth/me"
run "GET /v1/auth/me (session cookie)" -H "Cookie: $COOKIE" "$BASE/v1/auth/me"
run "GET /v1/orgs/{org}/secrets/{name} (API key, 1 KiB value)" -H "Authorization: Bearer $SKEY" "$BASE/v1/orgs/$ORG/secrets/bench-1k"
run "POST /v1/orgs/{org}/check (check key, a granted subject)" -s bench/check.lua \
    -H "Authorization: Bearer $CHECKER" "$BASE/v1/orgs/$ORG/check"
run "POST /v1/auth/login (Argon2id m=19456,t=2,p=1)" -s bench/login.lua "$BASE/v1/auth/login"
