#!/bin/sh
# The test driver behind `make test`: every cmocka binary given as an
# argument, then every tests/integration/*.sh in a temporary directory of
# its own, with a PostgreSQL server for the tests that need one.  Ends with
# "N passed, N failed" and exits non-zero on a failure.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
: "${CONVERGE:=$top/build/converge}"
export CONVERGE TOP="$top"
passed=0
failed=0
failures=""
tmp=$(mktemp -d "${TMPDIR:-/tmp}/converge-test.XXXXXX")
pg_dir=""
cleanup() {
	if [ -n "$pg_dir" ]; then
		sh "$top/tests/pg/harness.sh" stop "$pg_dir" >/dev/null 2>&1
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

count() {  # count FILE PATTERN -> number of lines matching
	grep -c "$2" "$1" 2>/dev/null || true
}

# PostgreSQL: one throwaway server (tests/pg/harness.sh) for the tests that
# need one, the unit tests test_postgres* and tests/integration/pg_*.sh,
# given to them in CONVERGE_TEST_PG_URL and stopped at the end whatever
# happens.  A server that cannot start counts as a failure, and the tests
# fail without it: they are never skipped.
unset CONVERGE_TEST_PG_URL CONVERGE_TEST_PG_DIR
needs_pg=false
for bin in "$@"; do
	case "$(basename "$bin")" in test_postgres*) needs_pg=true ;; esac
done
for t in "$top"/tests/integration/pg_*.sh; do
	[ -f "$t" ] && needs_pg=true
done
if $needs_pg; then
	if sh "$top/tests/pg/harness.sh" start >"$tmp/pg.env" 2>"$tmp/pg.err"; then
		. "$tmp/pg.env"
		pg_dir=$CONVERGE_TEST_PG_DIR
	else
		cat "$tmp/pg.err"
		failed=$((failed + 1))
		failures="$failures pg-harness"
		printf 'pg    %-28s %3d passed, %d failed\n' harness 0 1
	fi
fi

# A test that hangs fails on its own instead of holding up the whole run
# (CI allows 90 minutes; the suite takes a few).
unit_limit=${TEST_TIMEOUT_UNIT:-300}
integ_limit=${TEST_TIMEOUT_INTEGRATION:-900}

for bin in "$@"; do
	name=$(basename "$bin")
	out="$tmp/$name.out"
	timeout -k 10 "$unit_limit" "$bin" >"$out" 2>&1
	rc=$?
	[ "$rc" = 124 ] && echo "$name: killed after $unit_limit s (TEST_TIMEOUT_UNIT)" >>"$out"
	p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$out" | tail -n 1)
	f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$out" | tail -n 1)
	p=${p:-0}; f=${f:-0}
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
	passed=$((passed + p)); failed=$((failed + f))
	if [ "$f" -ne 0 ]; then
		failures="$failures $name"
		cat "$out"
	fi
	printf 'unit  %-28s %3d passed, %d failed\n' "$name" "$p" "$f"
done

for t in "$top"/tests/integration/*.sh; do
	[ -f "$t" ] || continue
	case "$(basename "$t")" in lib.sh) continue ;; esac
	name=$(basename "$t" .sh)
	dir="$tmp/$name"
	mkdir -p "$dir"
	out="$tmp/$name.out"
	(cd "$dir" && TESTDIR="$dir" timeout -k 10 "$integ_limit" sh "$t") >"$out" 2>&1
	rc=$?
	[ "$rc" = 124 ] && echo "not ok - $name killed after $integ_limit s (TEST_TIMEOUT_INTEGRATION)" >>"$out"
	p=$(count "$out" '^ok ')
	f=$(count "$out" '^not ok ')
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
		echo "not ok - $name exited $rc" >>"$out"
	fi
	passed=$((passed + p)); failed=$((failed + f))
	if [ "$f" -ne 0 ]; then
		failures="$failures $name"
		cat "$out"
	elif [ -n "${VERBOSE:-}" ]; then
		cat "$out"
	fi
	printf 'integ %-28s %3d passed, %d failed\n' "$name" "$p" "$f"
done

[ -n "$failures" ] && echo "failing:$failures"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
