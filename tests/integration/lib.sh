# Helpers for the integration tests, sourced by each tests/integration/*.sh.
# Each test runs in its own empty directory ($TESTDIR) and reports TAP-like
# lines: "ok - name" or "not ok - name" followed by what differed.
set -u
: "${CONVERGE:?CONVERGE must name the converge binary}"
: "${TOP:?TOP must name the source tree}"
FIX="$TOP/tests/fixtures"
export CONVERGE_NOW="${CONVERGE_NOW:-2026-11-23T12:00:00Z}"
export NO_COLOR=1
unset CONVERGE_DATABASE_URL

# cv ARGS...: runs converge; stdout in $OUT (file out.txt), stderr in
# err.txt, exit code in $RC.
cv() {
	"$CONVERGE" "$@" >out.txt 2>err.txt </dev/null
	RC=$?
	OUT=$(cat out.txt)
	ERR=$(cat err.txt)
}

pass() { echo "ok - $1"; }
fail() {
	echo "not ok - $1"
	shift
	for line in "$@"; do echo "#   $line"; done
	if [ -f out.txt ]; then sed -n '1,30s/^/#   stdout: /p' out.txt; fi
	if [ -f err.txt ]; then sed -n '1,30s/^/#   stderr: /p' err.txt; fi
}

# expect_rc NAME CODE: the last cv exited with CODE.
expect_rc() {
	if [ "$RC" -eq "$2" ]; then pass "$1"; else fail "$1" "exit $RC, expected $2"; fi
}

# expect_eq NAME ACTUAL EXPECTED
expect_eq() {
	if [ "$2" = "$3" ]; then pass "$1"; else fail "$1" "got:      $2" "expected: $3"; fi
}

# expect_in NAME FILE TEXT: FILE contains TEXT (fixed string).
expect_in() {
	if grep -qF -- "$3" "$2"; then pass "$1"; else fail "$1" "'$3' not in $2"; fi
}

# expect_not_in NAME FILE TEXT
expect_not_in() {
	if grep -qF -- "$3" "$2"; then fail "$1" "'$3' found in $2"; else pass "$1"; fi
}

# expect_same NAME FILE1 FILE2: identical contents.
expect_same() {
	if cmp -s "$2" "$3"; then pass "$1"; else
		fail "$1" "$2 and $3 differ:" "$(diff -u "$3" "$2" | head -40)"
	fi
}

# q DB SQL: one sqlite3 query, result on stdout.
q() { sqlite3 -batch -noheader "$1" "$2"; }

# dbsum DB: a digest of the database's application tables' content.
dbdump() { sqlite3 -batch "$1" .dump; }

# seed_tmws DB: the Alembic-managed TMWS database at e674ec434eeb.
seed_tmws() { sqlite3 "$1" < "$TOP/examples/tmws/seed.sql"; }

# appdata DB: the application's own tables, for before/after comparisons.
appdata() {
	sqlite3 -batch "$1" ".dump agents" ".dump memories" ".dump tasks"
}

# manifest FILE: writes standard input to FILE (creating its folder).
manifest() { mkdir -p "$(dirname "$1")"; cat >"$1"; }

# store_manifest DIR KEYS [GRANTS]: DIR/store.yaml alone in DIR, with the
# roles viewer and admin, the grants bound by store.grants {KEYS} (from
# line 4, column 11), and GRANTS (a grant of admin to a1 by default).
store_manifest() {
	set -- "$1" "$2" "${3-}"
	[ -n "$3" ] || set -- "$1" "$2" '[{subject: a1, role: admin}]'
	rm -rf "$1"
	manifest "$1/store.yaml" <<Y
version: 1
roles: {viewer: {}, admin: {}}
store:
  grants: {$2}
grants: $3
Y
}

# ---- PostgreSQL (the server tests/run.sh starts with tests/pg/harness.sh)

PGBIN=${CONVERGE_PG_BIN:-/usr/lib/postgresql/15/bin}

# pq DBURL SQL: one query, unaligned, no headers.
pq() { "$PGBIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 "$1" -c "$2"; }

# pg_db NAME: makes the database NAME on the test server and sets DB to
# its URL.  Without a server it fails the test (and returns 1): tests never
# skip PostgreSQL.
pg_db() {
	if [ -z "${CONVERGE_TEST_PG_URL:-}" ]; then
		fail "a PostgreSQL server to test against" \
			"CONVERGE_TEST_PG_URL is not set: tests/run.sh starts one with tests/pg/harness.sh"
		return 1
	fi
	pq "$CONVERGE_TEST_PG_URL" "CREATE DATABASE $1 TEMPLATE template0 ENCODING 'UTF8'" &&
		DB="$CONVERGE_TEST_PG_URL&dbname=$1"
}
