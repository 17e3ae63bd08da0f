#!/bin/sh
# A throwaway PostgreSQL 15 server for the tests, and only for them.
#
#   eval "$(sh tests/pg/harness.sh start)"   # sets CONVERGE_TEST_PG_URL
#   ...                                     # and CONVERGE_TEST_PG_DIR
#   sh tests/pg/harness.sh stop [DIR]        # DIR defaults to $CONVERGE_TEST_PG_DIR
#
# `start` makes a temporary directory, runs initdb and pg_ctl there as the
# postgres OS user (the server refuses to run as root), listens on a unix
# socket in that directory and on no TCP port, creates a superuser role and
# a database for the tests, and prints the two shell assignments above.
# Durability is switched off: the data lives as long as the test run.
#
# Tests never connect to a server that was already running: the URL names
# the socket directory this script made.  If PostgreSQL 15 is not
# installed, `start` says so and fails; the callers fail with it rather
# than skip (`make deps` installs postgresql-15).
#
# pg_hba.conf trusts local connections, except for members of the role
# converge_pw_required, who must give their SCRAM password: the unit tests
# make such roles to check that a password is never shown, and that
# pg_dump gets it through its environment.
set -eu

PGBIN=${CONVERGE_PG_BIN:-/usr/lib/postgresql/15/bin}
ROLE=converge
DB=converge_test

die() {
	echo "tests/pg/harness.sh: $*" >&2
	exit 1
}

# as_pg CMD...: runs a command as the postgres OS user (when root).
as_pg() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

stop() {
	dir=${1:-${CONVERGE_TEST_PG_DIR:-}}
	[ -n "$dir" ] || die "stop: no directory (pass it or set CONVERGE_TEST_PG_DIR)"
	[ -f "$dir/.converge-pg-harness" ] ||
		die "stop: '$dir' was not made by this harness; not touching it"
	if [ -f "$dir/data/postmaster.pid" ]; then
		as_pg "$PGBIN/pg_ctl" -D "$dir/data" -m immediate -w stop \
			>/dev/null 2>&1 || true
	fi
	rm -rf "$dir"
}

start() {
	[ -x "$PGBIN/initdb" ] && [ -x "$PGBIN/pg_ctl" ] && [ -x "$PGBIN/psql" ] ||
		die "PostgreSQL 15 is not installed (no $PGBIN/initdb); run 'make deps' (Debian package postgresql-15)"
	if [ "$(id -u)" = 0 ]; then
		id postgres >/dev/null 2>&1 ||
			die "running as root, but there is no 'postgres' OS user to run the server"
	fi

	# A short path: the socket's full name must fit in 107 bytes.
	dir=$(mktemp -d "${TMPDIR:-/tmp}/cvpg.XXXXXX") ||
		die "cannot make a temporary directory"
	touch "$dir/.converge-pg-harness"
	# Whatever goes wrong from here on, nothing is left behind.
	trap 'stop "$dir" >/dev/null 2>&1 || rm -rf "$dir"' EXIT
	trap 'exit 1' INT TERM HUP

	# The server writes its socket here, and the tests (root or not)
	# connect through it.
	chmod 0755 "$dir"
	if [ "$(id -u)" = 0 ]; then
		chown postgres "$dir"
	fi
	as_pg test -w "$dir" ||
		die "the postgres user cannot write to '$dir' (set TMPDIR to a directory it can reach)"

	as_pg "$PGBIN/initdb" -D "$dir/data" -U postgres -E UTF8 \
		--locale=C --auth=trust --no-sync >"$dir/initdb.log" 2>&1 ||
		{ cat "$dir/initdb.log" >&2; die "initdb failed"; }
	cat >"$dir/data/pg_hba.conf" <<-EOF
	# Written by tests/pg/harness.sh: unix socket only.
	local all +converge_pw_required scram-sha-256
	local all all trust
	EOF
	chown postgres "$dir/data/pg_hba.conf" 2>/dev/null || true

	as_pg "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
		-o "-c listen_addresses='' -c unix_socket_directories='$dir' -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c password_encryption=scram-sha-256 -c max_connections=50" \
		start >/dev/null 2>&1 ||
		{ cat "$dir/server.log" >&2 2>/dev/null; die "the server did not start"; }

	"$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 \
		"host=$dir user=postgres dbname=postgres" >/dev/null <<-EOF ||
	CREATE ROLE $ROLE SUPERUSER LOGIN;
	CREATE ROLE converge_pw_required NOLOGIN;
	CREATE DATABASE $DB OWNER $ROLE;
	EOF
		die "cannot create the test role and database"

	trap - EXIT INT TERM HUP
	echo "CONVERGE_TEST_PG_URL='postgresql:///$DB?host=$dir&user=$ROLE'"
	echo "CONVERGE_TEST_PG_DIR='$dir'"
	echo "export CONVERGE_TEST_PG_URL CONVERGE_TEST_PG_DIR"
}

case "${1:-}" in
start) start ;;
stop) shift; stop "$@" ;;
*) echo "usage: $0 start | stop [DIR]" >&2; exit 64 ;;
esac
