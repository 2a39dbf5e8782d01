#!/usr/bin/env bash
# Forward-auth and the gateway beside nginx, in one run (SPEC §11 budget, issue 13):
#   - nginx auth_request asking another nginx (the baseline) vs. asking gatehouse's
#     /v1/forward-auth with an API key, an access token and a session cookie;
#   - nginx proxy_pass to an app (the baseline) vs. gatehouse's gateway to the same app with an
#     API key and an access token;
#   - nginx `return 200` and GET /v1/auth/me with a JWT (the /me goal is a ratio to it).
#   bench/gateway.sh [sqlite|postgres] [duration, default 10s] [connections, default 16]
# The app is an nginx `return 200`. Every nginx here is one worker, keep-alive to its upstreams.
# Needs wrk and nginx (apt-get install wrk nginx), curl, python3; for postgres psql.
set -euo pipefail
cd "$(dirname "$0")/.."
DB=${1:-sqlite}
DURATION=${2:-10s}
CONNS=${3:-16}
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
source bench/lib.sh

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
APP=$(free_port); AUTHOK=$(free_port); FA_NGINX=$(free_port); FA_GH=$(free_port); PROXY=$(free_port)

cat >"$WORK/gatehouse.toml" <<EOF
[[gateway.routes]]
prefix = "/app"
auth = "required"
audit = "none"

[[gateway.routes]]
prefix = "/gw"
upstream = "http://127.0.0.1:$APP"
auth = "required"
audit = "none"
EOF

start_gatehouse GATEHOUSE_CONFIG="$WORK/gatehouse.toml" GATEHOUSE_TRUSTED_PROXIES=127.0.0.1/32
GH=${BASE#http://}

mkdir -p "$WORK/tmp"
cat >"$WORK/nginx.conf" <<EOF
daemon on;
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $WORK/tmp; proxy_temp_path $WORK/tmp; fastcgi_temp_path $WORK/tmp;
    uwsgi_temp_path $WORK/tmp; scgi_temp_path $WORK/tmp;
    upstream app { server 127.0.0.1:$APP; keepalive 64; }
    upstream authok { server 127.0.0.1:$AUTHOK; keepalive 64; }
    upstream gatehouse { server $GH; keepalive 64; }
    # The app, and the auth server of the baseline: both answer 200 at once.
    server { listen 127.0.0.1:$APP; location / { return 200 "ok"; } }
    server { listen 127.0.0.1:$AUTHOK; location / { return 200; } }
    # nginx auth_request asking another nginx, then proxy_pass to the app.
    server {
        listen 127.0.0.1:$FA_NGINX;
        location / {
            auth_request /_auth;
            proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection "";
        }
        location = /_auth {
            internal;
            proxy_pass http://authok/; proxy_http_version 1.1; proxy_set_header Connection "";
            proxy_pass_request_body off; proxy_set_header Content-Length "";
        }
    }
    # The same, asking gatehouse (the request described as deploy/nginx/gatehouse.conf does).
    server {
        listen 127.0.0.1:$FA_GH;
        location / {
            auth_request /_gatehouse;
            auth_request_set \$gh_user \$upstream_http_x_gatehouse_user;
            auth_request_set \$gh_assertion \$upstream_http_x_gatehouse_assertion;
            proxy_set_header X-Gatehouse-User \$gh_user;
            proxy_set_header X-Gatehouse-Assertion \$gh_assertion;
            proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection "";
        }
        location = /_gatehouse {
            internal;
            proxy_pass http://gatehouse/v1/forward-auth;
            proxy_http_version 1.1; proxy_set_header Connection "";
            proxy_pass_request_body off; proxy_set_header Content-Length "";
            proxy_set_header X-Forwarded-Method \$request_method;
            proxy_set_header X-Forwarded-Proto \$scheme;
            proxy_set_header X-Forwarded-Host \$host;
            proxy_set_header X-Forwarded-Uri \$request_uri;
            proxy_set_header X-Forwarded-For \$remote_addr;
        }
    }
    # Plain proxy_pass to the app: the gateway's baseline.
    server {
        listen 127.0.0.1:$PROXY;
        location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; }
    }
}
EOF
"$NGINX" -c "$WORK/nginx.conf" -p "$WORK" 2>>"$WORK/nginx-error.log"
sleep 0.3

PASSWORD="correct horse battery staple"
curl -sf "$BASE/v1/auth/signup" -H 'content-type: application/json' \
    -d "{\"email\":\"bench@example.com\",\"password\":\"$PASSWORD\"}" >/dev/null
LOGIN=$(curl -sf -D "$WORK/login.headers" "$BASE/v1/auth/login" -H 'content-type: application/json' \
    -d "{\"email\":\"bench@example.com\",\"password\":\"$PASSWORD\"}")
COOKIE=$(sed -n 's/^[Ss]et-[Cc]ookie: \([^;]*\);.*/\1/p' "$WORK/login.headers")
CSRF=$(echo "$LOGIN" | json '["csrf_token"]')
ORG=$(curl -sf "$BASE/v1/orgs" -H "Cookie: $COOKIE" -H "X-CSRF-Token: $CSRF" \
    -H 'content-type: application/json' -d '{"name":"Bench"}' | json '["id"]')
KEY=$(curl -sf "$BASE/v1/orgs/$ORG/api-keys" -H "Cookie: $COOKIE" -H "X-CSRF-Token: $CSRF" \
    -H 'content-type: application/json' -d '{"name":"bench","scopes":["tasks:read"]}' | json '["key"]')
JWT=$(curl -sf "$BASE/v1/auth/token" -H 'content-type: application/json' \
    -d "{\"grant_type\":\"password\",\"email\":\"bench@example.com\",\"password\":\"$PASSWORD\"}" \
    | json '["access_token"]')

# Every path must pass before it is measured: a 401 measured fast is no figure.
check() { local url=$1; shift; [ "$(curl -s -o /dev/null -w '%{http_code}' "$@" "$url")" = 200 ] \
    || { echo "not 200: $url" >&2; cat "$WORK/stderr.log" "$WORK/nginx-error.log" >&2; exit 1; }; }
check "http://127.0.0.1:$FA_GH/app/x" -H "Authorization: Bearer $KEY"
check "http://127.0.0.1:$FA_GH/app/x" -H "Cookie: $COOKIE"
check "$BASE/gw/x" -H "Authorization: Bearer $JWT"

echo "# gatehouse $DB at $BASE, wrk -t1 -c$CONNS -d$DURATION, $(nproc) cores, nginx $("$NGINX" -v 2>&1 | sed 's/.*\///')"
run() {
    local title=$1; shift
    echo "## $title"
    wrk -t1 -c"$CONNS" -d"$DURATION" --latency "$@" | grep -E "Requests/sec|  50%|  99%|Non-2xx"
}
run "nginx return 200" "http://127.0.0.1:$APP/x"
run "GET /v1/auth/me (access token)" -H "Authorization: Bearer $JWT" "$BASE/v1/auth/me"
run "nginx auth_request -> nginx (baseline)" "http://127.0.0.1:$FA_NGINX/app/x"
run "nginx auth_request -> gatehouse (API key)" -H "Authorization: Bearer $KEY" "http://127.0.0.1:$FA_GH/app/x"
run "nginx auth_request -> gatehouse (access token)" -H "Authorization: Bearer $JWT" "http://127.0.0.1:$FA_GH/app/x"
run "nginx auth_request -> gatehouse (session cookie)" -H "Cookie: $COOKIE" "http://127.0.0.1:$FA_GH/app/x"
run "nginx proxy_pass (baseline)" "http://127.0.0.1:$PROXY/x"
run "gatehouse gateway (API key)" -H "Authorization: Bearer $KEY" "$BASE/gw/x"
run "gatehouse gateway (access token)" -H "Authorization: Bearer $JWT" "$BASE/gw/x"
