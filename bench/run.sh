#!/bin/sh
# converge benchmarks: figures and ratios against raw-SQL lower bounds
# measured in the same run (see bench/README.md).
#
#   make bench                    (builds, then runs this script)
#   BUILD=build CONVERGE=$PWD/build/converge sh bench/run.sh
#
# Knobs (environment): BENCH_GRANTS (default 1000000), BENCH_REVISIONS
# (200), BENCH_REPS (3; best-of for the big cases), BENCH_CHAIN_REPS (7),
# BENCH_ORGS (100000; orgs of 20 modules in benchmark 4), BENCH_PG_GRANTS
# (200000; grants on PostgreSQL in benchmark 5, 0 to skip it).
#
# Speed targets never fail: the script prints whether each one is met and
# exits 0, unless a command crashed or gave a wrong answer (exit 1).
set -u

BUILD=${BUILD:-build}
CONVERGE=${CONVERGE:-$PWD/$BUILD/converge}
SEED=$(cd "$(dirname "$BUILD/bench/bench_seed")" && pwd)/bench_seed
N=${BENCH_GRANTS:-1000000}
REVS=${BENCH_REVISIONS:-200}
REPS=${BENCH_REPS:-3}
CHAIN_REPS=${BENCH_CHAIN_REPS:-7}
ORGS=${BENCH_ORGS:-100000}
PG_N=${BENCH_PG_GRANTS:-200000}
TOP=$(cd "$(dirname "$0")/.." && pwd)
CONVERGE_NOW=2026-11-23T12:00:00Z
export CONVERGE_NOW
unset CONVERGE_DATABASE_URL NO_COLOR 2>/dev/null || true

[ -x "$CONVERGE" ] || { echo "bench: $CONVERGE is not built" >&2; exit 1; }
[ -x "$SEED" ] || { echo "bench: $SEED is not built" >&2; exit 1; }

T=$(mktemp -d "${TMPDIR:-/tmp}/converge-bench.XXXXXX") || exit 1
# Benchmark 5's PostgreSQL server, stopped with everything else.
PGDIR=""
cleanup() {
	[ -z "$PGDIR" ] || sh "$TOP/tests/pg/harness.sh" stop "$PGDIR" >/dev/null 2>&1
	rm -rf "$T"
}
trap cleanup EXIT
trap 'cleanup; trap - EXIT; exit 130' INT TERM

# Others may relink build/ while this runs: measure private copies.
mkdir -p "$T/bin"
cp "$CONVERGE" "$T/bin/converge" && cp "$SEED" "$T/bin/bench_seed" || exit 1
CONVERGE=$T/bin/converge
SEED=$T/bin/bench_seed

FAILURES=0
MET=0
TARGETS=0
UNMET=""

fail() {
	echo "bench: FAILED: $*" >&2
	FAILURES=$((FAILURES + 1))
}

# What the later benchmarks need could not be made: stop here.
fatal() {
	fail "$*"
	echo "summary: stopped early; $MET of $TARGETS targets met; $FAILURES failure(s)"
	exit 1
}

# timed EXPECTED_RC CMD...: runs CMD with its output in $T/out and $T/err,
# sets WALL (seconds), RSS (peak KB) and CPU (user + system seconds); a
# different exit code is a failure.
timed() {
	_exp=$1
	shift
	# shellcheck disable=SC2046 # the four fields are split on purpose
	set -- $("$SEED" time -o "$T/out" -e "$T/err" -- "$@")
	WALL=${1:-0} RSS=${2:-0} RC=${3:-255} CPU=${4:-0}
	if [ "$RC" != "$_exp" ]; then
		fail "exit code $RC (expected $_exp)"
		tail -n 5 "$T/err" "$T/out" >&2
		return 1
	fi
	return 0
}

min() { awk -v a="$1" -v b="$2" 'BEGIN { print (a == "" || b + 0 < a + 0) ? b : a }'; }
max() { awk -v a="$1" -v b="$2" 'BEGIN { print (a == "" || b + 0 > a + 0) ? b : a }'; }

# verdict NAME OK: counts a target, sets V to "met" or "NOT met".
verdict() {
	TARGETS=$((TARGETS + 1))
	if [ "$2" = 1 ]; then
		MET=$((MET + 1))
		V="met"
	else
		UNMET="$UNMET${UNMET:+, }$1"
		V="NOT met"
	fi
}

# ratio_line LABEL CONVERGE_S RAW_S LIMIT TARGET_NAME CONVERGE_CPU RAW_CPU
ratio_line() {
	_ok=$(awk -v c="$2" -v r="$3" -v l="$4" 'BEGIN { print (c <= r * l) ? 1 : 0 }')
	verdict "$5" "$_ok"
	awk -v n="$1" -v c="$2" -v r="$3" -v l="$4" -v v="$V" -v cc="$6" -v rc="$7" 'BEGIN {
		printf "  %-34s converge %8.3f s   raw %8.3f s   ratio %6.2fx   target <= %.1fx  %-7s   cpu %.3f / %.3f s\n",
			n, c, r, c / r, l, v, cc, rc }'
}

# floor_line PARSE READ WRITES: the lower bound of an apply -m: libyaml's
# bare parse of the manifest, the raw read of the live rows and the raw
# writes, with nothing else (no tree, no diff, no journal).  Printed one
# after the other, and with parse and read overlapped on two CPUs; each as
# a ratio to the raw writes alone, which is what the targets compare with.
floor_line() {
	awk -v y="$1" -v r="$2" -v w="$3" 'BEGIN {
		m = y > r ? y : r
		printf "  %-34s          %8.3f s   parse %.3f + read %.3f + raw writes: %.2fx (overlapped: %.2fx)\n",
			"floor of any apply -m", y + r + w, y, r, (y + r + w) / w, (m + w) / w }'
}

echo "converge benchmarks: $("$CONVERGE" --version 2>/dev/null | head -n 1), $(nproc 2>/dev/null || echo '?') CPUs, $(sqlite3 --version 2>/dev/null | cut -d' ' -f1 | sed 's/^/SQLite CLI /')"
echo "  wall times (monotonic clock) are the best of several runs, and so is each CPU time"
echo "  (user + system, \"cpu converge / raw\"); peak RSS is the largest seen"
echo "  temp dir $T"
echo

# ---------------------------------------------------------------------
# 1. Schema chain: REVS revisions up and down, vs the same SQL in one
#    transaction run by a minimal C program (sqlite3_exec).
# ---------------------------------------------------------------------
C=$T/chain
mkdir -p "$C"
"$SEED" chain "$C/migrations" "$REVS" "$C/up.sql" "$C/down.sql" || fatal "chain generation"
printf 'version: 1\nschema: {migrations: migrations, version: head}\n' > "$C/up.yaml"
printf 'version: 1\nschema: {migrations: migrations, version: base}\n' > "$C/down.yaml"

cu="" cd_="" ru="" rd="" crss="" cuc="" cdc="" ruc="" rdc=""
i=0
while [ $i -lt "$CHAIN_REPS" ]; do
	rm -f "$C/c.db" "$C/r.db"
	timed 0 "$CONVERGE" apply -m "$C/up.yaml" --db "sqlite:$C/c.db" --auto-approve --no-snapshot &&
		cu=$(min "$cu" "$WALL") && cuc=$(min "$cuc" "$CPU") && crss=$(max "$crss" "$RSS")
	if [ $i = 0 ]; then
		timed 0 "$CONVERGE" plan -m "$C/up.yaml" --db "sqlite:$C/c.db" --detailed-exitcode ||
			fail "plan after the chain went up shows changes"
		n=$(sqlite3 "$C/c.db" "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name GLOB 't_[0-9]*'" 2>/dev/null || echo "$REVS")
		[ "$n" = "$REVS" ] || fail "chain up: $n tables instead of $REVS"
	fi
	timed 0 "$CONVERGE" apply -m "$C/down.yaml" --db "sqlite:$C/c.db" --auto-approve --no-snapshot &&
		cd_=$(min "$cd_" "$WALL") && cdc=$(min "$cdc" "$CPU") && crss=$(max "$crss" "$RSS")
	if [ $i = 0 ]; then
		timed 0 "$CONVERGE" plan -m "$C/down.yaml" --db "sqlite:$C/c.db" --detailed-exitcode ||
			fail "plan after the chain went down shows changes"
	fi
	timed 0 "$SEED" sqlrun "$C/r.db" "$C/up.sql" && ru=$(min "$ru" "$WALL") && ruc=$(min "$ruc" "$CPU")
	timed 0 "$SEED" sqlrun "$C/r.db" "$C/down.sql" && rd=$(min "$rd" "$WALL") && rdc=$(min "$rdc" "$CPU")
	i=$((i + 1))
done
echo "1. schema chain, $REVS revisions (CREATE TABLE + CREATE INDEX each; best of $CHAIN_REPS)"
if [ -n "$cu" ] && [ -n "$ru" ] && [ -n "$cd_" ] && [ -n "$rd" ]; then
	ratio_line "chain up ($REVS revisions)" "$cu" "$ru" 1.5 "chain up" "$cuc" "$ruc"
	ratio_line "chain down ($REVS revisions)" "$cd_" "$rd" 1.5 "chain down" "$cdc" "$rdc"
	vw=""
	for i in 1 2 3; do
		timed 0 "$CONVERGE" --version && vw=$(min "$vw" "$WALL")
	done
	awk -v r="$crss" 'BEGIN { printf "  %-34s converge %8.1f MB\n", "chain peak RSS", r / 1024 }'
	awk -v s="$vw" 'BEGIN { printf "  %-34s converge %8.3f s   (converge --version: part of every converge figure)\n", "process start", s }'
fi
echo

# ---------------------------------------------------------------------
# 2. No-op plan over N grants.
# ---------------------------------------------------------------------
G=$T/grants
mkdir -p "$G"
# shellcheck disable=SC2015 # fatal exits: any failure above stops here
"$SEED" manifest "$G/base.yaml" base "$N" &&
	"$SEED" manifest "$G/changed.yaml" changed "$N" &&
	"$SEED" roles-manifest "$G/roles.yaml" &&
	"$SEED" raw-sql "$G/raw.sql" "$N" || fatal "manifest generation"
SQLITE3=$(command -v sqlite3 || true)
# The database: converge creates its storage (roles and one grant), then
# the grants go straight into rbac_grants.
timed 0 "$CONVERGE" apply -m "$G/roles.yaml" --db "sqlite:$G/base.db" --auto-approve --no-snapshot ||
	fatal "creating the storage tables"
seed_s=$("$SEED" seed "$G/base.db" "$N") || fatal "seeding rbac_grants"
base_digest=$("$SEED" digest "$G/base.db") || fatal "reading the seeded database"

# Once: the same state built by converge itself from an empty database.
timed 0 "$CONVERGE" apply -m "$G/base.yaml" --db "sqlite:$G/full.db" --auto-approve --no-snapshot
full_s=$WALL full_rss=$RSS full_rc=$RC
if [ "$full_rc" = 0 ]; then
	d=$("$SEED" digest "$G/full.db")
	[ "$d" = "$base_digest" ] || fail "converge's own apply of the base manifest differs from the seeded database ($d vs $base_digest)"
fi
full_size=$(wc -c < "$G/full.db" 2>/dev/null || echo 0)
rm -f "$G/full.db"

pw="" prss="" rw="" yw="" pc="" rc2=""
i=0
while [ $i -lt "$REPS" ]; do
	if timed 0 "$CONVERGE" plan -m "$G/base.yaml" --db "sqlite:$G/base.db" --detailed-exitcode; then
		pw=$(min "$pw" "$WALL")
		pc=$(min "$pc" "$CPU")
		prss=$(max "$prss" "$RSS")
	else
		fail "no-op plan over $N grants is not empty (exit $RC)"
	fi
	timed 0 "$SEED" read "$G/base.db" && rw=$(min "$rw" "$WALL") && rc2=$(min "$rc2" "$CPU")
	y=$("$SEED" yaml "$G/base.yaml" | cut -d' ' -f1) && yw=$(min "$yw" "$y")
	i=$((i + 1))
done
ymb=$(awk -v b="$(wc -c < "$G/base.yaml")" 'BEGIN { printf "%.1f", b / 1048576 }')
echo "2. no-op plan over $N grants (manifest $ymb MB; best of $REPS)"
if [ -n "$pw" ] && [ -n "$rw" ]; then
	ok_t=$(awk -v w="$pw" 'BEGIN { print (w < 2.0) ? 1 : 0 }')
	ok_m=$(awk -v m="$prss" 'BEGIN { print (m / 1024 < 400) ? 1 : 0 }')
	verdict "plan time" "$ok_t"
	v_t=$V
	verdict "plan RSS" "$ok_m"
	v_m=$V
	awk -v w="$pw" -v v="$v_t" -v c="$pc" 'BEGIN { printf "  %-34s converge %8.3f s   %37s target < 2 s     %-7s   cpu %.3f s\n", "plan (no changes), wall", w, "", v, c }'
	awk -v m="$prss" -v v="$v_m" 'BEGIN { printf "  %-34s converge %8.1f MB  %37s target < 400 MB  %s\n", "plan (no changes), peak RSS", m / 1024, "", v }'
	awk -v w="$pw" -v r="$rw" -v c="$pc" -v rc="$rc2" 'BEGIN { printf "  %-34s converge %8.3f s   raw %8.3f s   ratio %6.2fx   (no target)              cpu %.3f / %.3f s\n", "plan vs raw SELECT of every row", w, r, w / r, c, rc }'
	awk -v y="$yw" 'BEGIN { printf "  %-34s          %8.3f s   (in-process, events only, no tree)\n", "libyaml bare parse of the manifest", y }'
fi
awk -v c="$full_s" -v m="$full_rss" -v s="$seed_s" -v z="$full_size" 'BEGIN {
	printf "  %-34s converge %8.3f s   raw %8.3f s   ratio %6.2fx   (no target, 1 run; raw: in-process INSERTs)\n", "build: apply empty -> all grants", c, s, c / s
	printf "  %-34s converge %8.1f MB  (database %.0f MB with its journal)\n", "build: apply peak RSS", m / 1024, z / 1048576 }'
echo

# ---------------------------------------------------------------------
# 3. Apply the changed set (N/10 revoked, N/10 added) onto the N grants.
# ---------------------------------------------------------------------
aw="" arss="" rw3="" sw="" srss="" bw="" ac="" rc3="" sc="" yc="" qw="" qc=""
i=0
while [ $i -lt "$REPS" ]; do
	cp "$G/base.db" "$G/w.db"
	if timed 0 "$CONVERGE" apply -m "$G/changed.yaml" --db "sqlite:$G/w.db" --auto-approve --no-snapshot; then
		aw=$(min "$aw" "$WALL")
		ac=$(min "$ac" "$CPU")
		arss=$(max "$arss" "$RSS")
		if [ $i = 0 ]; then
			timed 0 "$CONVERGE" plan -m "$G/changed.yaml" --db "sqlite:$G/w.db" --detailed-exitcode ||
				fail "plan after applying the changed set shows changes"
			conv_digest=$("$SEED" digest "$G/w.db")
		fi
	fi
	rm -f "$G/w.db"
	cp "$G/base.db" "$G/r.db"
	if timed 0 "$SEED" raw-apply "$G/r.db" "$N"; then
		rw3=$(min "$rw3" "$WALL")
		rc3=$(min "$rc3" "$CPU")
		if [ $i = 0 ]; then
			raw_digest=$("$SEED" digest "$G/r.db")
			[ "$conv_digest" = "$raw_digest" ] ||
				fail "converge and the raw SQL left different rbac_grants ($conv_digest vs $raw_digest)"
		fi
	fi
	rm -f "$G/r.db"
	# For information: the same writes as one batched SQL script, run by
	# the sqlite3 shell (it parses the SQL text; the bound above does not).
	if [ -n "$SQLITE3" ]; then
		cp "$G/base.db" "$G/q.db"
		if timed 0 "$SQLITE3" -bail "$G/q.db" ".read $G/raw.sql"; then
			qw=$(min "$qw" "$WALL")
			qc=$(min "$qc" "$CPU")
			if [ $i = 0 ]; then
				q_digest=$("$SEED" digest "$G/q.db")
				[ "$q_digest" = "$raw_digest" ] ||
					fail "the raw SQL script and the raw C writes left different rbac_grants ($q_digest vs $raw_digest)"
			fi
		fi
		rm -f "$G/q.db"
	fi
	# The same apply with its snapshot (the default: beside the file).
	cp "$G/base.db" "$G/s.db"
	if timed 0 "$CONVERGE" apply -m "$G/changed.yaml" --db "sqlite:$G/s.db" --auto-approve; then
		sw=$(min "$sw" "$WALL")
		sc=$(min "$sc" "$CPU")
		srss=$(max "$srss" "$RSS")
		ls "$G/.converge/snapshots/"s-*.db >/dev/null 2>&1 || fail "apply took no snapshot"
	fi
	rm -rf "$G/s.db" "$G/.converge" "$G/b.db"
	y=$("$SEED" yaml "$G/changed.yaml" | cut -d' ' -f1) && yc=$(min "$yc" "$y")
	timed 0 "$SEED" backup "$G/base.db" "$G/b.db" && bw=$(min "$bw" "$WALL")
	rm -f "$G/b.db"
	i=$((i + 1))
done

# Undoing a run should cost about what the run did: rollback of an apply
# of the same shape at a tenth of the size (N/100 revokes + N/100 adds).
S=$T/small
NS=$((N / 10))
mkdir -p "$S"
rbw="" rba=""
if "$SEED" manifest "$S/base.yaml" base "$NS" &&
	"$SEED" manifest "$S/changed.yaml" changed "$NS" &&
	"$CONVERGE" apply -m "$G/roles.yaml" --db "sqlite:$S/x.db" --auto-approve --no-snapshot -q &&
	"$SEED" seed "$S/x.db" "$NS" >/dev/null; then
	small_digest=$("$SEED" digest "$S/x.db")
	timed 0 "$CONVERGE" apply -m "$S/changed.yaml" --db "sqlite:$S/x.db" --auto-approve --no-snapshot &&
		rba=$WALL &&
		timed 0 "$CONVERGE" rollback --db "sqlite:$S/x.db" --auto-approve --no-snapshot &&
		rbw=$WALL
	if [ -n "$rbw" ]; then
		d=$("$SEED" digest "$S/x.db")
		[ "$d" = "$small_digest" ] || fail "rollback did not restore rbac_grants ($d vs $small_digest)"
	fi
else
	fail "building the rollback case"
fi
rm -rf "$S"

# The reviewed-plan flow at full size, once (no target): the plan saved
# with -o and applied as it stands, and the same plan as JSON.
spw="" sprss="" spsize="" saw="" sarss="" sjw="" sjrss="" sjsize=""
if timed 0 "$CONVERGE" plan -m "$G/changed.yaml" --db "sqlite:$G/base.db" -o "$G/plan.yaml"; then
	spw=$WALL sprss=$RSS spsize=$(wc -c < "$G/plan.yaml")
	cp "$G/base.db" "$G/f.db"
	if timed 0 "$CONVERGE" apply "$G/plan.yaml" --db "sqlite:$G/f.db" --auto-approve --no-snapshot; then
		saw=$WALL sarss=$RSS
		d=$("$SEED" digest "$G/f.db")
		[ "$d" = "$conv_digest" ] ||
			fail "the saved plan left another rbac_grants than apply -m ($d vs $conv_digest)"
	fi
	rm -f "$G/f.db" "$G/plan.yaml"
fi
if timed 0 "$CONVERGE" plan -m "$G/changed.yaml" --db "sqlite:$G/base.db" --format json; then
	sjw=$WALL sjrss=$RSS sjsize=$(wc -c < "$T/out")
	# One line "    {" opens each step.
	[ "$(grep -c '^    {$' "$T/out")" = $((N / 5)) ] ||
		fail "plan --format json does not hold $((N / 5)) steps"
fi

echo "3. apply $((N / 10)) revokes + $((N / 10)) new grants onto $N (best of $REPS)"
if [ -n "$aw" ] && [ -n "$rw3" ]; then
	ratio_line "apply --no-snapshot" "$aw" "$rw3" 1.5 "apply" "$ac" "$rc3"
	awk -v m="$arss" 'BEGIN { printf "  %-34s converge %8.1f MB\n", "apply peak RSS", m / 1024 }'
	# What any apply -m must do before and besides the writes: parse the
	# manifest with libyaml and read the live rows.  Their sum with the
	# raw writes is a floor no implementation of the SPEC goes under.
	[ -n "$yc" ] && [ -n "$rw" ] && floor_line "$yc" "$rw" "$rw3"
fi
if [ -n "$qw" ] && [ -n "$aw" ]; then
	awk -v c="$aw" -v q="$qw" -v cc="$ac" -v qc="$qc" 'BEGIN {
		printf "  %-34s converge %8.3f s   raw %8.3f s   ratio %6.2fx   (no target; raw: sqlite3 shell)  cpu %.3f / %.3f s\n",
			"vs the writes as a batched script", c, q, c / q, cc, qc }'
fi
if [ -n "$sw" ] && [ -n "$aw" ]; then
	awk -v s="$sw" -v a="$aw" -v m="$srss" -v b="$bw" -v sc="$sc" -v ac="$ac" 'BEGIN {
		printf "  %-34s converge %8.3f s   snapshot cost %+.3f s wall, %+.3f s cpu (raw backup API copy %.3f s)\n",
			"apply with snapshot (default)", s, s - a, sc - ac, b
		printf "  %-34s converge %8.1f MB\n", "apply with snapshot, peak RSS", m / 1024 }'
fi
if [ -n "$rbw" ] && [ -n "$rba" ]; then
	awk -v r="$rbw" -v a="$rba" -v n="$((NS / 5))" 'BEGIN {
		printf "  %-34s converge %8.3f s   its apply %6.3f s   ratio %6.2fx   (no target, 1 run)\n",
			"rollback of a " n "-step run", r, a, r / a }'
fi
if [ -n "$spw" ]; then
	awk -v w="$spw" -v m="$sprss" -v z="$spsize" 'BEGIN {
		printf "  %-34s converge %8.3f s   %6.1f MB peak RSS   (no target, 1 run; the file is %.0f MB)\n",
			"saved plan: plan -o FILE", w, m / 1024, z / 1048576 }'
fi
if [ -n "$saw" ]; then
	awk -v w="$saw" -v m="$sarss" 'BEGIN {
		printf "  %-34s converge %8.3f s   %6.1f MB peak RSS   (no target, 1 run)\n",
			"saved plan: apply FILE", w, m / 1024 }'
fi
if [ -n "$sjw" ]; then
	awk -v w="$sjw" -v m="$sjrss" -v z="$sjsize" 'BEGIN {
		printf "  %-34s converge %8.3f s   %6.1f MB peak RSS   (no target, 1 run; %.0f MB of JSON)\n",
			"plan --format json", w, m / 1024, z / 1048576 }'
fi
echo

# ---------------------------------------------------------------------
# 4. Entitlements: no-op plan over ORGS orgs x 20 modules, then one plan
#    gains one module (ORGS/10 orgs gain a row and an event).
# ---------------------------------------------------------------------
E=$T/ent
mkdir -p "$E"
# shellcheck disable=SC2015 # fatal exits: any failure above stops here
"$SEED" ent-manifest "$E/base.yaml" base "$ORGS" &&
	"$SEED" ent-manifest "$E/changed.yaml" changed "$ORGS" || fatal "entitlements manifest generation"
# The database: converge's own apply of the whole manifest (timed, once).
timed 0 "$CONVERGE" apply -m "$E/base.yaml" --db "sqlite:$E/base.db" --auto-approve --no-snapshot ||
	fatal "building the entitlements database"
eb_s=$WALL eb_rss=$RSS eb_c=$CPU
eb_size=$(wc -c < "$E/base.db" 2>/dev/null || echo 0)
n=$(sqlite3 "$E/base.db" "SELECT count(*) FROM ent_org_modules" 2>/dev/null || echo $((ORGS * 20)))
[ "$n" = $((ORGS * 20)) ] || fail "entitlements build: $n ent_org_modules rows instead of $((ORGS * 20))"

epw="" eprss="" epc="" eaw="" earss="" eac="" erw="" erc="" erd="" eyc=""
i=0
while [ $i -lt "$REPS" ]; do
	if timed 0 "$CONVERGE" plan -m "$E/base.yaml" --db "sqlite:$E/base.db" --detailed-exitcode; then
		epw=$(min "$epw" "$WALL")
		epc=$(min "$epc" "$CPU")
		eprss=$(max "$eprss" "$RSS")
	else
		fail "no-op plan over $ORGS orgs is not empty (exit $RC)"
	fi
	cp "$E/base.db" "$E/w.db"
	if timed 0 "$CONVERGE" apply -m "$E/changed.yaml" --db "sqlite:$E/w.db" --auto-approve --no-snapshot; then
		eaw=$(min "$eaw" "$WALL")
		eac=$(min "$eac" "$CPU")
		earss=$(max "$earss" "$RSS")
		if [ $i = 0 ]; then
			timed 0 "$CONVERGE" plan -m "$E/changed.yaml" --db "sqlite:$E/w.db" --detailed-exitcode ||
				fail "plan after applying the changed entitlements shows changes"
			ent_conv=$("$SEED" ent-digest "$E/w.db")
		fi
	fi
	rm -f "$E/w.db"
	cp "$E/base.db" "$E/r.db"
	if timed 0 "$SEED" ent-raw-apply "$E/r.db" "$ORGS"; then
		erw=$(min "$erw" "$WALL")
		erc=$(min "$erc" "$CPU")
		if [ $i = 0 ]; then
			ent_raw=$("$SEED" ent-digest "$E/r.db")
			[ "$ent_conv" = "$ent_raw" ] ||
				fail "converge and the raw SQL left different entitlements ($ent_conv vs $ent_raw)"
		fi
	fi
	rm -f "$E/r.db"
	timed 0 "$SEED" ent-read "$E/base.db" && erd=$(min "$erd" "$WALL")
	y=$("$SEED" yaml "$E/changed.yaml" | cut -d' ' -f1) && eyc=$(min "$eyc" "$y")
	i=$((i + 1))
done
ymb=$(awk -v b="$(wc -c < "$E/base.yaml")" 'BEGIN { printf "%.1f", b / 1048576 }')
echo "4. entitlements: $ORGS orgs x 20 modules ($((ORGS * 20)) rows, manifest $ymb MB; best of $REPS)"
if [ -n "$epw" ]; then
	ok_t=$(awk -v w="$epw" 'BEGIN { print (w < 3.0) ? 1 : 0 }')
	verdict "entitlements plan time" "$ok_t"
	awk -v w="$epw" -v v="$V" -v c="$epc" 'BEGIN { printf "  %-34s converge %8.3f s   %37s target < 3 s     %-7s   cpu %.3f s\n", "plan (no changes), wall", w, "", v, c }'
	awk -v m="$eprss" 'BEGIN { printf "  %-34s converge %8.1f MB\n", "plan (no changes), peak RSS", m / 1024 }'
fi
if [ -n "$eaw" ] && [ -n "$erw" ]; then
	ratio_line "apply: a plan gains 1 module" "$eaw" "$erw" 1.5 "entitlements apply" "$eac" "$erc"
	awk -v m="$earss" -v o="$((ORGS / 10))" 'BEGIN { printf "  %-34s converge %8.1f MB  (%d orgs gain a row and an event)\n", "apply peak RSS", m / 1024, o }'
	[ -n "$eyc" ] && [ -n "$erd" ] && floor_line "$eyc" "$erd" "$erw"
fi
awk -v c="$eb_s" -v cc="$eb_c" -v m="$eb_rss" -v z="$eb_size" 'BEGIN {
	printf "  %-34s converge %8.3f s   (no target, 1 run)                                        cpu %.3f s\n", "build: apply empty -> all orgs", c, cc
	printf "  %-34s converge %8.1f MB  (database %.0f MB with its journal)\n", "build: apply peak RSS", m / 1024, z / 1048576 }'
rm -rf "$E"
echo

# ---------------------------------------------------------------------
# 5. PostgreSQL: the no-op plan and the apply of benchmark 3 at PG_N
#    grants, against psql doing the same reads and writes as COPY and one
#    DELETE (no target: how far converge's batches are from raw SQL).
# ---------------------------------------------------------------------
# pgq DB SQL: one psql command on database DB of the bench server.
pgq() { psql -X -q -At -v ON_ERROR_STOP=1 "$(pg_url "$1")" -c "$2"; }
pg_url() { printf '%s' "$PG_URL" | sed "s|:///[^?]*?|:///$1?|"; }
# pgdigest DB: the content of rbac_grants, as one md5.
pgdigest() {
	pgq "$1" "SELECT count(*) || ' ' || md5(string_agg(concat_ws('|', subject, role, scope, expires_at, reason), ',' ORDER BY subject, role, scope)) FROM rbac_grants"
}
pg_bench() {
	P=$T/pg
	mkdir -p "$P"
	env=$(sh "$TOP/tests/pg/harness.sh" start 2>"$P/harness.err") || {
		echo "5. PostgreSQL: skipped, no server could be started:"
		sed 's/^/  /' "$P/harness.err"
		return 0
	}
	eval "$env"
	PGDIR=$CONVERGE_TEST_PG_DIR PG_URL=$CONVERGE_TEST_PG_URL
	"$SEED" manifest "$P/base.yaml" base "$PG_N" &&
		"$SEED" manifest "$P/changed.yaml" changed "$PG_N" &&
		"$SEED" roles-manifest "$P/roles.yaml" &&
		"$SEED" grants-tsv "$P/base.tsv" base "$PG_N" &&
		"$SEED" grants-tsv "$P/revoked.tsv" revoked "$PG_N" &&
		"$SEED" grants-tsv "$P/added.tsv" added "$PG_N" || fatal "PostgreSQL inputs"
	# The base database: converge's storage, then the grants by COPY.
	pgq converge_test "CREATE DATABASE bench_base" &&
		"$CONVERGE" apply -m "$P/roles.yaml" --db "$(pg_url bench_base)" --auto-approve --no-snapshot -q &&
		psql -X -q -v ON_ERROR_STOP=1 "$(pg_url bench_base)" \
			-c "DELETE FROM rbac_grants" -c "\copy rbac_grants (subject, role, scope, expires_at, reason) FROM '$P/base.tsv'" -c "VACUUM ANALYZE rbac_grants" ||
		fatal "seeding the PostgreSQL database"
	cat >"$P/raw.sql" <<-EOF
	BEGIN;
	CREATE TEMP TABLE gone (subject text, role text, scope text, expires_at text, reason text) ON COMMIT DROP;
	\copy gone FROM '$P/revoked.tsv'
	DELETE FROM rbac_grants g USING gone d WHERE g.subject = d.subject AND g.role = d.role AND g.scope = d.scope;
	\copy rbac_grants (subject, role, scope, expires_at, reason) FROM '$P/added.tsv'
	COMMIT;
	EOF
	ppw="" ppc="" pprss="" rdw="" paw="" pac="" parss="" prw="" trips=""
	i=0
	while [ $i -lt "$REPS" ]; do
		if timed 0 "$CONVERGE" plan -m "$P/base.yaml" --db "$(pg_url bench_base)" --detailed-exitcode; then
			ppw=$(min "$ppw" "$WALL") ppc=$(min "$ppc" "$CPU") pprss=$(max "$pprss" "$RSS")
		else
			fail "no-op plan over $PG_N grants on PostgreSQL is not empty (exit $RC)"
		fi
		timed 0 psql -X -q -v ON_ERROR_STOP=1 "$(pg_url bench_base)" -o /dev/null \
			-c "COPY (SELECT subject, role, scope, expires_at, reason FROM rbac_grants ORDER BY subject, role, scope) TO STDOUT" &&
			rdw=$(min "$rdw" "$WALL")
		pgq converge_test "CREATE DATABASE bench_w TEMPLATE bench_base" || fatal "copying the PostgreSQL database"
		# The trace prints the connection's round trips when it closes.
		export CONVERGE_TRACE_PERFORMANCE=1
		timed 0 "$CONVERGE" apply -m "$P/changed.yaml" --db "$(pg_url bench_w)" --auto-approve --no-snapshot
		ok=$?
		unset CONVERGE_TRACE_PERFORMANCE
		if [ $ok = 0 ]; then
			paw=$(min "$paw" "$WALL") pac=$(min "$pac" "$CPU") parss=$(max "$parss" "$RSS")
			trips=$(awk '/postgres: round trips/ { n += $NF } END { print n + 0 }' "$T/err")
			if [ $i = 0 ]; then
				timed 0 "$CONVERGE" plan -m "$P/changed.yaml" --db "$(pg_url bench_w)" --detailed-exitcode ||
					fail "plan after applying the changed set on PostgreSQL shows changes"
				pg_conv=$(pgdigest bench_w)
			fi
		fi
		pgq converge_test "DROP DATABASE bench_w" || fatal "dropping a PostgreSQL database"
		pgq converge_test "CREATE DATABASE bench_r TEMPLATE bench_base" || fatal "copying the PostgreSQL database"
		if timed 0 psql -X -q -v ON_ERROR_STOP=1 "$(pg_url bench_r)" -f "$P/raw.sql"; then
			prw=$(min "$prw" "$WALL")
			if [ $i = 0 ]; then
				pg_raw=$(pgdigest bench_r)
				[ "$pg_conv" = "$pg_raw" ] ||
					fail "converge and the raw SQL left different rbac_grants on PostgreSQL ($pg_conv vs $pg_raw)"
			fi
		fi
		pgq converge_test "DROP DATABASE bench_r" || fatal "dropping a PostgreSQL database"
		i=$((i + 1))
	done
	echo "5. PostgreSQL 15, local socket, fsync off: $PG_N grants, then $((PG_N / 10)) revokes + $((PG_N / 10)) new grants (best of $REPS; no targets)"
	[ -n "$ppw" ] && [ -n "$rdw" ] && awk -v w="$ppw" -v r="$rdw" -v c="$ppc" -v m="$pprss" 'BEGIN {
		printf "  %-34s converge %8.3f s   raw %8.3f s   ratio %6.2fx   (raw: COPY of every row out)  cpu %.3f s, %.1f MB\n",
			"plan (no changes)", w, r, w / r, c, m / 1024 }'
	[ -n "$paw" ] && [ -n "$prw" ] && awk -v w="$paw" -v r="$prw" -v c="$pac" -v m="$parss" -v t="$trips" 'BEGIN {
		printf "  %-34s converge %8.3f s   raw %8.3f s   ratio %6.2fx   (raw: psql, COPY + one DELETE)  cpu %.3f s, %.1f MB, %d round trips\n",
			"apply --no-snapshot", w, r, w / r, c, m / 1024, t }'
	echo
}
[ "$PG_N" -gt 0 ] 2>/dev/null && pg_bench

# ---------------------------------------------------------------------
echo "summary: $MET of $TARGETS targets met${UNMET:+ (not met: $UNMET)}; $FAILURES failure(s)"
[ "$FAILURES" = 0 ]
