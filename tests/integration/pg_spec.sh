# The example manifest of SPEC §2, every section at once, on PostgreSQL:
# one apply converges (a second plan has nothing to do, converge's own
# tables being no part of all_tables_in_schema), and one rollback takes
# all of it back.
. "$TOP/tests/integration/lib.sh"
M="$TOP/tests/fixtures/spec/example-pg.yaml"

dbname=spec_$$
pg_db "$dbname" || exit 1
# The example's roles are cluster-wide names: no other test may hold them.
for r in app_user app_readers app_owner; do
	pq "$CONVERGE_TEST_PG_URL" "DROP ROLE IF EXISTS $r" >/dev/null 2>&1
done
expect_eq "the example's roles do not exist yet" \
	"$(pq "$DB" "SELECT count(*) FROM pg_roles WHERE rolname IN ('app_user', 'app_readers', 'app_owner')")" 0
pq "$CONVERGE_TEST_PG_URL" "CREATE ROLE app_owner"
pq "$DB" "CREATE TABLE customers (id int PRIMARY KEY, tenant_id uuid NOT NULL);
	INSERT INTO customers VALUES (1, '00000000-0000-0000-0000-00000000000a')"
# Before dana's emergency grant expires.
export CONVERGE_NOW=2026-11-23T01:00:00Z

cv validate -m "$M"
expect_eq "validate counts every section" "$OUT" \
	"ok: 1 file valid (3 roles, 3 grants, 0 revisions, 3 flags, 1 check, 6 modules, 2 plans, 2 orgs, 2 PostgreSQL roles, 1 RLS table, 1 policy)"

cv plan -m "$M" --db "$DB"
expect_rc "the SPEC's example plans" 0
expect_in "all of it" out.txt "Plan: 26 to add, 0 to change, 0 to remove."
cv apply -m "$M" --db "$DB" --auto-approve
expect_rc "and applies, its fail-closed check passing" 0
cv plan -m "$M" --db "$DB" --detailed-exitcode
expect_rc "one apply converges" 0
expect_eq "app_readers reads the customers, not converge's tables" \
	"$(pq "$DB" "SELECT string_agg(c.relname, ' ' ORDER BY c.relname) FROM pg_class c, aclexplode(c.relacl) a WHERE a.grantee = 'app_readers'::regrole")" \
	customers
expect_eq "the flag that needs the check is on" \
	"$(pq "$DB" "SELECT enabled FROM feature_flags WHERE name = 'catalog_api_v2'")" t

cv rollback --db "$DB" --auto-approve -q
expect_rc "one rollback" 0
expect_eq "takes every role of the run back" \
	"$(pq "$DB" "SELECT count(*) FROM pg_roles WHERE rolname IN ('app_user', 'app_readers')")" 0
expect_eq "and every grant" "$(pq "$DB" "SELECT count(*) FROM rbac_grants")" 0
expect_eq "and RLS" "$(pq "$DB" "SELECT relrowsecurity FROM pg_class WHERE relname = 'customers'")" f

pq "$CONVERGE_TEST_PG_URL" "DROP DATABASE $dbname" >/dev/null
pq "$CONVERGE_TEST_PG_URL" "DROP ROLE IF EXISTS app_owner" >/dev/null

# A database that does not exist is an error for every verb (a typo in a
# pipeline's URL must not plan "create everything"): SPEC §4 says that
# only of a SQLite file, which apply creates; apply cannot create this one.
nodb="$CONVERGE_TEST_PG_URL&dbname=spec_nosuch_$$"
for verb in plan status history; do
	if [ $verb = plan ]; then
		cv plan -m "$M" --db "$nodb" --detailed-exitcode
	else
		cv $verb --db "$nodb"
	fi
	expect_rc "$verb of a PostgreSQL database that does not exist: exit 1" 1
	expect_in "$verb says so" err.txt "\"spec_nosuch_$$\" does not exist"
done

# SPEC §7 "Guards are checked by plan and again by apply", on PostgreSQL
# too: a saved plan records them, and apply FILE counts at its own clock.
gname=spec_guard_$$
pg_db "$gname" || exit 1
mkdir guard
cp "$FIX/manifests/expiring-admin.yaml" guard/guard.yaml
cv apply -m guard --db "$DB" --auto-approve -q --now 2026-11-24T00:00:00Z
expect_rc "guards on PostgreSQL: alice and eve are admins" 0
sed -i '/alice/d' guard/guard.yaml
cv plan -m guard --db "$DB" --now 2026-11-24T00:00:00Z -o guard.plan.yaml -q
expect_rc "revoking alice passes the guard while eve is valid" 0
cv apply guard.plan.yaml --db "$DB" --auto-approve --now 2026-11-24T10:00:00Z
expect_rc "apply FILE once eve expired: refused" 1
expect_in "by the guard the plan recorded" err.txt \
	"plan refused by guard: role 'admin' would have 0 grants, fewer than the 1 that guards.min_grants requires (guard.plan.yaml:"
expect_eq "nothing changed: alice is still an admin" \
	"$(pq "$DB" "SELECT string_agg(subject, ' ' ORDER BY subject) FROM rbac_grants")" "alice eve"
expect_eq "and no run was recorded" "$(pq "$DB" "SELECT count(*) FROM converge_runs")" 1
cv apply guard.plan.yaml --db "$DB" --auto-approve -q --now 2026-11-24T08:00:00Z
expect_rc "before eve expires it applies" 0
pq "$CONVERGE_TEST_PG_URL" "DROP DATABASE $gname" >/dev/null

# A saved plan remembers --schema (converge's tables): applied without
# it, it goes where it was made; with another schema it is refused (two
# empty schemas have the same fingerprint, so staleness would not tell).
pg_db "spec_schema_$$" || exit 1
manifest ss/m.yaml <<'Y'
version: 1
flags: {rls_enabled: {enabled: true}}
Y
cv plan -m ss/m.yaml --db "$DB" --schema cvs -o ss.plan -q
expect_rc "plan --schema -o" 0
expect_in "the plan file records the schema" ss.plan "storage_schema: \"cvs\""
cv apply ss.plan --db "$DB" --schema other --auto-approve -q
expect_rc "apply FILE with another --schema: 64" 64
expect_in "it says which the plan was made with" err.txt "the plan was made with --schema cvs"
cv apply ss.plan --db "$DB" --auto-approve -q
expect_rc "apply FILE without --schema" 0
expect_eq "went into the plan's schema" \
	"$(pq "$DB" "SELECT string_agg(table_schema || '.' || table_name, ' ' ORDER BY 1) FROM information_schema.tables WHERE table_name IN ('converge_runs', 'feature_flags')")" \
	"cvs.converge_runs cvs.feature_flags"
cv plan -m ss/m.yaml --db "$DB" --schema cvs --detailed-exitcode
expect_rc "and converged there" 0
