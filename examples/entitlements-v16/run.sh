#!/bin/sh
# The v1.6 tenant migration: organisations' module entitlements move from
# a JSON array the application kept (organizations.enabled_modules) to
# converge's tables, and from then on are changed by reviewed plans.
#
#   sh examples/entitlements-v16/run.sh
#   CONVERGE=/path/to/converge sh examples/entitlements-v16/run.sh
#
# Works from any directory.  Everything it makes goes in
# examples/entitlements-v16/.demo/ (or $WORK), removed and made again on
# every run.  Exits non-zero as soon as a step does not do what it says.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)

: "${CONVERGE:=$top/build/converge}"
# A relative path means relative to where the script was started from.
case $CONVERGE in
/*) ;;
*/*) CONVERGE=$(pwd)/$CONVERGE ;;
esac
: "${WORK:=$here/.demo}"

die() {
	printf 'entitlements-v16: FAILED: %s\n' "$*" >&2
	exit 1
}

if ! [ -x "$CONVERGE" ] && ! command -v "$CONVERGE" >/dev/null 2>&1; then
	die "no converge binary at '$CONVERGE' (run 'make' first, or set CONVERGE)"
fi
command -v sqlite3 >/dev/null 2>&1 ||
	die "the sqlite3 command is needed ('make deps' installs it)"

rm -rf "$WORK"
mkdir -p "$WORK/manifests"
cd "$WORK"
db=app.db
CONVERGE_NOW=2026-11-23T12:00:00Z
export CONVERGE_NOW
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

# cv_rc CODE ARGS...: shows the command, runs converge, shows its output
# indented (also kept in last.out) and stops unless it exited with CODE.
cv_rc() {
	want=$1
	shift
	printf '\n$ converge'
	for a in "$@"; do
		case $a in
		*[!A-Za-z0-9_./:=-]*) printf " '%s'" "$a" ;;
		*) printf ' %s' "$a" ;;
		esac
	done
	printf '\n'
	rc=0
	"$CONVERGE" "$@" >last.out 2>&1 </dev/null || rc=$?
	sed 's/^/    /' last.out
	[ "$rc" -eq "$want" ] ||
		die "'converge $1' exited with $rc (expected $want)"
}

cv() {
	cv_rc 0 "$@"
}

q() {
	sqlite3 -batch -bail -noheader "$db" "$1"
}

# The application's view: (org, module) for each module in its JSON array.
APP_ROWS="SELECT o.slug, j.value FROM organizations o, json_each(o.enabled_modules) j"
# An org with an empty array must still be listed (LEFT JOIN): an org
# left out of the manifests is deleted.
ADOPT="SELECT o.slug, j.value, o.plan FROM organizations o LEFT JOIN json_each(o.enabled_modules) j"

# mismatches: rows in one of converge's effective modules and the
# application's JSON arrays but not in the other.
mismatches() {
	q "SELECT (SELECT count(*) FROM (
	     SELECT org, module FROM ent_effective_modules EXCEPT $APP_ROWS))
	   + (SELECT count(*) FROM ($APP_ROWS EXCEPT
	     SELECT org, module FROM ent_effective_modules))"
}

effective() {
	q "SELECT '  ' || org || ': ' || group_concat(module, ', ')
	   FROM (SELECT org, module FROM ent_effective_modules
	         ORDER BY org, module) GROUP BY org ORDER BY org"
}

last_run() {
	q "SELECT id FROM converge_runs ORDER BY id DESC LIMIT 1"
}

say "converge example: the v1.6 entitlements migration"
say "binary:    $CONVERGE"
say "work dir:  $WORK"
say "clock:     CONVERGE_NOW=$CONVERGE_NOW"

# ---------------------------------------------------------------------------
section "The application as it stands: modules in a JSON array per org"
say "seed.sql makes the organizations table of v1.5, seven orgs, each with"
say "its plan and the modules it may use in enabled_modules."
printf '\n$ sqlite3 %s < seed.sql\n' "$db"
sqlite3 -batch -bail "$db" <"$here/seed.sql"
sqlite3 -batch -bail "$db" \
	"SELECT '  ' || slug || ' (' || coalesce(plan, 'no plan') || '): ' ||
	        enabled_modules FROM organizations ORDER BY slug"

# ---------------------------------------------------------------------------
section "Publish the catalogue: modules and plans"
say "manifests/catalogue.yaml is what the product team owns: email and"
say "dashboard always on, crm with leads and campaigns, inventory, billing"
say "with invoices and subscriptions, analytics; plans starter, pro and"
say "enterprise.  No orgs yet: the next step adopts them."
cp "$here/manifests/catalogue.yaml" manifests/
cv validate -m manifests
cv apply -m manifests --db "$db" --auto-approve --actor v16-migration
[ "$(q "SELECT count(*) FROM ent_modules")" = 10 ] ||
	die "ent_modules should hold 6 modules and 4 submodules"

# ---------------------------------------------------------------------------
section "Adopt the orgs from the application's own data"
say "inspect --orgs-from runs a query over the application's tables that"
say "returns (org, module[, plan]) rows, and prints the entitlements.orgs"
say "section that gives each org exactly those modules: its plan, plus the"
say "overrides where the org has more or less than its plan."
cv inspect --db "$db" --orgs-from "$ADOPT"
cp last.out manifests/orgs.yaml
# The folder holds the same section, as the adoption made it then.
grep -v '^#' manifests/orgs.yaml >orgs.now
grep -v '^#' "$here/manifests/orgs.yaml" >orgs.then
cmp -s orgs.now orgs.then ||
	die "the adoption differs from manifests/orgs.yaml: $(diff orgs.then orgs.now | head -5)"
say "" "Same as the reviewed manifests/orgs.yaml in the example folder: yes"

# ---------------------------------------------------------------------------
section "The plan: one step per org"
say "What a reviewer reads: each org with its plan and the modules it gets,"
say "then the apply, which writes every row and its event in one transaction."
cv plan -m manifests --db "$db"
cv apply -m manifests --db "$db" --auto-approve --actor v16-migration
adopted=$(last_run)
say "" "Effective modules (the view ent_effective_modules):"
effective
[ "$(mismatches)" = 0 ] ||
	die "converge's effective modules differ from organizations.enabled_modules"
say "" "Same as organizations.enabled_modules, org by org: yes"

# ---------------------------------------------------------------------------
section "Every change of an org's modules is an event"
say "ent_events has one row per module that came in, with the run's id"
say "(- is no row: the module was not the org's before)."
q "SELECT '  ' || org || ' ' || module || ': ' ||
          coalesce(old_status, '-') || ' -> ' || coalesce(new_status, '-')
   FROM ent_events WHERE org = 'initech' ORDER BY module"
events=$(q "SELECT count(*) FROM ent_events WHERE run_id = '$adopted'")
rows=$(q "SELECT count(*) FROM ent_org_modules")
say "" "events of run $adopted: $events; rows in ent_org_modules: $rows"
[ "$events" = "$rows" ] || die "expected one event per row"

# ---------------------------------------------------------------------------
section "Apply again: nothing to do"
say "The database matches the manifests: apply records no run, and plan"
say "--detailed-exitcode exits 0.  A pipeline can re-run apply safely."
runs=$(q "SELECT count(*) FROM converge_runs")
cv apply -m manifests --db "$db" --auto-approve --actor v16-migration
[ "$(q "SELECT count(*) FROM converge_runs")" = "$runs" ] ||
	die "the second apply recorded a run"
cv_rc 0 plan -m manifests --db "$db" --detailed-exitcode -q
say "" "second apply changed nothing: yes"

# ---------------------------------------------------------------------------
section "Change a plan: pro gains analytics"
say "One line in the catalogue; every org on pro (acme, initech) gets the"
say "module, each in its own reviewed step, with its event."
sed 's/^    pro: \[crm, inventory\]$/    pro: [crm, inventory, analytics]/' \
	"$here/manifests/catalogue.yaml" >manifests/catalogue.yaml
grep -q 'pro: \[crm, inventory, analytics\]' manifests/catalogue.yaml ||
	die "could not edit the pro plan"
q "SELECT org || '|' || module || '|' || status || '|' || source
   FROM ent_org_modules ORDER BY org, module" >rows.before
cv_rc 2 plan -m manifests --db "$db" --detailed-exitcode
cv apply -m manifests --db "$db" --auto-approve --actor v16-migration
changed=$(last_run)
on=$(q "SELECT group_concat(org, ' ') FROM (SELECT org FROM ent_effective_modules
        WHERE module = 'analytics' ORDER BY org)")
say "" "orgs with analytics now: $on"
[ "$on" = "acme initech stark umbrella" ] ||
	die "analytics should be on for acme, initech, stark and umbrella"
[ "$(q "SELECT count(*) FROM ent_events WHERE run_id = '$changed'
        AND module = 'analytics' AND old_status IS NULL
        AND new_status = 'enabled'")" = 2 ] ||
	die "expected two 'enabled' events in run $changed"

# ---------------------------------------------------------------------------
section "Roll the plan change back"
say "rollback applies the run's inverse steps: the rows go, and each org"
say "gets the reverse event (the event log only grows)."
cv rollback --db "$db" --auto-approve --actor v16-migration
undone=$(last_run)
q "SELECT org || '|' || module || '|' || status || '|' || source
   FROM ent_org_modules ORDER BY org, module" >rows.after
cmp -s rows.before rows.after ||
	die "ent_org_modules is not as it was before the plan change"
[ "$(mismatches)" = 0 ] ||
	die "effective modules differ from organizations.enabled_modules"
[ "$(q "SELECT count(*) FROM ent_plan_modules WHERE plan = 'pro'")" = 2 ] ||
	die "plan pro should list crm and inventory again"
q "SELECT '  ' || org || ' ' || module || ': ' ||
          coalesce(old_status, '-') || ' -> ' || coalesce(new_status, '-') ||
          ' (run ' || run_id || ')'
   FROM ent_events WHERE module = 'analytics' AND org IN ('acme', 'initech')
   ORDER BY rowid"
[ "$(q "SELECT count(*) FROM ent_events WHERE run_id = '$undone'
        AND old_status = 'enabled' AND new_status IS NULL")" = 2 ] ||
	die "expected two reverse events in run $undone"
say "" "Entitlements as before the plan change, org by org: yes"
say "" "entitlements-v16: all steps did what they said."
