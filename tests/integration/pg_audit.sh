# Acceptance audit of the postgres: section (SPEC §2, §7): the corners
# that the other pg_*.sh scripts leave out.  Each block is a finding that
# once planned, applied or rolled back wrongly.
. "$TOP/tests/integration/lib.sh"

s=$$
dbname=audit_$s
pg_db "$dbname" || exit 1
pq "$DB" "CREATE TABLE doc (id int, owner text, tenant int)"

# ---- a policy's `to` with public and other roles ----------------------
# PostgreSQL keeps PUBLIC alone ("ignoring specified roles other than
# PUBLIC"): such a manifest never converged, and its rollback was refused
# as "changed since the run".
manifest pub/m.yaml <<EOF
version: 1
postgres:
  roles: {reader_$s: {}}
  rls:
    doc:
      policies:
        p: {to: [reader_$s, PUBLIC], using: "tenant > 0"}
EOF
cv plan -m pub --db "$DB"
expect_rc "a policy to public and another role is refused" 1
expect_in "at its place, saying why" err.txt \
	"pub/m.yaml:7:13: error: policy 'p': 'to' lists public with other roles; public is every role, and PostgreSQL keeps it alone: list public alone, or leave it out"

# ---- dropping a role converge created ---------------------------------
# Its default privileges as an owner (ALTER DEFAULT PRIVILEGES FOR ROLE
# it) go before it, whoever they are for: DROP ROLE refuses a role that
# still owns some, so the reviewed plan failed at apply.
pq "$DB" "CREATE ROLE bystander_$s"
manifest drop1/m.yaml <<EOF
version: 1
postgres:
  roles: {maker_$s: {}, keep_$s: {}}
  default_privileges:
    - {owner: maker_$s, schema: public, role: bystander_$s, privileges: [SELECT], on: tables}
    - {owner: maker_$s, role: keep_$s, privileges: [USAGE], on: sequences}
EOF
cv apply -m drop1 --db "$DB" --auto-approve -q
expect_rc "a role with default privileges as their owner" 0
manifest drop2/m.yaml <<EOF
version: 1
postgres:
  roles: {keep_$s: {}}
EOF
cv plan -m drop2 --db "$DB"
expect_in "its default privileges for a role converge does not manage are revoked" out.txt \
	"- postgres default privileges on tables of maker_$s in public for bystander_$s: SELECT"
expect_in "so are those for a managed role" out.txt \
	"- postgres default privileges on sequences of maker_$s for keep_$s: USAGE"
cv apply -m drop2 --db "$DB" --auto-approve -q
expect_rc "and the role is dropped" 0
expect_eq "with its default privileges" \
	"$(pq "$DB" "SELECT count(*) FROM pg_roles WHERE rolname = 'maker_$s'") $(pq "$DB" "SELECT count(*) FROM pg_default_acl")" "0 0"
cv rollback --db "$DB" --auto-approve -q
expect_rc "rollback" 0
expect_eq "brings back the role and its default privileges" \
	"$(pq "$DB" "SELECT string_agg(pg_get_userbyid(defaclrole) || ':' || defaclobjtype::text, ' ' ORDER BY defaclobjtype) FROM pg_default_acl")" \
	"maker_$s:S maker_$s:r"
cv plan -m drop1 --db "$DB" --detailed-exitcode
expect_rc "as the first manifests had them" 0

# Its memberships, either way, are steps of their own before it goes:
# those of its members (DROP ROLE takes them silently, and the rollback
# did not give them back), and those between two roles dropped together
# (the rollback granted one before it had made the other).
manifest mem1/m.yaml <<EOF
version: 1
postgres:
  roles:
    ra_$s: {}
    rb_$s: {member_of: [ra_$s]}
    keep_$s: {}
EOF
cv apply -m mem1 --db "$DB" --auto-approve -q
expect_rc "two roles, one a member of the other" 0
pq "$DB" "GRANT ra_$s TO bystander_$s"
cv plan -m drop2 --db "$DB"
expect_in "a member converge does not manage loses it first" out.txt \
	"- postgres membership bystander_$s in ra_$s"
expect_in "so does the member dropped with it" out.txt \
	"- postgres membership rb_$s in ra_$s"
cv apply -m drop2 --db "$DB" --auto-approve -q
expect_rc "both are dropped" 0
cv rollback --db "$DB" --auto-approve -q
expect_rc "and the rollback makes both again" 0
expect_eq "with every membership" \
	"$(pq "$DB" "SELECT pg_has_role('rb_$s', 'ra_$s', 'MEMBER')::text || pg_has_role('bystander_$s', 'ra_$s', 'MEMBER')::text")" \
	truetrue
cv plan -m mem1 --db "$DB" --detailed-exitcode
expect_rc "as they were" 0

# A role to drop that owns objects, or holds privileges converge does not
# manage (on a function, a column, the database, anything in another
# database), cannot be dropped: DROP ROLE failed at apply.  The plan
# refuses, naming the role and the first few of them, and never drops or
# reassigns them itself.  What converge revokes first (its privileges on
# tables, the default privileges it owns or gets) is not in the way.
other=other_$s
manifest hold1/m.yaml <<EOF
version: 1
postgres:
  roles: {holder_$s: {}, keep_$s: {}}
  privileges: [{role: holder_$s, privileges: [SELECT], on: {tables: [doc]}}]
  default_privileges:
    - {owner: holder_$s, role: keep_$s, privileges: [SELECT], on: tables}
    - {owner: keep_$s, role: holder_$s, privileges: [USAGE], on: sequences}
EOF
cv apply -m hold1 --db "$DB" --auto-approve -q
expect_rc "a role with privileges and default privileges" 0
pq "$DB" "CREATE TABLE held_$s (id int); ALTER TABLE held_$s OWNER TO holder_$s;
	CREATE SEQUENCE heldseq_$s; ALTER SEQUENCE heldseq_$s OWNER TO holder_$s;
	CREATE FUNCTION fn_$s() RETURNS int LANGUAGE sql AS 'SELECT 1';
	GRANT EXECUTE ON FUNCTION fn_$s() TO holder_$s;
	GRANT SELECT (id) ON doc TO holder_$s;
	GRANT CONNECT ON DATABASE $dbname TO holder_$s;
	ALTER DEFAULT PRIVILEGES FOR ROLE holder_$s REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC"
pq "$CONVERGE_TEST_PG_URL" "CREATE DATABASE $other"
pq "$CONVERGE_TEST_PG_URL&dbname=$other" "CREATE TABLE t (id int); ALTER TABLE t OWNER TO holder_$s;
	CREATE TABLE u (id int); GRANT SELECT ON u TO holder_$s"
cv plan -m drop2 --db "$DB"
expect_rc "dropping it is refused at plan" 1
expect_in "naming the role, the first of what is in the way, and how many" err.txt \
	"PostgreSQL role 'holder_$s' was created by converge and is no longer declared in postgres.roles, so it would be dropped, but DROP ROLE would fail: it owns or holds what converge does not manage: 2 objects in database $other, owner of default privileges on new functions belonging to role holder_$s, owner of sequence heldseq_$s, owner of table held_$s, privileges for column id of table doc, … (8 in all); declare it again, or move or drop them by hand first (REASSIGN OWNED BY holder_$s TO …, then DROP OWNED BY holder_$s, in each database)"
expect_not_in "what converge revokes itself is not in the way" err.txt "privileges for table doc"
expect_not_in "nor the default privileges it revokes" err.txt "new relations"
expect_eq "nothing was touched" \
	"$(pq "$DB" "SELECT count(*) FROM pg_roles WHERE rolname = 'holder_$s'")$(pq "$DB" "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE relname = 'held_$s'")" \
	"1holder_$s"
pq "$DB" "ALTER TABLE held_$s OWNER TO bystander_$s; DROP SEQUENCE heldseq_$s;
	REVOKE EXECUTE ON FUNCTION fn_$s() FROM holder_$s;
	REVOKE SELECT (id) ON doc FROM holder_$s;
	REVOKE CONNECT ON DATABASE $dbname FROM holder_$s;
	ALTER DEFAULT PRIVILEGES FOR ROLE holder_$s GRANT EXECUTE ON FUNCTIONS TO PUBLIC"
pq "$CONVERGE_TEST_PG_URL&dbname=$other" "REASSIGN OWNED BY holder_$s TO bystander_$s; DROP OWNED BY holder_$s"
cv plan -m drop2 --db "$DB"
expect_rc "moved by hand, the plan drops it" 0
expect_in "after revoking what converge manages" out.txt "- postgres privileges on public.doc for holder_$s: SELECT"
cv apply -m drop2 --db "$DB" --auto-approve -q
expect_rc "and applies" 0
cv rollback --db "$DB" --auto-approve -q
expect_rc "and rolls back" 0
cv plan -m hold1 --db "$DB" --detailed-exitcode
expect_rc "as it was" 0
cv apply -m drop2 --db "$DB" --auto-approve -q
expect_rc "dropped again" 0

# ---- a privilege passed on WITH GRANT OPTION ---------------------------
# A role converge manages that got a privilege WITH GRANT OPTION by hand
# and passed it on: REVOKE failed at apply with "dependent privileges
# exist".  converge does not revoke with CASCADE (that would take what
# roles it does not manage were given, and the rollback could not give it
# back), as ldap2pg and pgroles do not: the plan is refused, naming what
# was passed on and to whom.
pq "$DB" "CREATE ROLE passed_$s; CREATE SCHEMA gs_$s; CREATE TABLE gs_$s.t (id int)"
manifest go1/m.yaml <<EOF
version: 1
postgres:
  roles: {giver_$s: {}, keep_$s: {}}
  privileges:
    - {role: giver_$s, privileges: [SELECT, INSERT], on: {tables: [gs_$s.t]}}
    - {role: giver_$s, privileges: [USAGE], on: {schemas: [gs_$s]}}
EOF
cv apply -m go1 --db "$DB" --auto-approve -q
expect_rc "a role with privileges" 0
pq "$DB" "GRANT SELECT, INSERT ON gs_$s.t TO giver_$s WITH GRANT OPTION;
	GRANT USAGE ON SCHEMA gs_$s TO giver_$s WITH GRANT OPTION;
	SET ROLE giver_$s; GRANT SELECT ON gs_$s.t TO passed_$s; GRANT INSERT ON gs_$s.t TO PUBLIC;
	GRANT USAGE ON SCHEMA gs_$s TO passed_$s; RESET ROLE"
manifest go2/m.yaml <<EOF
version: 1
postgres:
  roles: {giver_$s: {}, keep_$s: {}}
  privileges:
    - {role: giver_$s, privileges: [SELECT], on: {tables: [gs_$s.t]}}
EOF
cv plan -m go2 --db "$DB"
expect_rc "revoking what was passed on is refused at plan" 1
expect_in "naming the privilege, who got it, and what to do" err.txt \
	"privileges on schema gs_$s for giver_$s: revoking USAGE would fail at apply (dependent privileges exist): giver_$s passed it on WITH GRANT OPTION (USAGE to passed_$s); converge revokes neither what others got from it nor with CASCADE: revoke those by hand first (SET ROLE giver_$s; REVOKE … FROM …), or keep the privilege in the manifests"
pq "$DB" "SET ROLE giver_$s; REVOKE USAGE ON SCHEMA gs_$s FROM passed_$s; RESET ROLE"
cv plan -m go2 --db "$DB"
expect_rc "so is a table's" 1
expect_in "naming it, to public too" err.txt \
	"privileges on gs_$s.t for giver_$s: revoking INSERT would fail at apply (dependent privileges exist): giver_$s passed it on WITH GRANT OPTION (INSERT to public);"
manifest go3/m.yaml <<EOF
version: 1
postgres:
  roles: {giver_$s: {}, keep_$s: {}}
  privileges:
    - {role: giver_$s, privileges: [SELECT, INSERT], on: {tables: [gs_$s.t]}}
    - {role: giver_$s, privileges: [USAGE], on: {schemas: [gs_$s]}}
EOF
cv plan -m go3 --db "$DB" --detailed-exitcode
expect_rc "kept, nothing is planned (grant options are not managed)" 0
cv plan -m drop2 --db "$DB"
expect_rc "nor can the role be dropped" 1
expect_in "for the same reason" err.txt \
	"privileges on gs_$s.t for giver_$s: revoking INSERT, SELECT would fail at apply (dependent privileges exist): giver_$s passed them on WITH GRANT OPTION (INSERT to public, SELECT to passed_$s);"
pq "$DB" "SET ROLE giver_$s; REVOKE SELECT ON gs_$s.t FROM passed_$s;
	REVOKE INSERT ON gs_$s.t FROM PUBLIC; RESET ROLE"
cv apply -m go2 --db "$DB" --auto-approve -q
expect_rc "revoked by hand, the plan applies" 0
expect_eq "and takes the privileges with their grant options" \
	"$(pq "$DB" "SELECT has_table_privilege('giver_$s', 'gs_$s.t', 'INSERT')::text || has_table_privilege('giver_$s', 'gs_$s.t', 'SELECT WITH GRANT OPTION')::text || has_schema_privilege('giver_$s', 'gs_$s', 'USAGE')::text")" \
	falsetruefalse

# The other side: a managed role that got a privilege from such a role,
# not from the owner.  converge's REVOKE (as the owner or a superuser)
# takes only what the owner granted: the step applied and changed
# nothing, and every plan showed it again (for a role to drop, DROP ROLE
# then failed).  Refused at plan, naming who granted it.
manifest go4/m.yaml <<EOF
version: 1
postgres:
  roles: {giver_$s: {}, taker_$s: {}, keep_$s: {}}
  privileges:
    - {role: giver_$s, privileges: [SELECT], on: {tables: [gs_$s.t]}}
    - {role: giver_$s, privileges: [USAGE], on: {schemas: [gs_$s]}}
EOF
cv apply -m go4 --db "$DB" --auto-approve -q
expect_rc "a role that gets nothing" 0
pq "$DB" "SET ROLE giver_$s; GRANT SELECT ON gs_$s.t TO taker_$s; RESET ROLE"
cv plan -m go4 --db "$DB"
expect_rc "revoking what another role granted is refused at plan" 1
expect_in "naming who granted it" err.txt \
	"privileges on gs_$s.t for taker_$s: revoking SELECT would change nothing: taker_$s got it from another role (SELECT from giver_$s), and a REVOKE by the owner or a superuser takes only what the owner granted; revoke it by hand first (SET ROLE giver_$s; REVOKE … FROM taker_$s), or keep the privilege in the manifests"
pq "$DB" "SET ROLE giver_$s; REVOKE SELECT ON gs_$s.t FROM taker_$s; RESET ROLE"
cv plan -m go4 --db "$DB" --detailed-exitcode
expect_rc "revoked by hand, nothing is left to do" 0

# ---- what the manifests name must exist, or the plan says so ----------
# A schema (privileges on it, all_*_in_schema, default privileges in it)
# or an rls table that does not exist failed at apply, or planned
# nothing without a word (a typo granted nothing), after the review said
# yes; like a table or sequence, it is refused at plan unless a revision
# of the same plan may make it.
nosuch() {
	manifest "ns$1/m.yaml" <<EOF
version: 1
postgres:
  roles: {keep_$s: {}}
$2
EOF
	cv plan -m "ns$1" --db "$DB"
	expect_rc "$3: refused at plan" 1
	expect_in "$3: named, with its place" err.txt "$4"
}
nosuch 1 "  privileges: [{role: keep_$s, privileges: [USAGE], on: {schemas: [nosuch_$s]}}]" \
	"privileges on a schema that does not exist" \
	"a privilege names schema 'nosuch_$s', which does not exist (ns1/m.yaml:4:"
nosuch 2 "  privileges: [{role: keep_$s, privileges: [SELECT], on: {all_tables_in_schema: nosuch_$s}}]" \
	"all_tables_in_schema of a schema that does not exist" \
	"a privilege names schema 'nosuch_$s', which does not exist (ns2/m.yaml:4:"
nosuch 3 "  privileges: [{role: keep_$s, privileges: [USAGE], on: {all_sequences_in_schema: nosuch_$s}}]" \
	"all_sequences_in_schema of a schema that does not exist" \
	"a privilege names schema 'nosuch_$s', which does not exist (ns3/m.yaml:4:"
nosuch 4 "  default_privileges: [{owner: keep_$s, schema: nosuch_$s, role: keep_$s, privileges: [SELECT], on: tables}]" \
	"default privileges in a schema that does not exist" \
	"a default privilege names schema 'nosuch_$s', which does not exist (ns4/m.yaml:4:"
nosuch 5 "  rls: {nosuch_$s.doc: {enabled: true}}" \
	"row-level security on a table whose schema does not exist" \
	"postgres.rls names table 'nosuch_$s.doc', which does not exist (ns5/m.yaml:4:"
nosuch 6 "  rls: {nodoc_$s: {policies: {p: {using: 'true'}}}}" \
	"a policy on a table that does not exist" \
	"postgres.rls names table 'public.nodoc_$s', which does not exist (ns6/m.yaml:4:"
cat >>ns6/m.yaml <<EOF
schema: {migrations: migrations, version: head}
EOF
manifest ns6/migrations/r1.yaml <<EOF
id: r1
up: "CREATE TABLE nodoc_$s (id int)"
down: "DROP TABLE nodoc_$s"
EOF
cv plan -m ns6 --db "$DB"
expect_rc "with a revision in the same plan, it plans" 0
cv apply -m ns6 --db "$DB" --auto-approve -q
expect_rc "and applies" 0

# ---- rls on what is not a table -------------------------------------------
# Row-level security and policies are for tables (and partitioned
# tables) only: rls naming a view, a materialized view or a sequence
# planned, and ALTER TABLE … ENABLE ROW LEVEL SECURITY or CREATE POLICY
# failed at apply.  Refused at plan, with its place and what it is.
pq "$DB" "CREATE VIEW docview_$s AS SELECT * FROM doc;
	CREATE MATERIALIZED VIEW docmat_$s AS SELECT * FROM doc;
	CREATE SEQUENCE docseq_$s"
nosuch 7 "  rls: {docview_$s: {enabled: true}}" \
	"row-level security on a view" \
	"postgres.rls names 'public.docview_$s', which is a view: row-level security and policies apply to tables only (ns7/m.yaml:4:"
nosuch 8 "  rls: {docmat_$s: {policies: {p: {using: 'true'}}}}" \
	"a policy on a materialized view" \
	"postgres.rls names 'public.docmat_$s', which is a materialized view: row-level security and policies apply to tables only (ns8/m.yaml:4:"
nosuch 9 "  rls: {docseq_$s: {enabled: false}}" \
	"rls on a sequence, even switched off" \
	"postgres.rls names 'public.docseq_$s', which is a sequence: row-level security and policies apply to tables only (ns9/m.yaml:4:"
pq "$DB" "CREATE TABLE docpart_$s (id int, tenant int) PARTITION BY RANGE (tenant)"
manifest part/m.yaml <<EOF
version: 1
postgres:
  roles: {keep_$s: {}}
  rls: {docpart_$s: {policies: {p: {using: 'tenant > 0'}}}}
EOF
cv apply -m part --db "$DB" --auto-approve -q
expect_rc "a partitioned table is a table: it has row-level security" 0

# ---- an owner's own privileges ------------------------------------------
# Nothing is granted to an owner (SPEC §7: its privileges are never
# revoked): on a schema it owns, and in the default privileges it sets
# for itself, as on its tables.  Granted, they never read back as done,
# and a rollback revoked the owner's own privileges.
pq "$DB" "CREATE ROLE tabowner_$s; CREATE SCHEMA owned_$s AUTHORIZATION tabowner_$s;
	CREATE TABLE owned_$s.t (id int); ALTER TABLE owned_$s.t OWNER TO tabowner_$s"
manifest own/m.yaml <<EOF
version: 1
postgres:
  roles: {keep_$s: {}}
  privileges:
    - {role: tabowner_$s, privileges: [USAGE, CREATE], on: {schemas: [owned_$s]}}
    - {role: tabowner_$s, privileges: [SELECT], on: {tables: [owned_$s.t]}}
    - {role: keep_$s, privileges: [USAGE], on: {schemas: [owned_$s]}}
  default_privileges:
    - {owner: tabowner_$s, role: tabowner_$s, privileges: [SELECT], on: tables}
    - {owner: tabowner_$s, schema: owned_$s, role: tabowner_$s, privileges: [SELECT], on: tables}
EOF
cv plan -m own --db "$DB"
expect_not_in "nothing is planned for the owner" out.txt "for tabowner_$s"
expect_in "what others get is" out.txt "+ postgres privileges on schema owned_$s for keep_$s: USAGE"
cv apply -m own --db "$DB" --auto-approve -q
expect_rc "applies" 0
cv plan -m own --db "$DB" --detailed-exitcode
expect_rc "and converges" 0
cv rollback --db "$DB" --auto-approve -q
expect_rc "rolls back" 0
expect_eq "the owner keeps its privileges on its schema" \
	"$(pq "$DB" "SELECT has_schema_privilege('tabowner_$s', 'owned_$s', 'USAGE')::text || has_schema_privilege('tabowner_$s', 'owned_$s', 'CREATE')::text || has_schema_privilege('keep_$s', 'owned_$s', 'USAGE')::text")" \
	truetruefalse
expect_eq "and no default privilege was set or taken" "$(pq "$DB" "SELECT count(*) FROM pg_default_acl")" 0

pq "$CONVERGE_TEST_PG_URL" "DROP DATABASE $dbname" >/dev/null
pq "$CONVERGE_TEST_PG_URL" "DROP DATABASE IF EXISTS $other" >/dev/null
for r in reader keep maker ra rb bystander tabowner holder giver passed taker; do
	pq "$CONVERGE_TEST_PG_URL" "DROP ROLE IF EXISTS ${r}_$s" >/dev/null 2>&1
done
