# --schema NAME on PostgreSQL (SPEC §7): converge's tables — journal,
# version table, the application-facing tables and views — live in NAME;
# the application's revisions and checks run against the application's
# own schemas as before.  plan creates nothing, not even the schema.
. "$TOP/tests/integration/lib.sh"

manifest sq/m.yaml <<'EOF'
version: 1
roles: {viewer: {permissions: [a:read]}}
EOF
cv plan -m sq --db sqlite:sq.db --schema ops
expect_rc "--schema with SQLite is a usage error" 64
expect_in "and says so" err.txt "--schema is for PostgreSQL"

dbname=schema_$$
pg_db "$dbname" || exit 1
pq "$DB" "CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL);
	INSERT INTO customers VALUES (1, 'a'), (2, 'b')"

manifest m/migrations/r1.yaml <<'EOF'
id: 1a2b3c4d5e6f
description: orders
up: "CREATE TABLE orders (id int PRIMARY KEY, customer_id int REFERENCES customers (id))"
down: "DROP TABLE orders"
verify: "SELECT 1 FROM orders WHERE false"
EOF
manifest m/m.yaml <<'EOF'
version: 1
schema: {migrations: migrations, version: head}
roles:
  viewer: {permissions: ["orders:read"]}
grants:
  - {subject: alice, role: viewer}
flags:
  orders_v1: {enabled: true, checks: [no_orphans]}
checks:
  no_orphans:
    sql: "SELECT count(*) FROM orders o LEFT JOIN customers c ON c.id = o.customer_id WHERE c.id IS NULL"
    expect: 0
EOF

# where NAME: the schema a table or view is in, or nothing.
where() { pq "$DB" "SELECT string_agg(n.nspname, ' ') FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relname = '$1' AND c.relkind IN ('r', 'v')"; }

cv plan -m m --db "$DB" --schema ops
expect_rc "plan with --schema exits 0" 0
expect_in "and plans the revision" out.txt "↑ revision 1a2b3c4d5e6f"
expect_eq "plan does not create the schema" \
	"$(pq "$DB" "SELECT count(*) FROM pg_namespace WHERE nspname = 'ops'")" 0

cv apply -m m --db "$DB" --schema ops --auto-approve -q
expect_rc "apply with --schema exits 0" 0
expect_eq "the journal is in ops" "$(where converge_runs)" ops
expect_eq "the version table is in ops" "$(where converge_schema_version)" ops
expect_eq "the storage tables are in ops" "$(where rbac_grants) $(where feature_flags)" "ops ops"
expect_eq "and the views" "$(where rbac_effective_permissions)" ops
expect_eq "the revision's table is where the application keeps its tables" "$(where orders)" public
expect_eq "nothing of converge's is in public" \
	"$(pq "$DB" "SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace AND (relname LIKE 'converge%' OR relname LIKE 'rbac%' OR relname LIKE 'feature%')")" 0

cv plan -m m --db "$DB" --schema ops --detailed-exitcode
expect_rc "planned again with --schema: no changes" 0
cv plan -m m --db "$DB" --detailed-exitcode
expect_rc "without --schema converge looks in public, where it finds none of its tables" 2
cv status --db "$DB" --schema ops
expect_in "status finds the version in ops" out.txt "1a2b3c4d5e6f"
cv history --db "$DB" --schema ops
expect_in "history finds the run in ops" out.txt "apply"

# A check reads the application's tables; the data-loss scan looks there.
pq "$DB" "INSERT INTO orders VALUES (1, 1)"
manifest m/migrations/r2.yaml <<'EOF'
id: 2b3c4d5e6f7a
parent: 1a2b3c4d5e6f
description: orders get a note
up: "ALTER TABLE orders ADD COLUMN note text"
down: "ALTER TABLE orders DROP COLUMN note"
EOF
cv apply -m m --db "$DB" --schema ops --auto-approve
expect_rc "a second revision applies, the check reading public" 0
# The undo command apply prints must find the journal, which is in ops.
expect_in "the undo command names --schema" out.txt "Undo it with: converge rollback --db '$DB' --schema ops "
undo=$(sed -n 's/^Undo it with: //p' out.txt)
eval "set -- $undo"
shift  # "converge"
cv "$@" --auto-approve
expect_rc "rollback of it, run as apply printed it" 0
cat >m/m2.yaml <<'EOF'
version: 1
schema: {migrations: migrations, version: base}
EOF
rm m/m.yaml
cv plan -m m --db "$DB" --schema ops
expect_in "dropping the application's table that holds rows is flagged" out.txt "drops table orders, which holds rows"

pq "$CONVERGE_TEST_PG_URL" "DROP DATABASE $dbname" >/dev/null

# Without --schema, converge's tables are in public even when the search
# path puts another schema first; the application's revisions still land
# in that one.
dbname2=schema2_$$
pg_db "$dbname2" || exit 1
pq "$DB" "CREATE SCHEMA app; CREATE TABLE app.customers (id int PRIMARY KEY, name text NOT NULL);
	ALTER DATABASE $dbname2 SET search_path TO app, public"
rm -f m/m2.yaml
rm -f m/migrations/r2.yaml
manifest m/m.yaml <<'EOF'
version: 1
schema: {migrations: migrations, version: head}
roles: {viewer: {permissions: ["orders:read"]}}
grants: [{subject: alice, role: viewer}]
EOF
cv apply -m m --db "$DB" --auto-approve -q
expect_rc "apply without --schema exits 0" 0
expect_eq "the journal is in public" "$(where converge_runs)" public
expect_eq "so are the version table and the storage tables" \
	"$(where converge_schema_version) $(where rbac_grants)" "public public"
expect_eq "the revision's table is in the search path's first schema" "$(where orders)" app
cv plan -m m --db "$DB" --detailed-exitcode
expect_rc "planned again: no changes" 0
# The version tables are converge's, never part of all_tables_in_schema,
# even in manifests without a schema: section: alembic_version, and the
# one a run recorded.
manifest v1/migrations/r1.yaml <<'EOF'
id: 3c4d5e6f7a8b
description: things
up: "CREATE TABLE things (id int PRIMARY KEY)"
down: "DROP TABLE things"
EOF
manifest v1/m.yaml <<'EOF'
version: 1
schema: {migrations: migrations, version: head, table: app_versions}
EOF
cv apply -m v1 --db "$DB" --auto-approve -q
expect_rc "a chain with its own version table applies" 0
pq "$DB" "CREATE TABLE public.alembic_version (version_num varchar(32) NOT NULL);
	CREATE TABLE public.extras (id int)"
manifest v2/m.yaml <<EOF
version: 1
postgres:
  privileges:
    - {role: reader_$$, privileges: [SELECT], on: {all_tables_in_schema: public}}
  roles: {reader_$$: {}}
EOF
cv plan -m v2 --db "$DB"
expect_rc "all_tables_in_schema without a schema: section plans" 0
expect_in "it takes the application's tables" out.txt "privileges on public.extras for reader_$$"
expect_not_in "not the version table a run recorded" out.txt "app_versions"
expect_not_in "nor alembic_version" out.txt "alembic_version"
pq "$CONVERGE_TEST_PG_URL" "DROP DATABASE $dbname2" >/dev/null

# A revision outside a transaction: the run holds the lock through it (a
# session advisory lock), so a second apply waits or exits 4.
pg_db "nt_$$" || exit 1
manifest nt/migrations/r1.yaml <<'Y'
id: nt1
transaction: false
up: SELECT pg_sleep(4)
down: SELECT 1
Y
manifest nt/m.yaml <<'Y'
version: 1
schema: {migrations: migrations, version: head}
Y
"$CONVERGE" apply -m nt --db "$DB" --auto-approve -q >nt.out 2>&1 &
NT=$!
i=0
while [ "$(pq "$DB" "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(4)' AND state = 'active'")" != 1 ] &&
	[ $i -lt 200 ]; do
	sleep 0.05; i=$((i + 1))
done
cv apply -m nt --db "$DB" --auto-approve --lock-timeout 0.5
expect_rc "a second apply while a revision runs outside a transaction: exit 4" 4
wait $NT
expect_eq "the first apply ends well" "$?" 0
expect_eq "the lock is free after it" \
	"$(pq "$DB" "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")" 0
pq "$CONVERGE_TEST_PG_URL" "DROP DATABASE nt_$$" >/dev/null

# A transaction: false revision that fails leaves the application's search
# path set (nothing rolls back a SET made outside a transaction): the
# failed run is still recorded in converge's schema, with no stray
# converge_* tables beside the application's.
pg_db "ntf_$$" || exit 1
pq "$DB" "CREATE TABLE agents (id int PRIMARY KEY, notes text); INSERT INTO agents VALUES (1, 'n'), (2, 'n')"
manifest ntf/mig/r1.yaml <<'EOF'
id: r1
transaction: false
up: CREATE UNIQUE INDEX CONCURRENTLY ux_agents_notes ON agents (notes)
down: DROP INDEX CONCURRENTLY ux_agents_notes
EOF
manifest ntf/m.yaml <<'EOF'
version: 1
schema: {migrations: mig, version: head}
EOF
cv apply -m ntf --db "$DB" --schema ops --auto-approve -q
expect_rc "the revision fails" 1
expect_eq "the failed run is recorded in ops, and nothing of converge's is in public" \
	"$(pq "$DB" "SELECT string_agg(schemaname || '.' || tablename, ' ' ORDER BY 1) FROM pg_tables WHERE tablename LIKE 'converge%'")" \
	"ops.converge_migrations ops.converge_runs ops.converge_schema_version ops.converge_steps"
expect_eq "as failed" "$(pq "$DB" "SELECT status FROM ops.converge_runs")" failed
pq "$CONVERGE_TEST_PG_URL" "DROP DATABASE ntf_$$" >/dev/null

# restore replaces the database with the snapshot: the types, functions,
# domains and schemas a later revision made go too (a revision applied
# again would fail on "type … already exists").
pg_db "rst_$$" || exit 1
manifest rst/mig/a1.yaml <<'EOF2'
id: a1
up: CREATE TABLE agents (id int PRIMARY KEY)
down: DROP TABLE agents
EOF2
manifest rst/mig/a2.yaml <<'EOF2'
id: a2
parent: a1
up: |
  CREATE TYPE mood AS ENUM ('ok', 'bad');
  CREATE DOMAIN posint AS int CHECK (VALUE > 0);
  CREATE FUNCTION f_one() RETURNS int LANGUAGE sql AS 'SELECT 1';
  CREATE SCHEMA reporting;
  CREATE TABLE reporting.x (id int);
  CREATE TABLE feelings (id serial PRIMARY KEY, m mood, p posint);
down: |
  DROP TABLE feelings; DROP TABLE reporting.x; DROP SCHEMA reporting;
  DROP FUNCTION f_one(); DROP DOMAIN posint; DROP TYPE mood;
EOF2
printf 'version: 1\nschema: {migrations: mig, version: a1}\n' > rst/a1.yaml
printf 'version: 1\nschema: {migrations: mig, version: head}\n' > rst/head.yaml
cv apply -m rst/a1.yaml --db "$DB" --auto-approve -q
cv apply -m rst/head.yaml --db "$DB" --auto-approve -q
snap=$(pq "$DB" "SELECT snapshot FROM converge_runs ORDER BY id DESC LIMIT 1")
cv restore --db "$DB" "$snap" --auto-approve -q
expect_rc "restore of the snapshot before a2" 0
expect_eq "a2's type, domain, function and schema are gone" \
	"$(pq "$DB" "SELECT (SELECT count(*) FROM pg_type WHERE typname IN ('mood', 'posint')) || ' ' || (SELECT count(*) FROM pg_proc WHERE proname = 'f_one') || ' ' || (SELECT count(*) FROM pg_namespace WHERE nspname = 'reporting')")" "0 0 0"
expect_eq "the table a1 made is back" "$(pq "$DB" "SELECT count(*) FROM pg_tables WHERE tablename = 'agents'")" 1
cv apply -m rst/head.yaml --db "$DB" --auto-approve -q
expect_rc "so a2 applies again" 0
pq "$CONVERGE_TEST_PG_URL" "DROP DATABASE rst_$$" >/dev/null

# A rollback that commits its first segment, then fails in a revision
# outside a transaction (a view of the application's keeps its table from
# being dropped), resumes when run again once the cause is gone (SPEC
# §5): what it undid already is not "changed since the run".
pg_db "rres_$$" || exit 1
manifest rres/mig/1.yaml <<'EOF2'
id: q1
up: CREATE TABLE q1 (x int)
down: DROP TABLE q1
EOF2
manifest rres/mig/2.yaml <<'EOF2'
id: q2
parent: q1
transaction: false
up: CREATE TABLE tripwire (x int)
down: DROP TABLE tripwire
EOF2
manifest rres/mig/3.yaml <<'EOF2'
id: q3
parent: q2
up: CREATE TABLE q3 (x int)
down: DROP TABLE q3
EOF2
manifest rres/m.yaml <<'EOF2'
version: 1
schema: {migrations: mig, version: head}
roles: {viewer: {permissions: [a:b]}}
EOF2
cv apply -m rres --db "$DB" --auto-approve -q
RRES=$(pq "$DB" "SELECT id FROM converge_runs")
pq "$DB" "CREATE VIEW trip AS SELECT x FROM tripwire"
cv rollback --db "$DB" --auto-approve -q
expect_rc "a rollback whose revision outside a transaction fails: exit 1" 1
expect_eq "what it committed before stays: q3 down, the role gone" \
	"$(pq "$DB" "SELECT version FROM converge_schema_version") $(pq "$DB" "SELECT count(*) FROM rbac_roles") $(pq "$DB" "SELECT count(*) FROM pg_tables WHERE tablename = 'q3'")" \
	"q2 0 0"
pq "$DB" "DROP VIEW trip"
cv rollback --db "$DB" --auto-approve -q
expect_rc "rollback again, once the cause is gone, resumes: exit 0" 0
expect_eq "it undid the run it had begun to undo" \
	"$(pq "$DB" "SELECT undone_by IS NOT NULL FROM converge_runs WHERE id = '$RRES'")" t
expect_eq "the schema is back at base, its tables gone" \
	"$(pq "$DB" "SELECT count(*) FROM converge_schema_version") $(pq "$DB" "SELECT count(*) FROM pg_tables WHERE tablename IN ('q1', 'tripwire', 'q3')")" \
	"0 0"
expect_eq "the lock is free after it" \
	"$(pq "$DB" "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")" 0
pq "$CONVERGE_TEST_PG_URL" "DROP DATABASE rres_$$" >/dev/null

# converge killed while the server runs a revision of its (one outside a
# transaction here, a long CREATE INDEX CONCURRENTLY in life): the server
# sees the client gone within seconds, stops the statement and lets the
# lock go, rather than run on for nobody with the lock held (status would
# show the dead run as running, and every apply would exit 4 meanwhile).
pg_db "orph_$$" || exit 1
manifest orph/mig/1.yaml <<'EOF2'
id: o1
transaction: false
up: SELECT pg_sleep(60)
down: SELECT 1
EOF2
manifest orph/m.yaml <<'EOF2'
version: 1
schema: {migrations: mig, version: head}
EOF2
"$CONVERGE" apply -m orph --db "$DB" --auto-approve -q --no-snapshot >orph.out 2>&1 &
ORPH=$!
i=0
while [ "$(pq "$DB" "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(60)' AND state = 'active'")" != 1 ] &&
	[ $i -lt 200 ]; do
	sleep 0.05; i=$((i + 1))
done
kill -9 $ORPH
wait $ORPH 2>/dev/null
i=0
while [ "$(pq "$DB" "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")" != 0 ] &&
	[ $i -lt 100 ]; do
	sleep 0.1; i=$((i + 1))
done
expect_eq "the lock of a killed apply is let go within seconds" \
	"$(pq "$DB" "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")" 0
expect_eq "and its statement stopped" \
	"$(pq "$DB" "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(60)' AND state = 'active'")" 0
cv status --db "$DB"
expect_in "status: the lock is free" out.txt "lock:     free"
expect_in "and the killed run failed, not running" out.txt " apply    failed "
pq "$CONVERGE_TEST_PG_URL" "DROP DATABASE orph_$$ WITH (FORCE)" >/dev/null

# alembic_version.version_num is VARCHAR(32), as Alembic makes it: a longer
# revision id is refused at plan, where it is written, not by the server
# half-way through an apply; a column widened by hand takes it.
pg_db "wide_$$" || exit 1
manifest wide/mig/r1.yaml <<'EOF2'
id: add_the_customer_notes_column_v2026
up: CREATE TABLE notes (id int)
down: DROP TABLE notes
EOF2
manifest wide/m.yaml <<'EOF2'
version: 1
schema: {migrations: mig, version: head, table: alembic_version}
EOF2
cv plan -m wide --db "$DB"
expect_rc "a revision id longer than alembic_version holds: plan exits 1" 1
expect_eq "it is named where it is written, with the way out" "$(cat err.txt)" \
	"wide/mig/r1.yaml:1:5: error: revision id 'add_the_customer_notes_column_v2026' has 35 characters; alembic_version.version_num holds at most 32: use a shorter id, or widen the column (ALTER TABLE alembic_version ALTER COLUMN version_num TYPE VARCHAR(64))"
cv apply -m wide --db "$DB" --auto-approve
expect_rc "apply refuses it too" 1
expect_eq "before creating anything" \
	"$(pq "$DB" "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")" 0
pq "$DB" "CREATE TABLE alembic_version (version_num VARCHAR(64) NOT NULL, CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
cv apply -m wide --db "$DB" --auto-approve -q
expect_rc "a widened column takes it" 0
expect_eq "and holds it" "$(pq "$DB" "SELECT version_num FROM alembic_version")" add_the_customer_notes_column_v2026
pq "$CONVERGE_TEST_PG_URL" "DROP DATABASE wide_$$" >/dev/null

# Data loss on PostgreSQL: a table named with its schema, in capitals
# (PostgreSQL folds an unquoted name to lower case), or found in the
# search path's second schema is the table that holds the rows.
pg_db "loss_$$" || exit 1
pq "$DB" "CREATE SCHEMA app; CREATE SCHEMA audit;
	CREATE TABLE app.orders (id int, note text); INSERT INTO app.orders VALUES (1, 'x');
	CREATE TABLE audit.trail (id int); INSERT INTO audit.trail VALUES (1);
	ALTER DATABASE loss_$$ SET search_path TO public, audit"
manifest loss/mig/r1.yaml <<'EOF2'
id: l1
up: SELECT 1
down: SELECT 1
EOF2
manifest loss/mig/r2.yaml <<'EOF2'
id: l2
parent: l1
up: |
  ALTER TABLE APP.ORDERS DROP COLUMN NOTE;
  DROP TABLE app.orders;
  DROP TABLE trail;
down: SELECT 1
EOF2
manifest loss/m.yaml <<'EOF2'
version: 1
schema: {migrations: mig, version: head}
EOF2
cv plan -m loss --db "$DB"
expect_rc "planned" 0
expect_in "each drop is marked, with the schema written" out.txt \
	"! data loss: drops column app.orders.note (table 'orders' holds rows); drops table app.orders, which holds rows; drops table trail, which holds rows"
cv apply -m loss --db "$DB" --auto-approve
expect_rc "apply without --allow-data-loss is refused" 1
expect_eq "the rows are still there" "$(pq "$DB" "SELECT count(*) FROM app.orders")" 1
pq "$CONVERGE_TEST_PG_URL" "DROP DATABASE loss_$$" >/dev/null

# ---- a revision whose SQL is for SQLite only --------------------------
# The error names the key a revision gives PostgreSQL's SQL under
# (postgresql, not the backend's name), at that revision's 'up'.
manifest dia/mig/d1.yaml <<'EOF2'
id: d1
up:
  sqlite: CREATE TABLE d1 (id INTEGER PRIMARY KEY)
down: DROP TABLE d1
EOF2
manifest dia/m.yaml <<'EOF2'
version: 1
schema: {migrations: mig, version: head}
EOF2
cv plan -m dia --db "$CONVERGE_TEST_PG_URL"
expect_rc "no up for PostgreSQL: exit 1" 1
expect_in "says so with the key to write, at 'up'" err.txt \
	"dia/mig/d1.yaml:2:1: error: revision 'd1' has no 'up' for postgresql (it gives 'up' for sqlite only)"

# ---- --schema and a database Alembic managed ---------------------------
# converge keeps alembic_version in --schema's schema (SPEC §7); the
# application's own, where Alembic left it at a revision, would be passed
# over and every revision run again from base: refused at plan.
pg_db "alem_$$" || exit 1
pq "$DB" "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL,
		CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num));
	INSERT INTO alembic_version VALUES ('a1'); CREATE TABLE t_a1 (id int)"
manifest alem/mig/a1.yaml <<'EOF2'
id: a1
up: CREATE TABLE t_a1 (id int)
down: DROP TABLE t_a1
EOF2
manifest alem/m.yaml <<'EOF2'
version: 1
schema: {migrations: mig, version: head, table: alembic_version}
EOF2
cv plan -m alem --db "$DB" --schema ops
expect_rc "--schema over an Alembic database with its version elsewhere: exit 1" 1
expect_in "says where the version is and what to do" err.txt \
	"the application's schema has an alembic_version at revision a1, but converge keeps its version table in the schema --schema names, which has none"
cv plan -m alem --db "$DB" --detailed-exitcode
expect_rc "without --schema it is taken over as it is: nothing to do" 0
pq "$DB" "CREATE SCHEMA ops; ALTER TABLE alembic_version SET SCHEMA ops"
cv plan -m alem --db "$DB" --schema ops --detailed-exitcode
expect_rc "moved into --schema's schema, it is found there" 0
pq "$CONVERGE_TEST_PG_URL" "DROP DATABASE alem_$$" >/dev/null
