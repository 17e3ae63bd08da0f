# store.grants: the grants kept in an application's own table, one role per
# subject in a column (TMWS's agents.role), planned, applied, saved and
# rolled back through the binding.
. "$TOP/tests/integration/lib.sh"

seed_tmws app.db
cv apply -m "$TOP/manifests" --db sqlite:app.db --auto-approve -q
expect_rc "TMWS applied (agents.role exists)" 0
expect_eq "every agent starts as viewer" "$(q app.db "SELECT group_concat(DISTINCT role) FROM agents")" viewer

manifest m/store.yaml <<'Y'
version: 1
roles:
  viewer: {permissions: [license:read]}
  editor: {inherits: [viewer], permissions: [license:generate]}
  admin: {inherits: [editor], permissions: [license:admin]}
store:
  grants: {table: agents, subject: agent_id, role: role, default: viewer}
grants:
  - {subject: admin-agent-id, role: admin}
  - {subject: ci-bot, role: editor}
  - {subject: support-bot, role: viewer}
Y
cv plan -m m --db sqlite:app.db
expect_rc "plan through the binding" 0
expect_in "granting sets the column" out.txt "+ grant admin to admin-agent-id"
expect_in "a second grant" out.txt "+ grant editor to ci-bot"
expect_not_in "the default role is no grant to add" out.txt "support-bot"
cv plan -m m --db sqlite:app.db -o store.plan.yaml -q
expect_in "the saved plan names the binding" store.plan.yaml "grants_store:"
cv apply store.plan.yaml --db sqlite:app.db --auto-approve
expect_rc "the saved plan applies through the binding" 0
expect_eq "roles set in agents.role" "$(q app.db "SELECT agent_id || '=' || role FROM agents ORDER BY agent_id" | tr '\n' ' ')" \
	"admin-agent-id=admin ci-bot=editor research-7f3a=viewer support-bot=viewer translator-zoe=viewer "
expect_eq "rbac_grants untouched by the binding" "$(q app.db "SELECT count(*) FROM rbac_grants")" 4
cv plan -m m --db sqlite:app.db --detailed-exitcode
expect_rc "re-plan shows no changes" 0
cv inspect --db sqlite:app.db
expect_rc "inspect with a binding: exit 0" 0
expect_not_in "inspect does not print the grants kept through the binding" out.txt \
	"{subject: ci-bot, role: editor}"
expect_in "it prints converge's own grants table" out.txt \
	"{subject: ci-bot, role: editor, scope: 'tenant:acme'}"
expect_not_in "nor the binding, which the database does not hold" out.txt "store:"

# Ownership: an agent the manifests no longer grant goes back to the default.
sed -i '/ci-bot/d' m/store.yaml
cv apply -m m --db sqlite:app.db --auto-approve
expect_rc "revoking through the binding" 0
expect_in "the review says it is revoked" out.txt "- grant editor to ci-bot"
expect_eq "ci-bot back to the default" "$(q app.db "SELECT role FROM agents WHERE agent_id = 'ci-bot'")" viewer

# Rollback finds the binding in the run's steps.
cv rollback --db sqlite:app.db --auto-approve
expect_rc "rollback through the binding" 0
expect_eq "ci-bot is editor again" "$(q app.db "SELECT role FROM agents WHERE agent_id = 'ci-bot'")" editor
q app.db "UPDATE agents SET role = 'viewer' WHERE agent_id = 'admin-agent-id'"
cv rollback --db sqlite:app.db --auto-approve
expect_rc "a rollback refuses when the column changed by hand" 1
expect_in "and names the object" err.txt "grants admin to admin-agent-id"

# A row whose role is NULL holds no grant, as one holding the default does:
# an unmentioned one is left NULL, not given the default role (which would
# grant, unasked, what the default role allows).
sqlite3 nul.db "CREATE TABLE members (id TEXT PRIMARY KEY, role TEXT);
INSERT INTO members VALUES ('ann', NULL), ('bob', 'admin'), ('cat', 'viewer');"
manifest mn/store.yaml <<'Y'
version: 1
roles: {viewer: {}, admin: {}}
store:
  grants: {table: members, subject: id, role: role, default: viewer}
grants: []
Y
cv plan -m mn --db sqlite:nul.db
expect_eq "only the row holding a role is revoked" "$(grep '^  [-+~] grant' out.txt)" "  - grant admin to bob"
cv apply -m mn --db sqlite:nul.db --auto-approve -q
expect_eq "bob back to the default, ann still NULL" \
	"$(q nul.db "SELECT id || '=' || coalesce(role, 'NULL') FROM members ORDER BY id" | tr '\n' ' ')" \
	"ann=NULL bob=viewer cat=viewer "

# Bad input.
manifest bad/a.yaml <<'Y'
version: 1
roles: {viewer: {}, admin: {}}
store:
  grants: {table: agents, subject: agent_id, role: role, default: viewer, colour: red}
grants:
  - {subject: admin-agent-id, role: admin}
  - {subject: admin-agent-id, role: viewer}
  - {subject: ci-bot, role: admin, scope: "tenant:acme"}
Y
cv validate -m bad
expect_rc "bad binding: exit 1" 1
expect_in "unknown key in the binding" err.txt "unknown key 'colour' in store.grants"
expect_in "two roles for one subject" err.txt "'admin-agent-id' is granted a second role, but agents.role keeps one role per subject"
expect_in "a scope cannot be kept" err.txt "'scope', 'expires' and 'reason' cannot be kept there"
manifest bad2/a.yaml <<'Y'
version: 1
roles: {admin: {}}
store:
  grants: {table: agents, subject: agent_id, role: role}
grants:
  - {subject: nobody-here, role: admin}
Y
cv plan -m bad2 --db sqlite:app.db
expect_rc "a subject without a row: exit 1" 1
expect_in "converge does not add application rows" err.txt "'nobody-here' has no row in agents"
store_manifest bad3 "subject: agent_id" "[]"
cv validate -m bad3
expect_rc "a binding without a table or role column: exit 1" 1
expect_in "the missing table is said" err.txt "bad3/store.yaml:4:11: error: store.grants has no 'table'"
expect_in "and the missing role column" err.txt "bad3/store.yaml:4:11: error: store.grants has no 'role'"

# The binding names a table and columns the database has: SQLite reads an
# unknown double-quoted name as a string, which would plan a grant of
# 'nope' to every row.  The errors point at the name in the manifest.
sqlite3 cols.db "CREATE TABLE agents (agent_id TEXT PRIMARY KEY, role TEXT);
INSERT INTO agents VALUES ('a1', 'viewer'), ('a2', 'admin');"
# binding KEYS: a manifest binding the grants with KEYS, then its plan.
binding() {
	store_manifest mb "$1"
	cv plan -m mb --db sqlite:cols.db
}
binding "table: agents, subject: agent_id, role: nope"
expect_rc "a role column the table lacks: exit 1" 1
expect_in "it is named, with its place" err.txt \
	"mb/store.yaml:4:52: error: table 'agents' has no column 'nope', which store.grants names as its role column"
expect_not_in "and no grant is planned" out.txt "grant"
binding "table: agents, subject: nope, role: role"
expect_rc "a subject column the table lacks: exit 1" 1
expect_in "the subject column is named" err.txt \
	"mb/store.yaml:4:36: error: table 'agents' has no column 'nope', which store.grants names as its subject column"
binding "table: nope, subject: agent_id, role: role"
expect_rc "a table the database lacks: exit 1" 1
expect_in "the table is named" err.txt \
	"mb/store.yaml:4:19: error: no table 'nope' in the database, which store.grants names to keep the grants"
binding "table: agents, subject: agent_id, role: role"
cv plan -m mb --db sqlite:cols.db -o cols.plan.yaml -q
expect_rc "the binding is right: a plan" 0
sqlite3 cols.db "ALTER TABLE agents RENAME COLUMN role TO rank"
cv apply cols.plan.yaml --db sqlite:cols.db --auto-approve
expect_rc "apply of a saved plan checks the columns again" 1
expect_in "a saved plan has no manifest place to give" err.txt \
	"converge: error: table 'agents' has no column 'role', which store.grants names as its role column"

# The column is made by a revision of the same plan: the error says why
# that is not enough and what to do (the grants are planned from the
# table as it is before any revision runs).
mkdir -p pend/mig
printf 'id: r1\nup: CREATE TABLE agents (agent_id TEXT PRIMARY KEY);\ndown: DROP TABLE agents;\n' > pend/mig/r1.yaml
printf 'id: r2\nparent: r1\nup: ALTER TABLE agents ADD COLUMN role TEXT NOT NULL DEFAULT %sviewer%s;\ndown: ALTER TABLE agents DROP COLUMN role;\n' "'" "'" > pend/mig/r2.yaml
printf 'version: 1\nschema: {migrations: mig, version: r1}\n' > pend/r1.yaml
cv apply -m pend/r1.yaml --db sqlite:pend.db --auto-approve -q
manifest pend/m/all.yaml <<'Y'
version: 1
schema: {migrations: ../mig, version: head}
roles: {viewer: {}, admin: {}}
grants:
  - {subject: a1, role: admin}
store:
  grants: {table: agents, subject: agent_id, role: role, default: viewer}
Y
cv plan -m pend/m --db sqlite:pend.db
expect_rc "a bound column a revision of the plan would make: exit 1" 1
expect_in "it says the schema change must come first" err.txt \
	"table 'agents' has no column 'role', which store.grants names as its role column; this plan changes the schema version, which may make it, but the grants kept there are planned from the table as it is now: apply the schema change first (with store.grants left out), then the grants"

# One role per subject: a subject column that is not unique is refused
# before a plan would both revoke one row's role and grant another's.
sqlite3 dup.db "CREATE TABLE agents (agent_id TEXT, role TEXT);
INSERT INTO agents VALUES ('a1', 'viewer'), ('a1', 'admin'), ('a2', 'admin'),
('a3', 'viewer'), ('a3', 'viewer'), ('a3', 'admin');"
store_manifest md "table: agents, subject: agent_id, role: role, default: viewer"
cv plan -m md --db sqlite:dup.db
expect_rc "a subject with several rows: exit 1" 1
expect_in "the subjects are named once each" err.txt \
	"md/store.yaml:4:36: error: 'a1', 'a3' have several rows in agents, but store.grants keeps one role per subject: agents.agent_id must be unique"
cv apply -m md --db sqlite:dup.db --auto-approve -q
expect_rc "apply refuses too" 1
expect_eq "no row was changed" "$(q dup.db "SELECT group_concat(agent_id || '=' || role, ' ') FROM agents")" \
	"a1=viewer a1=admin a2=admin a3=viewer a3=viewer a3=admin"

# converge's own tables are not the application's to bind, and the
# default is a role like any grant's.
store_manifest mo "table: converge_runs, subject: id, role: kind, default: restore" "[]"
cv validate -m mo
expect_rc "binding converge's journal: exit 1" 1
expect_in "the table is refused where it is named" err.txt \
	"mo/store.yaml:4:19: error: store.grants cannot bind 'converge_runs', one of converge's own tables"
expect_in "an undefined default role is an error" err.txt \
	"mo/store.yaml:4:68: error: store.grants default names undefined role 'restore'"
for t in converge_steps converge_migrations converge_pg_roles converge_schema_version alembic_version RBAC_Grants feature_flags; do
	sed -i "s/table: [A-Za-z_]*,/table: $t,/" mo/store.yaml
	cv validate -m mo
	expect_in "$t is converge's" err.txt "cannot bind '$t', one of converge's own tables"
done
manifest mr/store.yaml <<'Y'
version: 1
store:
  grants: {table: agents, subject: agent_id, role: role, default: viewr}
grants: []
Y
cv plan -m mr --db sqlite:app.db
expect_rc "without a roles section, a default the database lacks: exit 1" 1
expect_in "is named with its place" err.txt \
	"mr/store.yaml:3:67: error: store.grants default names role 'viewr': no such role in the database"
sed -i 's/viewr/viewer/' mr/store.yaml
cv plan -m mr --db sqlite:app.db
expect_rc "a default the database has: exit 0" 0

# A saved plan through the binding records its guards, and apply FILE
# counts the roles the column will hold: m2, revoked, goes back to the
# default; m3 holds no role at all.
sqlite3 sg.db "CREATE TABLE members (id TEXT PRIMARY KEY, role TEXT);
INSERT INTO members VALUES ('m1', 'admin'), ('m2', 'admin'), ('m3', NULL);"
manifest sg/store.yaml <<'Y'
version: 1
roles: {viewer: {}, admin: {}}
store:
  grants: {table: members, subject: id, role: role, default: viewer}
grants:
  - {subject: m1, role: admin}
guards:
  min_grants: {admin: 1}
Y
cv plan -m sg --db sqlite:sg.db -o sg.plan.yaml -q
expect_rc "a guarded plan through the binding" 0
sed 's/{"admin": 1}/{"admin": 2, "viewer": 1}/' sg.plan.yaml >sg2.plan.yaml
cv apply sg2.plan.yaml --db sqlite:sg.db --auto-approve -q
expect_rc "apply FILE counts through the binding: one admin left" 1
expect_in "and says so" err.txt \
	"role 'admin' would have 1 grant, fewer than the 2 that guards.min_grants requires (sg2.plan.yaml:11:16)"
expect_not_in "m2 back to the default counts for it" err.txt "role 'viewer'"
cv apply sg.plan.yaml --db sqlite:sg.db --auto-approve -q
expect_rc "its guard holds at apply" 0
expect_eq "m1 kept, m2 back to the default, m3 untouched" \
	"$(q sg.db "SELECT group_concat(id || '=' || ifnull(role, 'NULL'), ' ') FROM members")" \
	"m1=admin m2=viewer m3=NULL"

# A role column that is NOT NULL: without a default, a revoke would set it
# to NULL and the apply would fail on that step.  plan refuses first,
# naming the column and the subjects, and says to give the binding a
# default; a plan that revokes nothing is fine.
sqlite3 nn.db "CREATE TABLE members (id TEXT PRIMARY KEY, role TEXT NOT NULL);
INSERT INTO members VALUES ('a1', 'viewer'), ('m1', 'admin'), ('m2', 'admin'),
('m3', 'admin'), ('m4', 'admin'), ('m5', 'admin'), ('m6', 'admin');"
store_manifest nn "table: members, subject: id, role: role" \
	"[{subject: a1, role: admin}, {subject: m1, role: admin}, {subject: m2, role: admin}, {subject: m3, role: admin}, {subject: m4, role: admin}, {subject: m5, role: admin}, {subject: m6, role: admin}]"
cv plan -m nn --db sqlite:nn.db
expect_rc "NOT NULL role column, nothing revoked: exit 0" 0
store_manifest nn "table: members, subject: id, role: role" "[{subject: a1, role: admin}]"
cv plan -m nn --db sqlite:nn.db
expect_rc "NOT NULL role column, revokes without a default: exit 1" 1
expect_in "plan names the column, the subjects and what to do" err.txt \
	"nn/store.yaml:4:3: error: revoking the grants of 'm1', 'm2', 'm3', 'm4', 'm5' and 1 more would set members.role to NULL, but the column is NOT NULL: give store.grants a 'default' role for the subjects with no grant"
cv apply -m nn --db sqlite:nn.db --auto-approve -q
expect_rc "apply refuses before any step" 1
expect_eq "no row was changed" "$(q nn.db "SELECT group_concat(id || '=' || role, ' ') FROM members")" \
	"a1=viewer m1=admin m2=admin m3=admin m4=admin m5=admin m6=admin"
store_manifest nn "table: members, subject: id, role: role, default: viewer" "[{subject: a1, role: admin}]"
cv apply -m nn --db sqlite:nn.db --auto-approve -q
expect_rc "with a default, the revokes apply" 0
expect_eq "revoked rows hold the default" "$(q nn.db "SELECT group_concat(id || '=' || role, ' ') FROM members")" \
	"a1=admin m1=viewer m2=viewer m3=viewer m4=viewer m5=viewer m6=viewer"

# Removing a role that rows of the bound table still hold: a rollback of
# the run that made the role, after a later run granted it there (the
# rolled-back run has no step through the binding: the journal has it),
# or after the application wrote it by hand, is refused, naming the rows.
sqlite3 rr.db "CREATE TABLE members (id TEXT PRIMARY KEY, role TEXT);
INSERT INTO members VALUES ('m1', NULL), ('m2', NULL), ('m3', NULL);"
manifest rr/store.yaml <<'Y'
version: 1
roles: {viewer: {}, ops: {}}
store:
  grants: {table: members, subject: id, role: role, default: viewer}
grants: []
Y
cv apply -m rr --db sqlite:rr.db --auto-approve -q
expect_rc "the roles are made, no row changed" 0
run1=$(q rr.db "SELECT id FROM converge_runs ORDER BY id LIMIT 1")
sed -i 's/grants: \[\]/grants: [{subject: m1, role: ops}]/' rr/store.yaml
cv apply -m rr --db sqlite:rr.db --auto-approve -q
expect_rc "a later run grants ops to m1 through the binding" 0
cv rollback "$run1" --db sqlite:rr.db --auto-approve
expect_rc "a rollback removing ops while m1 holds it: exit 1" 1
expect_in "the row is named" err.txt \
	"cannot remove role 'ops': 1 row of members.role still holds it ('m1'); give those rows another role first, or roll back the run that granted it"
expect_eq "no role was removed" "$(q rr.db "SELECT group_concat(name, ' ') FROM rbac_roles ORDER BY name")" "ops viewer"
q rr.db "UPDATE members SET role = 'ops'"
cv rollback --db sqlite:rr.db --auto-approve -q
expect_rc "undoing the grant (m1 back to NULL) leaves the rows set by hand" 0
cv rollback "$run1" --db sqlite:rr.db --auto-approve
expect_rc "rows set by hand hold ops: exit 1" 1
expect_in "they are named and counted" err.txt \
	"cannot remove role 'ops': 2 rows of members.role still hold it ('m2', 'm3')"
expect_eq "m1 is NULL again" "$(q rr.db "SELECT ifnull(role, 'NULL') FROM members WHERE id = 'm1'")" NULL
q rr.db "UPDATE members SET role = 'viewer' WHERE role = 'ops'"
cv rollback "$run1" --db sqlite:rr.db --auto-approve -q
expect_rc "rows holding the default hold no grant: the rollback removes the roles" 0
expect_eq "rbac_roles is empty again" "$(q rr.db "SELECT count(*) FROM rbac_roles")" 0
