#!/bin/sh
# The test driver behind `make test`: every cmocka binary given as an
# argument, then every tests/integration/*.sh in a temporary directory of
# its own.  Ends with "N passed, N failed" and exits non-zero on a failure.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
: "${CONVERGE:=$top/build/converge}"
export CONVERGE TOP="$top"
passed=0
failed=0
failures=""
tmp=$(mktemp -d "${TMPDIR:-/tmp}/converge-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

count() {  # count FILE PATTERN -> number of lines matching
	grep -c "$2" "$1" 2>/dev/null || true
}

for bin in "$@"; do
	name=$(basename "$bin")
	out="$tmp/$name.out"
	"$bin" >"$out" 2>&1
	rc=$?
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
	(cd "$dir" && TESTDIR="$dir" sh "$t") >"$out" 2>&1
	rc=$?
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
