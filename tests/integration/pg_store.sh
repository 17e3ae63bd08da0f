# store.grants on PostgreSQL: the binding's table and columns are looked up
# as its statements find them (through the search path, so with --schema
# too), and a subject column that is not unique is refused.
. "$TOP/tests/integration/lib.sh"
dbname=store_$$
pg_db "$dbname" || exit 1
pq "$DB" "CREATE TABLE agents (agent_id text PRIMARY KEY, role text);
	INSERT INTO agents VALUES ('a1', 'viewer'), ('a2', 'admin');
	CREATE TABLE members (id text, role text);
	INSERT INTO members VALUES ('m1', 'viewer'), ('m1', 'admin')"

# binding KEYS [OPTION…]: a manifest binding the grants with KEYS, then
# its plan.
binding() {
	store_manifest m "$1"
	shift
	cv plan -m m --db "$DB" "$@"
}
binding "table: agents, subject: agent_id, role: nope"
expect_rc "a role column the table lacks: exit 1" 1
expect_in "it is named, with its place" err.txt \
	"m/store.yaml:4:52: error: table 'agents' has no column 'nope', which store.grants names as its role column"
binding "table: agents, subject: Agent_ID, role: role"
expect_rc "a quoted name is matched exactly: exit 1" 1
expect_in "the subject column is named" err.txt "no column 'Agent_ID'"
binding "table: nope, subject: agent_id, role: role"
expect_rc "a table the database lacks: exit 1" 1
expect_in "the table is named" err.txt \
	"m/store.yaml:4:19: error: no table 'nope' in the database, which store.grants names to keep the grants"
binding "table: agents, subject: agent_id, role: role"
expect_rc "the binding is right: exit 0" 0
expect_in "and the grant is planned" out.txt "~ grant admin to a1"
binding "table: agents, subject: agent_id, role: role" --schema ops
expect_rc "with --schema, the application's table is found in public" 0
expect_in "and the grant is planned" out.txt "~ grant admin to a1"
binding "table: members, subject: id, role: role"
expect_rc "a subject with several rows: exit 1" 1
expect_in "is named" err.txt \
	"m/store.yaml:4:37: error: 'm1' has several rows in members, but store.grants keeps one role per subject: members.id must be unique"

# A NOT NULL role column (attnotnull): a revoke without a default would
# set it to NULL, so plan refuses and says to give the binding a default.
pq "$DB" "CREATE TABLE staff (id text PRIMARY KEY, role text NOT NULL);
	INSERT INTO staff VALUES ('a1', 'viewer'), ('s1', 'admin')"
binding "table: staff, subject: id, role: role"
expect_rc "NOT NULL role column, a revoke without a default: exit 1" 1
expect_in "plan names the column, the subject and what to do" err.txt \
	"m/store.yaml:4:3: error: revoking the grant of 's1' would set staff.role to NULL, but the column is NOT NULL: give store.grants a 'default' role for the subjects with no grant"
binding "table: staff, subject: id, role: role, default: viewer"
expect_rc "with a default: exit 0" 0
expect_in "s1 goes back to the default" out.txt "- grant admin to s1"

# A rollback that would remove a role rows of the bound table still hold
# (granted by a later run, found through the journal): refused, naming
# the rows.
pq "$DB" "CREATE TABLE crew (id text PRIMARY KEY, role text);
	INSERT INTO crew VALUES ('c1', NULL), ('c2', NULL)"
manifest rr/store.yaml <<'Y'
version: 1
roles: {viewer: {}, ops: {}}
store:
  grants: {table: crew, subject: id, role: role, default: viewer}
grants: []
Y
cv apply -m rr --db "$DB" --auto-approve -q
expect_rc "the roles are made" 0
run1=$(pq "$DB" "SELECT min(id) FROM converge_runs")
sed -i 's/grants: \[\]/grants: [{subject: c2, role: ops}]/' rr/store.yaml
cv apply -m rr --db "$DB" --auto-approve -q
expect_rc "a later run grants ops to c2" 0
cv rollback "$run1" --db "$DB" --auto-approve
expect_rc "a rollback removing ops while c2 holds it: exit 1" 1
expect_in "the row is named" err.txt \
	"cannot remove role 'ops': 1 row of crew.role still holds it ('c2')"
