# The postgres: section (SPEC §2, §7) on the server of tests/pg/harness.sh:
# native roles and memberships, privileges, default privileges, row-level
# security and policies; planned read-only, applied, applied again without
# changes, saved and applied as reviewed, rolled back; ownership of the
# roles converge created; policies compared as PostgreSQL deparses them;
# an RLS go-live gated by a fail-closed check, its flag switched on last.
. "$TOP/tests/integration/lib.sh"

# ---- refused before any database is read ------------------------------
manifest bad/roles.yaml <<'EOF'
version: 1
postgres:
  roles:
    pg_monitor: {}
    writer: {password: "hunter2", logn: true}
    ok: {login: yes}
  privileges:
    - {role: ok, privileges: [SELECT, FLY], on: {tables: [public.t]}}
    - {role: ok, privileges: [SELECT], on: {table: [public.t]}}
  default_privileges:
    - {owner: ok, role: ok, privileges: [SELECT], on: tabels}
  rls:
    public.t:
      policies:
        p: {command: INSERT, using: "true"}
EOF
cv plan -m bad --db sqlite:bad.db
expect_rc "a bad postgres section exits 1" 1
expect_in "pg_ roles are PostgreSQL's" err.txt "roles.yaml:4:5: error: role 'pg_monitor': names starting with pg_ belong to PostgreSQL"
expect_in "no password in manifests" err.txt "passwords are not kept in manifests"
expect_not_in "and the line that holds it is not shown" err.txt hunter2
expect_in "the entry's other errors are reported all the same" err.txt "unknown key 'logn'"
expect_in "booleans are true or false" err.txt "roles.yaml:6:17: error:"
expect_in "an unknown privilege names the known ones" err.txt "privilege 'FLY' does not apply here (expected ALL or DELETE, INSERT"
expect_in "an unknown 'on' key suggests" err.txt "did you mean 'tables'"
expect_in "an unknown default kind suggests" err.txt "'on' is 'tabels': expected tables, sequences, functions, types or schemas (did you mean 'tables'?)"
expect_in "an INSERT policy has no USING" err.txt "an INSERT policy takes 'with_check' only"
expect_eq "nothing was created" "$(test -e bad.db && echo yes)" ""

manifest bad2/m.yaml <<'EOF'
version: 1
postgres:
  roles:
    a: {member_of: [a]}
    b: {member_of: [c]}
    c: {member_of: [b]}
    a_role_name_that_is_longer_than_the_sixty_three_bytes_postgres_keeps: {}
  rls:
    public.t:
      enabled: false
      policies:
        p: {using: "true"}
    t: {}
    ".": {}
    u:
      policies:
        q: {command: SELECT}
EOF
cv plan -m bad2 --db sqlite:bad.db
expect_rc "a contradictory postgres section exits 1" 1
expect_in "a role is no member of itself" err.txt "PostgreSQL role 'a' cannot be a member of itself"
expect_in "a membership cycle is refused" err.txt "PostgreSQL role 'b' is part of a cycle of 'member_of'"
expect_in "a name PostgreSQL would cut is refused" err.txt "is longer than PostgreSQL's 63 bytes for a name"
expect_in "a table named twice (public is the default schema)" err.txt "rls: table 'public.t' is defined twice"
expect_in "an rls table needs a name" err.txt "table '.': expected 'schema.table' or 'table'"
expect_in "a policy needs an expression" err.txt "policy 'q' has neither 'using' nor 'with_check'"

manifest sq/m.yaml <<'EOF'
version: 1
postgres:
  roles: {someone: {}}
EOF
cv plan -m sq --db sqlite:sq.db
expect_rc "a postgres section against SQLite exits 1" 1
expect_in "and says why" err.txt "the postgres: section manages native PostgreSQL objects; the database is sqlite"

# Roles are cluster-wide: every name here carries this run's suffix.
s=$$
dbname=native_$s
pg_db "$dbname" || exit 1
pq "$DB" "CREATE TABLE customers (id int PRIMARY KEY, tenant_id uuid NOT NULL, name text);
	CREATE TABLE orders (id int PRIMARY KEY, customer_id int);
	INSERT INTO customers VALUES (1, '00000000-0000-0000-0000-00000000000a', 'a'),
		(2, '00000000-0000-0000-0000-00000000000b', 'b');
	CREATE ROLE owner_$s; CREATE ROLE bystander_$s"

# rls_customers [ROLE]: the rls section that isolates tenants on
# customers, its policy for ROLE (for everyone without one).
rls_customers() {
	cat <<EOF
  rls:
    public.customers:
      enabled: true
      force: true
      policies:
        tenant_isolation:
${1:+          to: [$1]
}          using: "tenant_id = current_setting('app.tenant_id', true)::uuid"
EOF
}

user="app_user_$s"
readers="app_readers_$s"
odd="o'brien \"x\" $s"
manifest m/native.yaml <<EOF
version: 1
postgres:
  roles:
    $user: {login: true, superuser: false, bypassrls: false, member_of: [$readers]}
    $readers: {}
    '$(printf '%s' "$odd" | sed "s/'/''/g")': {inherit: false}
  privileges:
    - {role: $user, privileges: [SELECT, INSERT, UPDATE, DELETE], on: {tables: [public.customers]}}
    - {role: $readers, privileges: [SELECT], on: {all_tables_in_schema: public}}
    - {role: $readers, privileges: [USAGE], on: {schemas: [public]}}
  default_privileges:
    - {owner: owner_$s, schema: public, role: $readers, privileges: [SELECT], on: tables}
  rls:
    public.customers:
      enabled: true
      force: true
      policies:
        tenant_isolation:
          command: ALL
          to: [$user]
          using: "tenant_id = current_setting('app.tenant_id', true)::uuid"
EOF

roles() {
	pq "$DB" "SELECT string_agg(rolname || ':' || rolcanlogin::text || rolinherit::text, ' ' ORDER BY rolname)
		FROM pg_roles WHERE rolname LIKE '%$s'"
}
tables() {
	pq "$DB" "SELECT string_agg(relname, ' ' ORDER BY relname) FROM pg_class
		WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'v')"
}
roles_before=$(roles)
tables_before=$(tables)

# ---- plan: read-only -------------------------------------------------
cv plan -m m --db "$DB"
expect_rc "plan exits 0" 0
expect_in "plan creates the login role" out.txt "+ postgres role $user: login,inherit"
expect_in "and the membership" out.txt "+ postgres membership $user in $readers"
expect_in "grants the table privileges" out.txt "+ postgres privileges on public.customers for $user: DELETE, INSERT, SELECT, UPDATE"
expect_in "expands all_tables_in_schema" out.txt "+ postgres privileges on public.orders for $readers: SELECT"
expect_in "grants schema privileges" out.txt "+ postgres privileges on schema public for $readers: USAGE"
expect_in "sets default privileges" out.txt "+ postgres default privileges on tables of owner_$s in public for $readers: SELECT"
expect_in "enables and forces RLS" out.txt "+ postgres row-level security on public.customers: enabled,forced"
expect_in "creates the policy" out.txt "+ postgres policy tenant_isolation on public.customers: ALL"
expect_in "the summary" out.txt "Plan: 11 to add, 0 to change, 0 to remove."
expect_eq "plan creates no role" "$(roles)" "$roles_before"
expect_eq "plan creates no table" "$(tables)" "$tables_before"
roles_order=$(grep -n "postgres role $user\|postgres policy" out.txt | cut -d: -f1 | tr '\n' ' ')
expect_eq "roles come before the policy that names them" \
	"$(echo "$roles_order" | awk '{ print ($1 < $2) }')" 1

cv plan -m m --db "$DB" -o native.plan.yaml -q
expect_rc "plan -o exits 0" 0
expect_in "the saved plan quotes the odd role" native.plan.yaml "CREATE ROLE \"o''brien \"\"x\"\" $s\""

# ---- apply the reviewed plan ----------------------------------------
cv apply native.plan.yaml --db "$DB" --auto-approve
expect_rc "the saved plan applies" 0
expect_eq "the roles exist with their attributes" "$(roles)" \
	"$(printf '%s' "app_readers_$s:falsetrue app_user_$s:truetrue bystander_$s:falsetrue $odd:falsefalse owner_$s:falsetrue")"
expect_eq "membership" "$(pq "$DB" "SELECT pg_has_role('$user', '$readers', 'MEMBER')")" t
expect_eq "table privileges" \
	"$(pq "$DB" "SELECT has_table_privilege('$user', 'customers', 'DELETE')::text || has_table_privilege('$user', 'orders', 'SELECT')::text || has_table_privilege('$readers', 'orders', 'SELECT')::text")" \
	"truetruetrue"
expect_eq "converge's own tables are not part of all_tables_in_schema" \
	"$(pq "$DB" "SELECT count(*) FROM pg_class c, aclexplode(c.relacl) a WHERE c.relname LIKE 'converge%' AND a.grantee = '$readers'::regrole")" 0
expect_eq "RLS is enabled and forced" \
	"$(pq "$DB" "SELECT relrowsecurity::text || relforcerowsecurity::text FROM pg_class WHERE relname = 'customers'")" truetrue
expect_eq "the policy is there" "$(pq "$DB" "SELECT polname FROM pg_policy")" tenant_isolation
expect_eq "the roles converge created are recorded" \
	"$(pq "$DB" "SELECT count(*) FROM converge_pg_roles")" 3
expect_eq "fail-closed: without a tenant the app role sees nothing" \
	"$(pq "$DB" "SET ROLE $user; SELECT count(*) FROM customers")" 0
expect_eq "with its tenant it sees its rows" \
	"$(pq "$DB" "SET ROLE $user; SET app.tenant_id = '00000000-0000-0000-0000-00000000000a'; SELECT count(*) FROM customers")" 1
run1=$(pq "$DB" "SELECT id FROM converge_runs ORDER BY id DESC LIMIT 1")

cv plan -m m --db "$DB" --detailed-exitcode
expect_rc "applied: no changes" 0

cv inspect --db "$DB"
expect_rc "inspect exits 0" 0
cp out.txt inspected.yaml
expect_in "inspect prints the policy as PostgreSQL keeps it" inspected.yaml \
	"using: (tenant_id = (current_setting('app.tenant_id'::text, true))::uuid)"
expect_in "inspect prints the role" inspected.yaml "$user: {login: true, member_of: [$readers]}"
expect_not_in "inspect leaves superusers out" inspected.yaml "converge:"
expect_eq "other YAML tools read the privileges' on: key as a string" \
	"$(python3 -c 'import yaml
m = yaml.safe_load(open("inspected.yaml"))
print(all("on" in p for p in m["postgres"]["privileges"]))')" True
cv plan -m inspected.yaml --db "$DB" --detailed-exitcode
expect_rc "the inspected manifest plans no changes" 0

# The same expression spelt differently, by hand, is not drift.
pq "$DB" "DROP POLICY tenant_isolation ON customers;
	CREATE POLICY tenant_isolation ON customers FOR ALL TO $user
	USING ((((tenant_id)) = (current_setting(('app.tenant_id')::text, true))::uuid))"
cv plan -m m --db "$DB" --detailed-exitcode
expect_rc "a policy spelt differently is not drift" 0

# A different expression is.
pq "$DB" "ALTER POLICY tenant_isolation ON customers USING (true)"
cv plan -m m --db "$DB"
expect_in "a changed policy is put back, the line saying what changes" out.txt \
	"~ postgres policy tenant_isolation on public.customers: using true -> tenant_id = current_setting('app.tenant_id', true)::uuid"
cv apply -m m --db "$DB" --auto-approve -q
expect_rc "and applied" 0
expect_eq "fail-closed again" "$(pq "$DB" "SET ROLE $user; SELECT count(*) FROM customers")" 0

# An expression PostgreSQL cannot read fails the plan, not the apply.
mkdir -p mbad && sed 's/using: "tenant_id = /using: "tenantid = /' m/native.yaml >mbad/native.yaml
cv plan -m mbad --db "$DB"
expect_rc "a policy expression PostgreSQL cannot read: plan exits 1" 1
expect_in "it names the policy, the expression and the reason" err.txt \
	"policy 'tenant_isolation' on public.customers: PostgreSQL cannot read its 'using' expression (mbad/native.yaml:"
expect_in "with PostgreSQL's words" err.txt 'column "tenantid" does not exist'

# Privileges given by hand to a managed role are revoked; those of a
# role converge does not manage are left alone.
pq "$DB" "GRANT TRUNCATE ON customers TO $user; GRANT SELECT ON customers TO bystander_$s"
cv plan -m m --db "$DB"
expect_in "an extra privilege of a managed role is revoked" out.txt \
	"~ postgres privileges on public.customers for $user: revoke TRUNCATE"
expect_not_in "a role converge does not manage is left alone" out.txt "bystander"
pq "$DB" "REVOKE TRUNCATE ON customers FROM $user; REVOKE SELECT ON customers FROM bystander_$s"

# ---- ownership: a created role no longer declared is dropped ----------
manifest m2/native.yaml <<EOF
version: 1
postgres:
  roles:
    $user: {login: true}
  privileges:
    - {role: $user, privileges: [SELECT], on: {tables: [public.customers]}}
$(rls_customers "$user")
EOF
cv plan -m m2 --db "$DB"
expect_in "the undeclared created role is dropped" out.txt "- postgres role $readers"
expect_in "so is the other one" out.txt "- postgres role $odd"
expect_not_in "a role converge did not create is never dropped" out.txt "- postgres role bystander"
expect_in "its memberships are revoked first" out.txt "- postgres membership $user in $readers"
first_revoke=$(grep -n "privileges on public.orders for $readers" out.txt | cut -d: -f1)
drop=$(grep -n -- "- postgres role $readers" out.txt | cut -d: -f1)
expect_eq "its privileges are revoked before it is dropped" \
	"$( [ -n "$first_revoke" ] && [ "$first_revoke" -lt "$drop" ] && echo yes)" yes
cv apply -m m2 --db "$DB" --auto-approve -q
expect_rc "apply drops them" 0
expect_eq "the roles left" "$(pq "$DB" "SELECT string_agg(rolname, ' ' ORDER BY rolname) FROM pg_roles WHERE rolname LIKE '%$s'")" \
	"app_user_$s bystander_$s owner_$s"
expect_eq "converge_pg_roles follows" "$(pq "$DB" "SELECT string_agg(name, ' ') FROM converge_pg_roles")" "$user"

# A privilege naming a role about to be dropped is a contradiction.
manifest m3/native.yaml <<EOF
version: 1
postgres:
  roles: {}
  privileges:
    - {role: $user, privileges: [SELECT], on: {tables: [public.customers]}}
EOF
cv plan -m m3 --db "$DB"
expect_rc "dropping a role a privilege names is refused" 1
expect_in "and says why" err.txt "is no longer declared in postgres.roles, so it would be dropped, but a privilege names it"

manifest m4/native.yaml <<EOF
version: 1
postgres:
  privileges:
    - {role: ghost_$s, privileges: [SELECT], on: {tables: [public.customers]}}
EOF
cv plan -m m4 --db "$DB"
expect_rc "a privilege for a role that does not exist is refused at plan" 1
expect_in "and names it" err.txt "a privilege names PostgreSQL role 'ghost_$s', which neither exists nor is declared"

# A privilege on a table that does not exist fails at plan, not at apply,
# unless a revision of the same plan may make the table.
manifest m4b/native.yaml <<EOF
version: 1
postgres:
  privileges:
    - {role: $user, privileges: [SELECT], on: {tables: [public.later_$s]}}
EOF
cv plan -m m4b --db "$DB"
expect_rc "a privilege on a table that does not exist is refused at plan" 1
expect_in "and names it" err.txt "a privilege names table 'public.later_$s', which does not exist (m4b/native.yaml:4:"
manifest m4b/migrations/r1.yaml <<EOF
id: 4d5e6f7a8b9c
description: the table comes
up: "CREATE TABLE later_$s (id int)"
down: "DROP TABLE later_$s"
EOF
cat >>m4b/native.yaml <<'EOF'
schema: {migrations: migrations, version: head}
EOF
cv plan -m m4b --db "$DB"
expect_rc "with a revision in the same plan, it plans" 0

# ---- rollback walks back ---------------------------------------------
cv rollback --db "$DB" --auto-approve -q
expect_rc "rollback of the drop" 0
expect_eq "the dropped roles are back" "$(roles)" \
	"$(printf '%s' "app_readers_$s:falsetrue app_user_$s:truetrue bystander_$s:falsetrue $odd:falsefalse owner_$s:falsetrue")"
expect_eq "with their membership" "$(pq "$DB" "SELECT pg_has_role('$user', '$readers', 'MEMBER')")" t
cv rollback --db "$DB" --auto-approve -q
expect_rc "rollback of the policy repair" 0
expect_eq "puts back the policy as it was before the repair" \
	"$(pq "$DB" "SELECT pg_get_expr(polqual, polrelid) FROM pg_policy")" true
cv rollback --db "$DB" "$run1" --auto-approve
expect_rc "the first apply cannot be rolled back over a changed policy" 1
expect_in "and the refusal names it" err.txt "postgres policy tenant_isolation on public.customers: the run left"
pq "$DB" "ALTER POLICY tenant_isolation ON customers USING (tenant_id = current_setting('app.tenant_id', true)::uuid)"
cv rollback --db "$DB" "$run1" --auto-approve -q
expect_rc "once the policy is as the run left it, rollback goes through" 0
expect_eq "no role of the run is left" "$(roles)" "$roles_before"
expect_eq "RLS is off again" \
	"$(pq "$DB" "SELECT relrowsecurity::text || relforcerowsecurity::text FROM pg_class WHERE relname = 'customers'")" falsefalse
expect_eq "the journal has RLS switched off as a change (phase 5), not as a flag" \
	"$(pq "$DB" "SELECT phase FROM converge_steps s JOIN converge_runs r ON r.id = s.run_id WHERE r.kind = 'rollback' AND s.object LIKE 'row-level security%' ORDER BY r.id DESC LIMIT 1")" 5
expect_eq "no policy is left" "$(pq "$DB" "SELECT count(*) FROM pg_policy")" 0
expect_eq "no default privilege is left" "$(pq "$DB" "SELECT count(*) FROM pg_default_acl")" 0
expect_eq "converge_pg_roles is empty" "$(pq "$DB" "SELECT count(*) FROM converge_pg_roles")" 0

# ---- the RLS go-live: a fail-closed check gates the flag ------------------
manifest golive/m.yaml <<EOF
version: 1
postgres:
  roles:
    $user: {login: true}
  privileges:
    - {role: $user, privileges: [SELECT], on: {tables: [public.customers]}}
$(rls_customers "$user")
checks:
  rls_fail_closed:
    sql: "SELECT count(*) FROM customers"
    as_role: $user
    expect: 0
flags:
  rls_enabled: {enabled: true, checks: [rls_fail_closed]}
EOF
cv plan -m golive --db "$DB"
expect_rc "the go-live plans" 0
last=$(grep -n '^  [-+~?]' out.txt | tail -n 1)
expect_eq "the flag is switched on last" "$(echo "$last" | grep -c "flag rls_enabled")" 1
cv apply -m golive --db "$DB" --auto-approve -q
expect_rc "the go-live applies" 0
expect_eq "the flag is on" "$(pq "$DB" "SELECT enabled FROM feature_flags WHERE name = 'rls_enabled'")" t

# A policy that lets everything through fails the check: nothing applies.
sed 's/using: .*/using: "true"/' golive/m.yaml >golive/m.tmp && mv golive/m.tmp golive/m.yaml
cv apply -m golive --db "$DB" --auto-approve
expect_rc "an open policy fails the fail-closed check (exit 5)" 5
expect_in "the check is named" err.txt "rls_fail_closed"
expect_eq "the policy was not changed" \
	"$(pq "$DB" "SELECT pg_get_expr(polqual, polrelid) FROM pg_policy")" \
	"(tenant_id = (current_setting('app.tenant_id'::text, true))::uuid)"

# Checks with as_role run in plan too, as that role, when no step of the
# plan can affect them; a role that does not exist is a plan error, and
# one the plan creates makes the check wait for apply.  (Each plan adds a
# flag that no check reads: a plan with no changes runs no check.)
manifest asrole/m.yaml <<EOF
version: 1
flags: {rls_enabled: {enabled: true}, probe: {enabled: false}}
checks:
  c_as: {sql: "SELECT current_user", as_role: $user, expect: "$user"}
  c_me: {sql: "SELECT current_user", expect: "$(pq "$DB" "SELECT current_user")"}
EOF
cv plan -m asrole --db "$DB" --detailed-exitcode
expect_rc "a passing as_role check plans" 2
expect_eq "and the role is reset after it" "$(grep -c c_me err.txt)" 0
sed "/c_as/s/expect: .*/expect: postgres}/" asrole/m.yaml >asrole/m.tmp && mv asrole/m.tmp asrole/m.yaml
cv plan -m asrole --db "$DB"
expect_rc "a failing as_role check fails the plan" 1
expect_in "and is named" err.txt "check 'c_as' failed: expected postgres, got $user"
expect_not_in "the role is reset after a failure too" err.txt c_me
manifest asrole2/m.yaml <<EOF
version: 1
flags: {rls_enabled: {enabled: true}, probe: {enabled: false}}
checks:
  c_ghost: {sql: "SELECT 1", as_role: ghost_$s, expect: 1}
EOF
cv plan -m asrole2 --db "$DB"
expect_rc "an as_role that does not exist fails the plan" 1
expect_in "naming the check" err.txt "check 'c_ghost' could not run as_role 'ghost_$s'"
cat >>asrole2/m.yaml <<EOF
postgres:
  roles: {ghost_$s: {}, $user: {login: true}}
EOF
cv plan -m asrole2 --db "$DB"
expect_rc "created by the same plan, the check waits for apply" 0
expect_in "and is listed so" out.txt "Checks run at apply: c_ghost"

# ---- PostgreSQL's predefined roles, superusers ------------------------
manifest m5/native.yaml <<EOF
version: 1
postgres:
  roles:
    auditor_$s: {login: true, member_of: [pg_read_all_data]}
    $user: {login: true}
EOF
cv apply -m m5 --db "$DB" --auto-approve -q
expect_rc "a membership in a predefined pg_ role applies" 0
expect_eq "the auditor reads all data" \
	"$(pq "$DB" "SELECT pg_has_role('auditor_$s', 'pg_read_all_data', 'MEMBER')")" t
cv rollback --db "$DB" --auto-approve -q
expect_rc "and rolls back" 0
expect_eq "the auditor is gone" "$(pq "$DB" "SELECT count(*) FROM pg_roles WHERE rolname = 'auditor_$s'")" 0

# Dropping a role a policy applies to: refused when postgres.rls does not
# manage the table; else the policy goes first and comes back without it.
manifest m7/native.yaml <<EOF
version: 1
postgres:
  roles: {}
EOF
cv plan -m m7 --db "$DB"
expect_rc "dropping a role an unmanaged policy applies to is refused" 1
expect_in "and the policy is named" err.txt "but policy tenant_isolation on public.customers applies to it and postgres.rls does not manage that table"
rls_customers >>m7/native.yaml
cv plan -m m7 --db "$DB"
expect_rc "with the table managed, the drop plans" 0
steps=$(grep -n "postgres policy tenant_isolation\|postgres role $user" out.txt | cut -c1-60 | sed 's/:  */ /')
expect_eq "policy dropped, role dropped, policy made again" \
	"$(echo "$steps" | awk '{ print $2, $4 }' | tr '\n' ' ')" "- policy - role + policy "
cv apply -m m7 --db "$DB" --auto-approve -q
expect_rc "and applies" 0
expect_eq "the policy now applies to everyone" \
	"$(pq "$DB" "SELECT polroles = '{0}' FROM pg_policy")" t
cv rollback --db "$DB" --auto-approve -q
expect_rc "rolled back" 0
expect_eq "the role and its policy are back" \
	"$(pq "$DB" "SELECT pg_get_userbyid(polroles[1]) FROM pg_policy")" "$user"

# Sequences: an app role that inserts into a table with a serial id needs
# USAGE on its sequence.
pq "$DB" "CREATE TABLE items (id serial PRIMARY KEY, name text)"
manifest m8/native.yaml <<EOF
version: 1
postgres:
  roles:
    $user: {login: true}
  privileges:
    - {role: $user, privileges: [INSERT, SELECT], on: {tables: [items]}}
    - {role: $user, privileges: [usage], on: {all_sequences_in_schema: public}}
EOF
cv plan -m m8 --db "$DB"
expect_in "all_sequences_in_schema expands to the sequences" out.txt \
	"+ postgres privileges on sequence public.items_id_seq for $user: USAGE"
cv apply -m m8 --db "$DB" --auto-approve -q
expect_rc "applies" 0
expect_eq "the app role can insert with the serial id" \
	"$(pq "$DB" "SET ROLE $user; INSERT INTO items (name) VALUES ('x') RETURNING id")" 1
cv plan -m m8 --db "$DB" --detailed-exitcode
expect_rc "no changes after" 0
cv inspect --db "$DB"
expect_in "inspect lists sequence privileges" out.txt \
	"{role: $user, privileges: [USAGE], \"on\": {sequences: [public.items_id_seq]}}"
cv rollback --db "$DB" --auto-approve -q
expect_rc "rolled back" 0
expect_eq "the sequence privilege is gone" \
	"$(pq "$DB" "SELECT has_sequence_privilege('$user', 'items_id_seq', 'USAGE')")" f

# Policies with a subquery: EXPLAIN shows it only as a SubPlan, so the
# whole plan is compared; applied, they are not drift, spelt differently
# by hand they are not either, and a changed subquery is.
manifest m9/native.yaml <<EOF
version: 1
postgres:
  roles: {$user: {login: true}}
  rls:
    public.orders:
      enabled: true
      policies:
        sub:
          command: SELECT
          to: [$user]
          using: "customer_id in (select id from customers c2 where c2.tenant_id is not null)"
        ex:
          command: SELECT
          to: [$user]
          using: "exists (select 1 from customers c where c.id = customer_id)"
EOF
cv apply -m m9 --db "$DB" --auto-approve -q
expect_rc "policies with subqueries apply" 0
cv plan -m m9 --db "$DB" --detailed-exitcode
expect_rc "and are not drift" 0
pq "$DB" "DROP POLICY sub ON orders; DROP POLICY ex ON orders;
	CREATE POLICY sub ON orders FOR SELECT TO $user
	USING (((customer_id)) IN (SELECT c2.id FROM public.customers AS c2 WHERE NOT (c2.tenant_id IS NULL)));
	CREATE POLICY ex ON orders FOR SELECT TO $user
	USING (EXISTS (SELECT FROM customers c WHERE customer_id = c.id))"
cv plan -m m9 --db "$DB" --detailed-exitcode
expect_rc "spelt differently by hand, they are not drift" 0
pq "$DB" "ALTER POLICY sub ON orders USING (customer_id IN (SELECT id FROM customers c2 WHERE c2.tenant_id IS NULL))"
cv plan -m m9 --db "$DB" --detailed-exitcode
expect_rc "a changed subquery is drift" 2
expect_in "and is put back" out.txt "~ postgres policy sub on public.orders: using (customer_id IN ( SELECT c2.id"
expect_not_in "the other one is not" out.txt "policy ex"
cv apply -m m9 --db "$DB" --auto-approve -q
expect_rc "applied" 0
cv rollback --db "$DB" --auto-approve -q
expect_rc "the repair rolls back over the policy it left" 0
expect_eq "and puts back the changed subquery" \
	"$(pq "$DB" "SELECT pg_get_expr(polqual, polrelid) LIKE '%tenant_id IS NULL%' FROM pg_policy WHERE polname = 'sub'")" t
pq "$DB" "ALTER POLICY sub ON orders USING (customer_id IN (SELECT id FROM customers c2 WHERE c2.tenant_id IS NOT NULL))"
cv rollback --db "$DB" --auto-approve -q
expect_rc "the first apply rolls back once the policy is as it left it" 0
expect_eq "the subquery policies are gone" \
	"$(pq "$DB" "SELECT count(*) FROM pg_policy WHERE polrelid = 'orders'::regclass")" 0

# A declared superuser keeps its memberships and privileges: converge
# never alters a superuser.
pq "$DB" "CREATE ROLE su_$s SUPERUSER LOGIN; GRANT bystander_$s TO su_$s;
	GRANT SELECT ON customers TO su_$s"
manifest m10/native.yaml <<EOF
version: 1
postgres:
  roles: {su_$s: {superuser: true, login: true}, $user: {login: true}}
  privileges:
    - {role: su_$s, privileges: [INSERT], on: {tables: [public.orders]}}
    - {role: $user, privileges: [SELECT], on: {tables: [public.orders]}}
EOF
cv plan -m m10 --db "$DB"
expect_rc "a declared superuser plans" 0
expect_not_in "its memberships and privileges are left alone" out.txt "su_$s"
expect_in "those of the other role are not" out.txt "postgres privileges on public.customers for $user"

# Without pg_dump, apply goes on without a snapshot, says so, and records
# none (SPEC §5: "when available").
printf '#!/bin/sh\nPATH=/nonexistent exec "%s" "$@"\n' "$CONVERGE" >converge-nodump
chmod +x converge-nodump
manifest m11/native.yaml <<EOF
version: 1
postgres:
  roles: {nosnap_$s: {}, $user: {login: true}}
EOF
real=$CONVERGE
CONVERGE=$PWD/converge-nodump
cv apply -m m11 --db "$DB" --auto-approve -q
CONVERGE=$real
expect_rc "apply without pg_dump goes on" 0
expect_in "and warns" err.txt "converge: warning: no snapshot: pg_dump not found; install the PostgreSQL client tools, or pass --no-snapshot"
expect_eq "the role is made" "$(pq "$DB" "SELECT count(*) FROM pg_roles WHERE rolname = 'nosnap_$s'")" 1
expect_eq "the run records no snapshot" \
	"$(pq "$DB" "SELECT snapshot IS NULL FROM converge_runs ORDER BY id DESC LIMIT 1")" t
expect_eq "and no snapshot file is left for it" \
	"$(ls .converge/snapshots | grep -c "$(pq "$DB" "SELECT id FROM converge_runs ORDER BY id DESC LIMIT 1")")" 0

# A pg_dump ends with the converge that started it: one killed while its
# snapshot runs leaves no pg_dump dumping on for nobody.
mkdir -p slowdump
printf '#!/bin/sh\nexec sleep 30\n' >slowdump/pg_dump
chmod +x slowdump/pg_dump
manifest m12/native.yaml <<EOF
version: 1
postgres:
  roles: {slowdump_$s: {}, $user: {login: true}}
EOF
PATH=$PWD/slowdump:$PATH "$CONVERGE" apply -m m12 --db "$DB" --auto-approve -q >/dev/null 2>&1 &
CV=$!
i=0
while ! pgrep -P $CV sleep >/dev/null && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
DUMP=$(pgrep -P $CV sleep)
kill -9 $CV
wait $CV 2>/dev/null
i=0
while kill -0 "$DUMP" 2>/dev/null && [ $i -lt 40 ]; do sleep 0.05; i=$((i + 1)); done
expect_eq "a killed apply's pg_dump ends with it" "$(kill -0 "$DUMP" 2>/dev/null && echo running || echo gone)" gone
expect_eq "and the apply changed nothing" "$(pq "$DB" "SELECT count(*) FROM pg_roles WHERE rolname = 'slowdump_$s'")" 0
cv rollback --db "$DB" --auto-approve -q
expect_rc "it rolls back" 0

me=$(pq "$DB" "SELECT current_user")
manifest m6/native.yaml <<EOF
version: 1
postgres:
  roles:
    $me: {login: true}
    $user: {login: true}
EOF
cv plan -m m6 --db "$DB"
expect_rc "declaring a superuser without superuser: true is refused" 1
expect_in "and says converge never alters superusers" err.txt "is a superuser, and converge never alters superusers"

# A check only reads: it runs read-only (in a savepoint rolled back), so
# a function it calls that writes fails it, at apply as at plan, saying
# that the check writes; nothing is written.  A check that fails at plan
# says why.
pq "$DB" "CREATE TABLE side_$s (x int);
	CREATE FUNCTION side_$s() RETURNS int LANGUAGE sql AS 'INSERT INTO side_$s VALUES (1) RETURNING 1'"
manifest side/m.yaml <<EOF
version: 1
checks:
  sneaky: {sql: "SELECT side_$s()", expect: 1}
flags:
  side_flag_$s: {enabled: true, checks: [sneaky]}
EOF
cv plan -m side --db "$DB"
expect_rc "a check calling a writing function: plan exit 1" 1
expect_in "plan says the check writes" err.txt "check 'sneaky' writes to the database, but a check must only read"
cv apply -m side --db "$DB" --auto-approve -q
expect_rc "a check calling a writing function fails the apply (exit 5)" 5
expect_in "apply says the check writes" err.txt "check 'sneaky' writes to the database, but a check must only read"
expect_eq "and nothing was written" "$(pq "$DB" "SELECT count(*) FROM side_$s")" 0
manifest side2/m.yaml <<EOF
version: 1
checks:
  missing: {sql: "SELECT count(*) FROM no_such_table_$s", expect: 0}
flags:
  side_flag_$s: {enabled: false, checks: [missing]}
EOF
cv plan -m side2 --db "$DB"
expect_rc "a check whose SQL fails fails the plan" 1
expect_in "with the check's own error" err.txt "check 'missing' could not run: postgres: relation \"no_such_table_$s\" does not exist"
expect_not_in "not an aborted transaction's" err.txt "current transaction is aborted"

pq "$CONVERGE_TEST_PG_URL" "DROP DATABASE $dbname" >/dev/null
for r in "$user" "$readers" "owner_$s" "bystander_$s" "auditor_$s" "su_$s" "nosnap_$s"; do
	pq "$CONVERGE_TEST_PG_URL" "DROP ROLE IF EXISTS \"$r\"" >/dev/null 2>&1
done
