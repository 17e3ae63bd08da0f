#!/bin/sh
# The TMWS scenario, end to end: an Alembic-managed SQLite database is
# taken over by converge, upgraded with its RBAC roles and grants from the
# reviewed plan, left alone by a second apply, and rolled back to exactly
# where it started.  This is what the RBAC migration runbook did by hand.
#
#   make demo                        (from the top of the tree), or
#   CONVERGE=/path/to/converge sh examples/tmws/demo.sh
#
# Works from any directory.  Everything it makes is in examples/tmws/.demo/,
# which is removed and made again on every run.  Exits non-zero as soon as
# a step does not do what it says.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)

: "${CONVERGE:=$top/build/converge}"
# A relative path means relative to where the demo was started from.
case $CONVERGE in
/*) ;;
*/*) CONVERGE=$(pwd)/$CONVERGE ;;
esac

die() {
	printf 'demo: FAILED: %s\n' "$*" >&2
	exit 1
}

if ! [ -x "$CONVERGE" ] && ! command -v "$CONVERGE" >/dev/null 2>&1; then
	die "no converge binary at '$CONVERGE' (run 'make' first, or set CONVERGE)"
fi
command -v sqlite3 >/dev/null 2>&1 ||
	die "the sqlite3 command is needed ('make deps' installs it)"

# Paths in the output are relative to the top of the tree, as in a review.
cd "$top"
work=examples/tmws/.demo
db=$work/tmws.db
url=sqlite:$db
manifests=manifests

rm -rf "$work"
mkdir -p "$work"

# The same clock on every run, so that the plans read the same every time:
# the emergency grant (expires 2026-11-24T02:00:00Z) is still valid now.
CONVERGE_NOW=2026-11-23T12:00:00Z
export CONVERGE_NOW
# The demo names its database itself, and its output is read in a log.
unset CONVERGE_DATABASE_URL
NO_COLOR=1
export NO_COLOR

step=0
section() {
	step=$((step + 1))
	printf '\n=== %d. %s\n\n' "$step" "$1"
}

say() {
	printf '%s\n' "$@"
}

# cv_rc CODE ARGS...: shows the command, runs converge with ARGS, shows
# its output indented, and stops the demo unless it exited with CODE.
# The output is also kept in $work/last.out for the checks that follow.
cv_rc() {
	want=$1
	shift
	printf '\n$ converge'
	printf ' %s' "$@"
	printf '\n'
	rc=0
	"$CONVERGE" "$@" >"$work/last.out" 2>&1 </dev/null || rc=$?
	sed 's/^/    /' "$work/last.out"
	[ "$rc" -eq "$want" ] ||
		die "'converge $1' exited with $rc (expected $want)"
	printf '    (exit %d)\n' "$rc"
}

cv() {
	cv_rc 0 "$@"
}

# q SQL: one query against the demo database, no headers.
q() {
	sqlite3 -batch -bail -noheader "$db" "$1"
}

# appdump: the application's tables as they stand: their columns and
# indexes, then every row in a form that shows every byte (quote mode).
appdump() {
	for t in agents memories tasks; do
		printf -- '-- table %s: columns\n' "$t"
		q "SELECT name, type, \"notnull\", dflt_value, pk
		   FROM pragma_table_info('$t') ORDER BY cid"
		printf -- '-- table %s: indexes\n' "$t"
		q "SELECT name FROM sqlite_schema
		   WHERE type = 'index' AND tbl_name = '$t' ORDER BY name"
		printf -- '-- table %s: rows\n' "$t"
		sqlite3 -batch -bail -noheader -quote "$db" \
			"SELECT * FROM \"$t\" ORDER BY id"
	done
}

revision() {
	q "SELECT group_concat(version_num, ', ') FROM alembic_version"
}

counts() {
	for t in agents memories tasks; do
		printf '  %-10s %s rows\n' "$t" "$(q "SELECT count(*) FROM $t")"
	done
}

say "converge demo: the TMWS RBAC migration"
say "binary:    $CONVERGE"
say "manifests: $manifests/ (tmws.yaml, migrations/)"
say "database:  $db"
say "clock:     CONVERGE_NOW=$CONVERGE_NOW"

# ---------------------------------------------------------------------------
section "The starting point: a database Alembic manages, at e674ec434eeb"
say "The runbook started from the production database, upgraded by Alembic"
say "to e674ec434eeb.  seed.sql builds the same thing: the tables of that"
say "revision, some rows (names with quotes and non-ASCII letters among"
say "them) and Alembic's version table."
printf '\n$ sqlite3 %s < examples/tmws/seed.sql\n' "$db"
sqlite3 -batch -bail "$db" <examples/tmws/seed.sql
say "" "alembic_version: $(revision)"
counts
appdump >"$work/before.txt"
[ "$(revision)" = e674ec434eeb ] || die "seed.sql did not leave e674ec434eeb"
say "" "The application's tables are saved in $work/before.txt to compare"
say "with at the end."

# ---------------------------------------------------------------------------
section "Check the manifests without a database"
say "validate reads manifests/ (tmws.yaml, and the revision chain it names)"
say "and reports every error with its file, line and column."
cv validate -m "$manifests"

# ---------------------------------------------------------------------------
section "The plan: what a pull request reviewer sees"
say "plan reads the live database and prints what apply would do: two"
say "revisions up (096325207c82, 571948cc671b), three roles, four grants."
say "It opens the database read-only: the file stays byte-for-byte the same."
sum_before=$(cksum <"$db")
cv plan -m "$manifests" --db "$url"
[ "$(cksum <"$db")" = "$sum_before" ] || die "plan changed the database file"
say "" "database file unchanged by plan: yes"

# ---------------------------------------------------------------------------
section "Save the plan, then apply exactly that plan"
say "plan -o writes the reviewed plan to a file: every step with the SQL"
say "that applies it and the SQL that undoes it, and a fingerprint of the"
say "live state.  apply FILE refuses (exit 3) if the database changed since;"
say "here it has not, so it runs those steps, after taking a snapshot."
cv plan -m "$manifests" --db "$url" -o "$work/plan.yaml"
say "" "The head of $work/plan.yaml:"
sed -n '1,12s/^/    /p' "$work/plan.yaml"
cv apply "$work/plan.yaml" --db "$url" --auto-approve --actor tmws-demo
say "" "alembic_version: $(revision)"
[ "$(revision)" = 571948cc671b ] || die "apply did not reach 571948cc671b"
say "agents.role (the new column, with its default):"
q "SELECT '  ' || agent_id || ': ' || role FROM agents ORDER BY id"
# SPEC §5: SQLite snapshots go to .converge/snapshots beside the database,
# named <db name without extension>-<run id>.db.
say "snapshot taken before the first change:"
found=no
for f in "$work"/.converge/snapshots/tmws-*.db; do
	[ -f "$f" ] || continue
	say "  $f"
	found=yes
done
[ "$found" = yes ] || die "no snapshot in $work/.converge/snapshots"

# ---------------------------------------------------------------------------
section "Apply again: nothing to do"
say "The database now matches the manifests, so a second apply finds nothing"
say "to change and records no run.  A pipeline can re-run apply safely."
runs_before=$(q "SELECT count(*) FROM converge_runs")
cv apply -m "$manifests" --db "$url" --auto-approve --actor tmws-demo
runs_after=$(q "SELECT count(*) FROM converge_runs")
[ "$runs_after" = "$runs_before" ] ||
	die "the second apply recorded a run ($runs_before runs before, $runs_after after)"
say "" "plan --detailed-exitcode agrees: exit 0 means no changes."
cv_rc 0 plan -m "$manifests" --db "$url" --detailed-exitcode -q
say "" "second apply changed nothing: yes"

# ---------------------------------------------------------------------------
section "Where the database stands"
say "status: the schema version, the last runs, the lock, and (given the"
say "manifests) whether anything drifted.  history: each run and its steps."
cv status --db "$url" -m "$manifests"
cv history --db "$url"

# ---------------------------------------------------------------------------
section "The emergency grant expires by itself"
say "oncall-dana's admin grant expires at 2026-11-24T02:00:00Z.  Planning"
say "with the clock at 03:00 that day shows the next apply would revoke it;"
say "nobody has to remember to.  This is a plan only: nothing changes now."
cv_rc 2 plan -m "$manifests" --db "$url" --now 2026-11-24T03:00:00Z \
	--detailed-exitcode
grep -q "oncall-dana" "$work/last.out" ||
	die "the plan after expiry does not mention oncall-dana"
[ "$(q "SELECT count(*) FROM rbac_grants WHERE subject = 'oncall-dana'")" = 1 ] ||
	die "the grant of oncall-dana is no longer in the database"
say "" "the grant is revoked by the next apply after expiry; still held now: yes"

# ---------------------------------------------------------------------------
section "A feature flag, switched on only after its check passes"
say "examples/tmws/flags-failing/ adds the flag license_api_v2 and the check"
say "that gates it, with a wrong expectation.  The check runs inside the"
say "apply transaction after every change; it fails, so everything is rolled"
say "back and converge exits 5: the flag stays off."
sqlite3 "$db" .dump | grep -v converge_ >"$work/before-check.sql"
cv_rc 5 apply -m "$manifests" -m examples/tmws/flags-failing --db "$url" \
	--auto-approve --actor tmws-demo
sqlite3 "$db" .dump | grep -v converge_ | cmp -s - "$work/before-check.sql" ||
	die "the failed check left the database changed"
say "" "database unchanged by the failed run: yes (only its failure is journaled)"
say "" "With the right expectation the check passes and the flag goes on, last:"
cv apply -m "$manifests" -m examples/tmws/flags --db "$url" --auto-approve \
	--actor tmws-demo
[ "$(q "SELECT enabled FROM feature_flags WHERE name = 'license_api_v2'")" = 1 ] ||
	die "license_api_v2 is not on"
say "" "Rolling the flag run back switches the flag off first:"
cv rollback --db "$url" --auto-approve --actor tmws-demo
[ "$(q "SELECT count(*) FROM feature_flags")" = 0 ] ||
	die "the flag is still there after its rollback"

# ---------------------------------------------------------------------------
section "Roll back: undo the run"
say "rollback undoes the newest run that changed something and is still"
say "undoable: the apply of the saved plan (the flag run is rolled back"
say "already, a rollback is never a candidate, neither is the failed run,"
say "and the second apply recorded no run).  It runs that run's inverse"
say "steps in reverse order, as a new run, after a snapshot: grants and"
say "roles go, then 571948cc671b and 096325207c82 go down."
cv rollback --db "$url" --auto-approve --actor tmws-demo

# ---------------------------------------------------------------------------
section "Back where we started"
say "The application's tables must be exactly as they were at the start, and"
say "Alembic must see e674ec434eeb again."
appdump >"$work/after.txt"
say "alembic_version: $(revision)"
[ "$(revision)" = e674ec434eeb ] ||
	die "alembic_version is '$(revision)', expected e674ec434eeb"
left=$(q "SELECT group_concat(name, ', ') FROM sqlite_schema
	  WHERE name IN ('license_keys', 'license_usage_history', 'ix_agents_role')")
[ -z "$left" ] || die "still in the database after rollback: $left"
say "license_keys, license_usage_history, agents.role: gone"
counts
if cmp -s "$work/before.txt" "$work/after.txt"; then
	say "" "application data identical: yes"
else
	say "" "application data identical: no"
	diff -u "$work/before.txt" "$work/after.txt" | sed 's/^/    /' || true
	exit 1
fi

say "" "Done.  The database, the saved plan and the snapshots are in $work/."
