#!/usr/bin/env bash
# Runs a command with a throwaway PostgreSQL server on a loopback port, and
# YHCONV_TEST_POSTGRES set to an admin URL for it (and YHCONV_TEST_PG_BIN to
# the server's binaries, for tests that run one of their own); stops and
# deletes the server afterwards. Installs Debian's postgresql package if it is missing
# (needs root). Usage: scripts/with-postgres.sh cargo test --workspace
set -euo pipefail

port="${YHCONV_PG_PORT:-55432}"

find_bin() {
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

bin="$(find_bin || true)"
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "PostgreSQL is not installed; install Debian's 'postgresql' package (or run as root)" >&2
        exit 1
    fi
    echo "== installing PostgreSQL from Debian's packages"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    bin="$(find_bin)"
fi

# initdb refuses to run as root: run the server as the 'postgres' system user then.
run_as=()
if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    run_as=(runuser -u postgres --)
fi

dir="$(mktemp -d /tmp/yhconv-pg.XXXXXX)"
chmod 755 "$dir"
[ "${#run_as[@]}" -gt 0 ] && chown postgres "$dir"
cleanup() {
    "${run_as[@]}" "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap cleanup EXIT

"${run_as[@]}" "$bin/initdb" -D "$dir/data" -U yhconv --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
"${run_as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=400 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    start >/dev/null
echo "== PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port"

export YHCONV_TEST_POSTGRES="postgres://yhconv@127.0.0.1:$port/postgres"
# For tests that start (and kill) a PostgreSQL server of their own.
export YHCONV_TEST_PG_BIN="$bin"
[ "${#run_as[@]}" -gt 0 ] && export YHCONV_TEST_PG_USER=postgres
"$@"
