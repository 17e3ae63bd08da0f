#!/bin/sh
# The fuzz targets' seeds, replayed or fuzzed.
#
#   sh tests/fuzz/run.sh replay DIR            # DIR/fuzz_* built with replay.c
#   sh tests/fuzz/run.sh fuzz DIR SECONDS WORK # DIR/fuzz_* built with libFuzzer
#
# `replay` (make test) runs each target once over its seeds and prints a
# TAP-like line per target.  `fuzz` (make fuzz) runs each target for
# SECONDS with libFuzzer, its corpus in WORK/corpus/TARGET (seeded from the
# same files, and kept between runs), and any crash in WORK/crashes.
# A target's dictionary, when it has one, is tests/fuzz/dict/NAME.dict
# (fuzz_manifest: manifest.dict).
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)

# seeds TARGET: the files and folders a target starts from.
seeds() {
	case $1 in
	fuzz_manifest)
		echo "$top/manifests $top/examples $top/tests/fixtures/manifests" \
		     "$top/tests/fixtures/spec $top/tests/fuzz/corpus/manifest" ;;
	fuzz_plan) echo "$top/plans $top/tests/fuzz/corpus/plan" ;;
	fuzz_url) echo "$top/tests/fuzz/corpus/url" ;;
	fuzz_stmts) echo "$top/tests/fuzz/corpus/stmts" ;;
	fuzz_emit) echo "$top/tests/fuzz/corpus/emit" ;;
	fuzz_checkrows) echo "$top/tests/fuzz/corpus/checkrows" ;;
	*) echo "tests/fuzz/run.sh: no seeds for $1" >&2; return 1 ;;
	esac
}

targets() {
	for f in "$top"/tests/fuzz/fuzz_*.c; do basename "$f" .c; done
}

mode=${1:-}
dir=${2:-}
[ -n "$dir" ] || { echo "usage: $0 replay|fuzz DIR [SECONDS WORK]" >&2; exit 64; }
status=0
case $mode in
replay)
	for t in $(targets); do
		# shellcheck disable=SC2046 # seeds are paths without spaces
		if out=$("$dir/$t" $(seeds "$t") 2>&1); then
			echo "ok - $t replays its seeds ($out)"
		else
			echo "not ok - $t replays its seeds"
			printf '%s\n' "$out" | sed 's/^/#   /' | tail -40
			status=1
		fi
	done
	;;
fuzz)
	secs=${3:-60}
	work=${4:-$top/build/fuzz-work}
	mkdir -p "$work/crashes"
	for t in $(targets); do
		corpus=$work/corpus/$t
		mkdir -p "$corpus"
		dict=$top/tests/fuzz/dict/${t#fuzz_}.dict
		[ -f "$dict" ] && dict="-dict=$dict" || dict=
		echo "== $t: $secs s (corpus $corpus)"
		# shellcheck disable=SC2046,SC2086
		"$dir/$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
			-max_len=65536 -print_final_stats=1 $dict \
			-artifact_prefix="$work/crashes/$t-" \
			"$corpus" $(seeds "$t") || status=1
	done
	if [ -n "$(ls -A "$work/crashes")" ]; then
		echo "crashes (inputs in $work/crashes):"
		ls "$work/crashes"
		status=1
	fi
	;;
*)
	echo "usage: $0 replay|fuzz DIR [SECONDS WORK]" >&2
	exit 64
	;;
esac
exit $status
