#!/bin/sh
# A GitOps pipeline, run locally: plan on every pull request, the saved
# plan applied on merge, refused when the database moved in between, and
# a rollback when a deploy has to be backed out.  See README.md.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
: "${CONVERGE:=$top/build/converge}"
case $CONVERGE in /*) ;; */*) CONVERGE=$(pwd)/$CONVERGE ;; esac

die() { printf 'gitops-pipeline: FAILED: %s\n' "$*" >&2; exit 1; }
say() { printf '\n=== %s\n\n' "$*"; }
q() { sqlite3 -batch -noheader "$db" "$1"; }
grants() { q "SELECT group_concat(g, ', ') FROM (SELECT subject || ':' || role || CASE scope WHEN '' THEN '' ELSE '@' || scope END AS g FROM rbac_grants ORDER BY 1)"; }

[ -x "$CONVERGE" ] || die "no converge binary at '$CONVERGE' (run make first)"
command -v sqlite3 >/dev/null 2>&1 || die "the sqlite3 command is needed"

work=$here/.demo
db=$work/app.db
rm -rf "$work"
mkdir -p "$work"
cd "$work"
NO_COLOR=1
CONVERGE_DATABASE_URL=sqlite:$db
CONVERGE_NOW=2026-11-23T09:00:00Z
export NO_COLOR CONVERGE_DATABASE_URL CONVERGE_NOW

say "1. main is deployed (the apply job on merge)"
"$CONVERGE" apply -m "$here/main" --auto-approve --actor ci-main ||
	die "the deploy of main failed"
echo "grants: $(grants)"

say "2. A pull request: the plan job comments the plan and saves it"
"$CONVERGE" plan -m "$here/pr" --format markdown >comment.md ||
	die "the markdown plan failed"
cat comment.md
rc=0
"$CONVERGE" plan -m "$here/pr" -o pr.plan.yaml --detailed-exitcode -q || rc=$?
[ "$rc" = 2 ] || die "plan --detailed-exitcode gave $rc, not 2 (changes)"
echo "plan --detailed-exitcode: $rc (changes); saved as pr.plan.yaml"

say "3. A hotfix is merged first: the database moves on"
"$CONVERGE" apply -m "$here/hotfix" --auto-approve --actor ci-main -q ||
	die "the hotfix deploy failed"
echo "grants: $(grants)"

say "4. The pull request is merged: its reviewed plan is stale, and refused"
before=$(grants)
rc=0
"$CONVERGE" apply pr.plan.yaml --auto-approve --actor ci-main || rc=$?
[ "$rc" = 3 ] || die "the stale plan gave exit $rc, not 3"
[ "$(grants)" = "$before" ] || die "the refused plan changed the database"
echo "exit 3: stale, nothing changed"

say "5. Planned again from the branch as it was, the review shows why"
"$CONVERGE" plan -m "$here/pr" | grep -F -- "- grant admin to bob@example.com" ||
	die "the un-rebased branch should revoke the hotfix's grant"
echo "(the branch does not know the hotfix: rebase it)"

say "6. Rebased on main, planned, reviewed and applied exactly"
"$CONVERGE" plan -m "$here/pr-rebased" -o pr.plan.yaml
"$CONVERGE" apply pr.plan.yaml --auto-approve --actor ci-main ||
	die "the reviewed plan did not apply"
echo "grants: $(grants)"
run=$(q "SELECT max(id) FROM converge_runs")

say "7. The apply job runs again (a retried pipeline): nothing to do"
"$CONVERGE" apply -m "$here/pr-rebased" --auto-approve --actor ci-main |
	grep -F "No changes" || die "a second apply should change nothing"
[ "$(q "SELECT max(id) FROM converge_runs")" = "$run" ] ||
	die "a no-op apply recorded a run"

say "8. The deploy has to be backed out: one rollback"
"$CONVERGE" rollback "$run" --auto-approve --actor oncall ||
	die "the rollback failed"
[ "$(grants)" = "$before" ] || die "the rollback did not put the grants back"
echo "grants: $(grants)"

say "9. The trail"
"$CONVERGE" history --limit 3
