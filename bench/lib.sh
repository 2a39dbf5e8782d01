# Shared by the bench scripts: a scratch directory, a database of the chosen kind, a release
# gatehouse started on it, and the clean-up of all three. Source it after setting DB.
PG_ADMIN=${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
cargo build --release -q
BIN=$PWD/target/release/gatehouse
WORK=$(mktemp -d)
DBNAME=""
bench_cleanup() {
    [ -n "${PID:-}" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null || true
    [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
    [ -n "$DBNAME" ] && psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS $DBNAME WITH (FORCE)" || true
    rm -rf "$WORK"
}
trap bench_cleanup EXIT

case "$DB" in
    sqlite) URL="sqlite://$WORK/gatehouse.db" ;;
    postgres)
        DBNAME="gh_bench_$$"
        psql -q "$PG_ADMIN" -c "CREATE DATABASE $DBNAME"
        URL="${PG_ADMIN%/*}/$DBNAME" ;;
    *) echo "usage: $0 [sqlite|postgres] [duration] [connections]" >&2; exit 2 ;;
esac

# Starts gatehouse on $URL with limits far above what wrk sends and the extra environment given
# as arguments (NAME=value ...); sets PID and BASE.
start_gatehouse() {
    env -i PATH="$PATH" GATEHOUSE_DATABASE_URL="$URL" GATEHOUSE_SIGNUP=open \
        GATEHOUSE_RATE_LIMIT_AUTH=1000000000/1m GATEHOUSE_RATE_LIMIT_API=1000000000/1m \
        GATEHOUSE_SECRET="$(printf 'b%.0s' $(seq 1 43))" "$@" \
        "$BIN" serve --listen 127.0.0.1:0 >"$WORK/stdout.log" 2>"$WORK/stderr.log" &
    PID=$!
    for _ in $(seq 1 100); do
        grep -q "gatehouse listening on" "$WORK/stderr.log" 2>/dev/null && break
        sleep 0.1
    done
    BASE=$(sed -n 's/^gatehouse listening on //p' "$WORK/stderr.log")
}

json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
