#!/usr/bin/env bash
# Throwaway PostgreSQL and MariaDB servers on loopback for the SQL-source tests and benchmark.
#
#   scripts/testdb.sh run -- CMD...   start both, run CMD with DANGO_PG_URL and DANGO_MYSQL_URL
#                                     set, stop both (whatever CMD's outcome); exit with CMD's code
#   scripts/testdb.sh install         install the Debian packages when a server is missing
#
# The servers live in a temporary folder with their own data and sockets, on free ports, and
# never touch a system-wide instance. The packages come from Debian (apt-get, as root).
set -euo pipefail

PG_BIN=""
find_pg() {
	local d
	for d in /usr/lib/postgresql/*/bin; do
		[ -x "$d/initdb" ] && PG_BIN="$d"
	done
	[ -n "$PG_BIN" ]
}

install() {
	local pkgs=()
	find_pg || pkgs+=(postgresql)
	command -v mariadbd >/dev/null || pkgs+=(mariadb-server)
	[ ${#pkgs[@]} -eq 0 ] && return 0
	if [ "$(id -u)" != 0 ]; then
		echo "testdb: missing ${pkgs[*]}; install them (apt-get install ${pkgs[*]}) or run as root" >&2
		exit 1
	fi
	echo "testdb: installing ${pkgs[*]} from Debian's packages" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${pkgs[@]}" >/dev/null ||
		{ apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${pkgs[@]}" >/dev/null; }
	find_pg
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# as_db runs a server command as an unprivileged user: PostgreSQL refuses to run as root.
as_db() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

DIR=""
MY_PID=""
stop() {
	[ -n "$DIR" ] || return 0
	for d in pg pgk; do
		if [ -f "$DIR/$d/postmaster.pid" ]; then
			as_db "$PG_BIN/pg_ctl" -D "$DIR/$d" -m immediate stop >/dev/null 2>&1 || true
		fi
	done
	if [ -n "$MY_PID" ]; then
		kill "$MY_PID" 2>/dev/null || true
		for _ in $(seq 100); do kill -0 "$MY_PID" 2>/dev/null || break; sleep 0.1; done
	fi
	rm -rf "$DIR"
}

start() {
	install
	DIR=$(mktemp -d /tmp/dango-testdb.XXXXXX)
	chmod 755 "$DIR"
	local pgport myport pgkport
	pgport=$(free_port)
	myport=$(free_port)

	# PostgreSQL: fresh clusters, password auth on loopback only. The second one is for the
	# test that kills a server mid-sync: it gets stop (immediate, like a crash) and start scripts.
	mkdir "$DIR/pgrun"
	[ "$(id -u)" = 0 ] && chown postgres "$DIR/pgrun"
	echo dango >"$DIR/pgpass"
	chmod 644 "$DIR/pgpass"
	local d port opts
	for d in pg pgk; do
		# The main server trades durability for speed; the killable one must survive its crash.
		port=$pgport opts="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
		[ $d = pgk ] && port=$(free_port) && pgkport=$port && opts=""
		mkdir "$DIR/$d"
		[ "$(id -u)" = 0 ] && chown postgres "$DIR/$d"
		as_db "$PG_BIN/initdb" -D "$DIR/$d" -U dango --pwfile="$DIR/pgpass" -A scram-sha-256 -E UTF8 --locale=C.UTF-8 >/dev/null
		cat >"$DIR/$d-start" <<-EOF
			#!/bin/sh
			$( [ "$(id -u)" = 0 ] && echo "runuser -u postgres --" ) "$PG_BIN/pg_ctl" -D "$DIR/$d" -w -l "$DIR/pgrun/$d.log" -o "-c listen_addresses=127.0.0.1 -p $port -k $DIR/pgrun $opts" start >/dev/null
		EOF
		cat >"$DIR/$d-stop" <<-EOF
			#!/bin/sh
			$( [ "$(id -u)" = 0 ] && echo "runuser -u postgres --" ) "$PG_BIN/pg_ctl" -D "$DIR/$d" -m immediate stop >/dev/null
		EOF
		chmod +x "$DIR/$d-start" "$DIR/$d-stop"
		"$DIR/$d-start"
		PGPASSWORD=dango "$PG_BIN/psql" -q -h 127.0.0.1 -p "$port" -U dango -d postgres -c "CREATE DATABASE dango_test" >/dev/null
	done

	# MariaDB: a fresh data folder, a dango user with a password, loopback only.
	mariadb-install-db --no-defaults --datadir="$DIR/my" --user="$(id -un)" --auth-root-authentication-method=socket \
		--skip-test-db >"$DIR/my-install.log" 2>&1
	mariadbd --no-defaults --datadir="$DIR/my" --user="$(id -un)" --bind-address=127.0.0.1 --port="$myport" \
		--socket="$DIR/my.sock" --pid-file="$DIR/my.pid" --skip-log-bin --innodb-flush-log-at-trx-commit=0 \
		--log-error="$DIR/my.log" 2>>"$DIR/my.log" &
	MY_PID=$!
	for _ in $(seq 100); do [ -S "$DIR/my.sock" ] && break; sleep 0.1; done
	mariadb --no-defaults -S "$DIR/my.sock" -u root -e "CREATE DATABASE dango_test; CREATE USER 'dango'@'%' IDENTIFIED BY 'dango'; GRANT ALL ON *.* TO 'dango'@'%';"

	export DANGO_PG_URL="postgres://dango:dango@127.0.0.1:$pgport/dango_test?sslmode=disable"
	export DANGO_MYSQL_URL="mysql://dango:dango@127.0.0.1:$myport/dango_test"
	export DANGO_PG_BIN="$PG_BIN"
	export DANGO_PG_KILLABLE_URL="postgres://dango:dango@127.0.0.1:$pgkport/dango_test?sslmode=disable"
	export DANGO_PG_KILLABLE_STOP="$DIR/pgk-stop" DANGO_PG_KILLABLE_START="$DIR/pgk-start"
}

case "${1:-}" in
install)
	install
	;;
run)
	shift
	[ "${1:-}" = "--" ] && shift
	trap stop EXIT
	trap 'exit 143' TERM INT
	start
	echo "testdb: PostgreSQL $DANGO_PG_URL, MariaDB $DANGO_MYSQL_URL" >&2
	set +e
	"$@"
	code=$?
	set -e
	exit $code
	;;
*)
	echo "usage: $0 run -- CMD... | install" >&2
	exit 2
	;;
esac
