#!/bin/sh
# Emergency access that expires by itself, the guard that keeps an admin,
# and the one command that gets a team out of a lockout.  See README.md.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
: "${CONVERGE:=$top/build/converge}"
case $CONVERGE in /*) ;; */*) CONVERGE=$(pwd)/$CONVERGE ;; esac

die() { printf 'ops-emergency-access: FAILED: %s\n' "$*" >&2; exit 1; }
say() { printf '\n=== %s\n\n' "$*"; }
q() { sqlite3 -batch -noheader "$db" "$1"; }

[ -x "$CONVERGE" ] || die "no converge binary at '$CONVERGE' (run make first)"
command -v sqlite3 >/dev/null 2>&1 || die "the sqlite3 command is needed"

work=$here/.demo
db=$work/ops.db
url=sqlite:$db
rm -rf "$work"
mkdir -p "$work/lockout"
unset CONVERGE_DATABASE_URL
NO_COLOR=1
export NO_COLOR

# Granted at 09:30 on the 23rd, for 24 hours.
granted=2026-11-23T09:30:00Z
later=2026-11-24T09:30:01Z

say "1. Grant the roles, and bob's emergency production access (INC-7731)"
"$CONVERGE" apply -m "$here/manifests" --db "$url" --now "$granted" \
	--auto-approve --actor oncall || die "the first apply failed"
[ "$(q "SELECT reason FROM rbac_grants WHERE subject = 'bob@example.com' AND scope = 'production'")" = \
	"INC-7731 emergency access, approved by alice" ] || die "the emergency grant is missing"
echo "bob's production grant: $(q "SELECT role || ' until ' || expires_at FROM rbac_grants WHERE subject = 'bob@example.com' AND scope = 'production'")"

say "2. 24 hours later the same manifests revoke it"
"$CONVERGE" plan -m "$here/manifests" --db "$url" --now "$later" || die "plan failed"
"$CONVERGE" apply -m "$here/manifests" --db "$url" --now "$later" \
	--auto-approve --actor scheduled-apply -q || die "the apply after expiry failed"
[ "$(q "SELECT count(*) FROM rbac_grants WHERE subject = 'bob@example.com' AND scope = 'production'")" = 0 ] ||
	die "the expired grant was not revoked"
echo "bob's production grant after expiry: revoked"

say "3. The guard refuses to remove the last admin"
cp "$here/manifests/roles.yaml" "$work/lockout/roles.yaml"
grep -v 'alice@example.com' "$here/manifests/grants.yaml" >"$work/lockout/grants.yaml"
cp "$db" "$work/before-guard.db"
rc=0
"$CONVERGE" plan -m "$work/lockout" --db "$url" --now "$later" || rc=$?
[ "$rc" -eq 1 ] || die "plan exited $rc, not 1: the guard did not refuse the plan"
rc=0
"$CONVERGE" apply -m "$work/lockout" --db "$url" --now "$later" --auto-approve || rc=$?
[ "$rc" -eq 1 ] || die "apply exited $rc, not 1: the guard let the last admin go"
cmp -s "$db" "$work/before-guard.db" || die "a refused apply changed the database"
echo "plan and apply refused (exit 1), and the database is unchanged"

say "4. A lockout by mistake, and one command out of it"
# The same change, with the guard deleted too: nothing stops it now.
grep -v -e 'guards:' -e 'min_grants' "$here/manifests/roles.yaml" >"$work/lockout/roles.yaml"
"$CONVERGE" apply -m "$work/lockout" --db "$url" --now "$later" --auto-approve -q ||
	die "the mistaken apply failed"
[ "$(q "SELECT count(*) FROM rbac_grants WHERE role = 'admin'")" = 0 ] || die "expected no admin"
echo "admins left: 0 -- the team is locked out"
echo
echo "\$ converge rollback --db $url --auto-approve"
"$CONVERGE" rollback --db "$url" --now "$later" --auto-approve --actor oncall ||
	die "rollback failed"
[ "$(q "SELECT subject FROM rbac_grants WHERE role = 'admin'")" = alice@example.com ] ||
	die "rollback did not restore the admin"
echo
echo "admins after rollback: $(q "SELECT group_concat(subject) FROM rbac_grants WHERE role = 'admin'")"
echo "ok: emergency access expired by itself, the guard held, the lockout took one command to undo"
