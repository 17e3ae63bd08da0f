#!/bin/sh
# A PostgreSQL row-level-security go-live, gated by a fail-closed check,
# its feature flag switched on last and off first.  See README.md.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
: "${CONVERGE:=$top/build/converge}"
case $CONVERGE in /*) ;; */*) CONVERGE=$(pwd)/$CONVERGE ;; esac
PGBIN=${CONVERGE_PG_BIN:-/usr/lib/postgresql/15/bin}

die() { printf 'rls-go-live: FAILED: %s\n' "$*" >&2; exit 1; }
say() { printf '\n=== %s\n\n' "$*"; }

[ -x "$CONVERGE" ] || die "no converge binary at '$CONVERGE' (run make first)"
[ -x "$PGBIN/psql" ] || die "PostgreSQL 15 is needed (make deps installs postgresql-15)"

# A server: EXAMPLE_PG_URL names one (a database is made and dropped on
# it), else a throwaway one is started in a temporary directory.
server=""
cleanup() {
	[ -n "$server" ] && sh "$top/tests/pg/harness.sh" stop "$server" >/dev/null 2>&1
	rm -rf "$here/.demo"
}
trap cleanup EXIT
if [ -z "${EXAMPLE_PG_URL:-}" ]; then
	env=$(sh "$top/tests/pg/harness.sh" start) || die "could not start a PostgreSQL server"
	eval "$env"
	server=$CONVERGE_TEST_PG_DIR
	EXAMPLE_PG_URL=$CONVERGE_TEST_PG_URL
fi
admin=$EXAMPLE_PG_URL
pq() { PGOPTIONS="-c client_min_messages=warning" "$PGBIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }

pq "$admin" -c "DROP DATABASE IF EXISTS rls_go_live" \
	-c "DROP ROLE IF EXISTS app_user" -c "DROP ROLE IF EXISTS app_readers" \
	-c "DROP ROLE IF EXISTS app_owner" -c "CREATE DATABASE rls_go_live" >/dev/null
db="$admin&dbname=rls_go_live"
case $admin in *\?*) ;; *) db="$admin?dbname=rls_go_live" ;; esac
pq "$db" -f "$here/seed.sql" >/dev/null
mkdir -p "$here/.demo"
cd "$here/.demo"	# snapshots go to ./.converge/snapshots
unset CONVERGE_DATABASE_URL
NO_COLOR=1
export NO_COLOR

# as_app [TENANT]: how many customers app_user sees.
as_app() {
	pq "$db" -c "SET ROLE app_user" ${1:+-c "SET app.tenant_id = '$1'"} \
		-c "SELECT count(*) FROM customers"
}
acme=00000000-0000-0000-0000-00000000000a

say "1. The review: roles, privileges, RLS and its policy, the check, the flag last"
"$CONVERGE" plan -m "$here/manifests" --db "$db" || die "plan failed"

say "2. The go-live, in one transaction"
"$CONVERGE" apply -m "$here/manifests" --db "$db" --auto-approve --actor release ||
	die "the go-live failed"
[ "$(as_app)" = 0 ] || die "app_user sees rows without a tenant"
[ "$(as_app $acme)" = 2 ] || die "app_user does not see its tenant's rows"
[ "$(pq "$db" -c "SELECT enabled FROM feature_flags WHERE name = 'rls_enabled'")" = t ] ||
	die "the flag is not on"
echo "app_user without a tenant sees $(as_app) customers; as tenant acme, $(as_app $acme)"

say "3. Planned again: nothing to do (the policy is compared as PostgreSQL spells it)"
"$CONVERGE" plan -m "$here/manifests" --db "$db" --detailed-exitcode || die "the go-live did not converge"

say "4. A policy that lets every row through fails the check: nothing is applied"
if "$CONVERGE" apply -m "$here/open-policy" --db "$db" --auto-approve -q; then
	die "an open policy went through"
fi
[ "$(as_app)" = 0 ] || die "the failed apply left the open policy"
echo "refused; app_user without a tenant still sees $(as_app) customers"

say "5. Roll the go-live back: the flag goes off first"
"$CONVERGE" rollback --db "$db" --auto-approve || die "rollback failed"
[ "$(pq "$db" -c "SELECT count(*) FROM feature_flags WHERE enabled")" = 0 ] || die "the flag is still on"
[ "$(pq "$db" -c "SELECT count(*) FROM pg_roles WHERE rolname IN ('app_user', 'app_readers')")" = 0 ] ||
	die "the roles are still there"
[ "$(pq "$db" -c "SELECT relrowsecurity FROM pg_class WHERE relname = 'customers'")" = f ] ||
	die "RLS is still on"
echo "flag off, policy and roles gone, customers untouched: $(pq "$db" -c "SELECT count(*) FROM customers") rows"

pq "$admin" -c "DROP DATABASE rls_go_live" -c "DROP ROLE IF EXISTS app_owner" >/dev/null
