# The schema chain (SPEC §3, §5, §6): chain errors, up and down and base,
# the version table, verify, all-or-nothing revisions, irreversible ones,
# drift and adoption, Alembic's table, per-backend SQL, revisions outside
# a transaction, data loss, foreign keys, and the TMWS role column.  Each
# case has a SQLite file and small migration folders of its own.
. "$TOP/tests/integration/lib.sh"

# rev DIR ID PARENT [UP [DOWN]]: writes DIR/ID.yaml.  PARENT "" for the
# first revision; DOWN "-" for none.  UP defaults to creating t_ID.
rev() {
	mkdir -p "$1"
	{
		printf 'id: "%s"\n' "$2"
		[ -z "$3" ] || printf 'parent: "%s"\n' "$3"
		printf 'up: |\n  %s\n' "${4:-CREATE TABLE t_$2 (x TEXT);}"
		[ "${5:-}" = "-" ] || printf 'down: |\n  %s\n' "${5:-DROP TABLE t_$2;}"
	} >"$1/$2.yaml"
}

# want FILE DIR [VERSION [TABLE]]: a manifest with only a schema section.
want() {
	{
		echo "version: 1"
		echo "schema:"
		echo "  migrations: $2"
		echo "  version: ${3:-head}"
		[ -z "${4:-}" ] || echo "  table: $4"
	} >"$1"
}

# tables DB: the names of the tables that are not converge's journal.
tables() {
	q "$1" "SELECT group_concat(name, ' ') FROM (SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'converge\_%' ESCAPE '\' ORDER BY name)"
}

# sha DB... : "sha256:" and the SHA-256 of standard input.
sha() { printf 'sha256:%s' "$(sha256sum | cut -d' ' -f1)"; }

# ------------------------------------------------------- chain errors

rev fork a ""; rev fork b a; rev fork c a
want fork.yaml fork
cv validate -m fork.yaml
expect_rc "fork: exit 1" 1
expect_eq "fork: names both children and their files" "$(head -n 1 err.txt)" \
	"fork/c.yaml:2:9: error: revisions 'b' (fork/b.yaml) and 'c' (fork/c.yaml) both have parent 'a': the chain must be linear"

rev orphan a ""; rev orphan b zz
want orphan.yaml orphan
cv validate -m orphan.yaml
expect_rc "missing parent: exit 1" 1
expect_eq "missing parent: named, with the folder" "$(head -n 1 err.txt)" \
	"orphan/b.yaml:2:9: error: parent 'zz' of revision 'b' is not in orphan"

rev cycle a b; rev cycle b a
want cycle.yaml cycle
cv validate -m cycle.yaml
expect_rc "cycle: exit 1" 1
expect_eq "cycle: no first revision" "$(head -n 1 err.txt)" \
	"cycle/a.yaml:1:5: error: revisions in cycle form a cycle: none is the first (no parent)"

rev cycle2 first ""; rev cycle2 a b; rev cycle2 b a
want cycle2.yaml cycle2
cv validate -m cycle2.yaml
expect_rc "cycle beside a chain: exit 1" 1
expect_eq "cycle beside a chain: names a revision in it" "$(head -n 1 err.txt)" \
	"cycle2/a.yaml:1:5: error: revision 'a' is part of a cycle and cannot be reached from the first revision"

rev dup a ""; rev dup b a; cp dup/b.yaml dup/b-again.yaml
want dup.yaml dup
cv validate -m dup.yaml
expect_rc "duplicate id: exit 1" 1
expect_eq "duplicate id: names both files" "$(head -n 1 err.txt)" \
	"dup/b.yaml:1:5: error: revision 'b' is defined twice (first in dup/b-again.yaml)"
expect_eq "duplicate id: one error" "$(tail -n 1 err.txt)" \
	"converge: 1 error in the manifests; nothing was changed"

rev roots a ""; rev roots b ""
want roots.yaml roots
cv validate -m roots.yaml
expect_rc "two roots: exit 1" 1
expect_eq "two roots: names both" "$(head -n 1 err.txt)" \
	"roots/b.yaml:1:5: error: revisions 'a' (roots/a.yaml) and 'b' (roots/b.yaml) both have no parent: the chain must be linear"

rev nover a ""
want nover.yaml nover zzz
cv validate -m nover.yaml
expect_rc "unknown version: exit 1" 1
expect_eq "unknown version: named where it is written" "$(head -n 1 err.txt)" \
	"nover.yaml:4:12: error: schema version 'zzz' is not a revision in nover"
cv plan -m nover.yaml --db sqlite:never.db
expect_rc "unknown version: plan exits 1" 1
expect_eq "invalid chains create no database" "$(ls never.db 2>/dev/null)" ""

# "head" and "base" name no revision: schema.version gives them a meaning.
rev reserved base ""; rev reserved head base
want reserved.yaml reserved
cv validate -m reserved.yaml
expect_rc "revision ids head and base: exit 1" 1
expect_eq "each is refused where it is written" "$(grep error: err.txt)" \
	"reserved/base.yaml:1:5: error: revision id 'base' is reserved: schema.version 'base' means no revision applied
reserved/head.yaml:1:5: error: revision id 'head' is reserved: schema.version 'head' means the newest revision in the chain"

# Revision files in subfolders are read too (any name ending in .yaml or
# .yml, as -m reads a folder); hidden ones are not.  A subfolder left out
# would silently make its parent the head.
rev nested/m r1 ""; rev nested/m/2026/q1 r2 r1; rev nested/m/2026/q1 r3 r2
mv nested/m/2026/q1/r3.yaml nested/m/2026/q1/r3.yml
rev nested/m/.hidden r9 r3
want nested/m.yaml m
cv plan -m nested/m.yaml --db sqlite:nested.db
expect_rc "nested revision files: plan exits 0" 0
expect_in "revisions in subfolders are in the chain, hidden ones not" out.txt \
	"schema: base -> r3 (converge_schema_version)"

# ------------------------------------------- up, down, base, the table

rev chain r1 ""; rev chain r2 r1; rev chain r3 r2
want up.yaml chain
cv plan -m up.yaml --db sqlite:up.db
expect_rc "plan from empty exits 0" 0
cat >expected.txt <<'EOF'
converge plan for sqlite:up.db
schema: base -> r3 (converge_schema_version)

  ↑ revision r1
  ↑ revision r2
  ↑ revision r3

Plan: 0 to add, 0 to change, 0 to remove, 3 revisions up, 0 down.
EOF
expect_same "plan from empty to head" out.txt expected.txt
cv apply -m up.yaml --db sqlite:up.db --auto-approve -q
expect_rc "apply from empty to head" 0
expect_eq "the version table has one row: the head" \
	"$(q up.db 'SELECT group_concat(version) FROM converge_schema_version')" r3
expect_eq "the version table's definition" \
	"$(q up.db "SELECT sql FROM sqlite_master WHERE name = 'converge_schema_version'")" \
	'CREATE TABLE "converge_schema_version" (version TEXT NOT NULL)'
expect_eq "every revision ran" "$(tables up.db)" "t_r1 t_r2 t_r3"
expect_eq "the checksum of each up is recorded" \
	"$(q up.db "SELECT id || ' ' || checksum FROM converge_migrations ORDER BY id")" \
	"r1 $(printf 'CREATE TABLE t_r1 (x TEXT);\n' | sha)
r2 $(printf 'CREATE TABLE t_r2 (x TEXT);\n' | sha)
r3 $(printf 'CREATE TABLE t_r3 (x TEXT);\n' | sha)"
expect_eq "one run, three steps" \
	"$(q up.db "SELECT count(*) || ' ' || (SELECT count(*) FROM converge_steps) FROM converge_runs")" "1 3"
cp up.db up.before
cv apply -m up.yaml --db sqlite:up.db --auto-approve
expect_in "at the head: no changes" out.txt "No changes."
expect_same "at the head: the file is untouched" up.db up.before

want mid.yaml chain r1
cv plan -m mid.yaml --db sqlite:up.db
cat >expected.txt <<'EOF'
converge plan for sqlite:up.db
schema: r3 -> r1 (converge_schema_version)

  ↓ revision r3
  ↓ revision r2

Plan: 0 to add, 0 to change, 0 to remove, 0 revisions up, 2 down.
EOF
expect_same "an earlier version plans down, newest first" out.txt expected.txt
cv apply -m mid.yaml --db sqlite:up.db --auto-approve -q
expect_rc "down to r1 applies" 0
expect_eq "down: the version row is r1" "$(q up.db 'SELECT group_concat(version) FROM converge_schema_version')" r1
expect_eq "down: the later tables are gone" "$(tables up.db)" "t_r1"
expect_eq "down: their checksums are gone" "$(q up.db 'SELECT group_concat(id) FROM converge_migrations')" r1

want base.yaml chain base
cv plan -m base.yaml --db sqlite:up.db
expect_in "base: every revision goes down" out.txt "schema: r1 -> base (converge_schema_version)"
cv apply -m base.yaml --db sqlite:up.db --auto-approve -q
expect_rc "down to base applies" 0
expect_eq "base: the version table has no row" "$(q up.db 'SELECT count(*) FROM converge_schema_version')" 0
expect_eq "base: no revision's table is left" "$(tables up.db)" ""
expect_eq "base: no checksum is left" "$(q up.db 'SELECT count(*) FROM converge_migrations')" 0
cv inspect --db sqlite:up.db
expect_in "inspect at base: a comment says how to manage it" out.txt \
	"# schema: no revision applied (base) in converge_schema_version; add a schema: section with migrations: DIR and version: base to manage it"
cv apply -m up.yaml --db sqlite:up.db --auto-approve -q
expect_rc "from base to head again" 0
expect_eq "head again: one row" "$(q up.db 'SELECT group_concat(version) FROM converge_schema_version')" r3
cv inspect --db sqlite:up.db
expect_in "inspect: the version and its table, as a comment" out.txt \
	"# schema: at revision r3 in converge_schema_version; add a schema: section with migrations: DIR and version: r3 to manage it"
expect_eq "inspect: no schema section, which would need migrations" \
	"$(grep -c '^schema:' out.txt)" 0
cp out.txt inspected.yaml && want inspected-schema.yaml chain r3
cv plan -m inspected.yaml -m inspected-schema.yaml --db sqlite:up.db --detailed-exitcode
expect_rc "inspect's output with the section its comment gives: no changes" 0

q up.db "INSERT INTO converge_schema_version VALUES ('r2')"
cv plan -m up.yaml --db sqlite:up.db
expect_rc "two rows in the version table: exit 1" 1
expect_eq "two rows: named" "$(cat err.txt)" \
	"converge: error: version table 'converge_schema_version' has 2 rows (r2, r3); converge manages one linear chain and keeps one row"
cv inspect --db sqlite:up.db
expect_rc "inspect with two version rows: exit 0" 0
expect_in "inspect names the rows in its comment" out.txt \
	"# schema: converge_schema_version holds several versions (r2, r3), branches converge does not plan from"
q up.db "DELETE FROM converge_schema_version; INSERT INTO converge_schema_version VALUES ('r9')"
cv plan -m up.yaml --db sqlite:up.db
expect_rc "a version outside the chain: exit 1" 1
expect_eq "a version outside the chain: named" "$(cat err.txt)" \
	"converge: error: the database is at revision 'r9' (table 'converge_schema_version'), which is not in the migration chain in chain"
cv status -m up.yaml --db sqlite:up.db --format json
expect_rc "status -m, a version outside the chain: exit 0, drift is not an error" 0
expect_eq "json: the version, the schema drift naming it" \
	"$(python3 -c 'import json; s = json.load(open("out.txt")); d = s["drift"]; print(s["schema"]["version"], d["in_sync"], "r9" in d["schema_drift"] and "not in the migration chain" in d["schema_drift"])')" \
	"r9 False True"

# ---------------------------------------------- verify fails: nothing left

rev vf r1 ""
rev vf r2 r1 "CREATE TABLE t_r2 (x TEXT); INSERT INTO t_r1 VALUES ('r2 was here');"
printf 'verify: SELECT missing_column FROM t_r2\n' >>vf/r2.yaml
want vf.yaml vf r1
cv apply -m vf.yaml --db sqlite:vf.db --auto-approve -q
want vf.yaml vf
dbdump vf.db | grep -v '^INSERT INTO converge_runs ' >before.sql
cv apply -m vf.yaml --db sqlite:vf.db --auto-approve
expect_rc "a failing verify fails the apply" 1
expect_eq "it names the error, the step and the SQL, first" "$(sed -n 1,3p err.txt)" \
	"converge: error: sqlite: no such column: missing_column
  in step: 1: ↑ schema r2
  sql: SELECT missing_column FROM t_r2"
expect_in "it says nothing changed" err.txt "converge: nothing was changed"
expect_in "it names the snapshot, by its absolute path" err.txt "converge: the snapshot taken before the run is $(pwd -P)/.converge/snapshots/vf-"
dbdump vf.db | grep -v '^INSERT INTO converge_runs ' >after.sql
expect_same "nothing is left but the failed run" after.sql before.sql
expect_eq "the failed run: its status, its error, no steps" \
	"$(q vf.db "SELECT kind || '|' || status || '|' || error || '|' || (SELECT count(*) FROM converge_steps s WHERE s.run_id = r.id) FROM converge_runs r ORDER BY started_at DESC, id DESC LIMIT 1")" \
	"apply|failed|sqlite: no such column: missing_column
in step: 1: ↑ schema r2
sql: SELECT missing_column FROM t_r2|0"

# ----------------------------------- a failing up in the middle of three

rev mid3 r1 ""
rev mid3 r2 r1 "CREATE TABLE t_r2 (x TEXT); INSERT INTO no_such_table VALUES (1);"
rev mid3 r3 r2
want mid3.yaml mid3
cv apply -m mid3.yaml --db sqlite:mid3.db --auto-approve
expect_rc "a failing second revision fails the apply" 1
expect_in "it names the step" err.txt "  in step: 2: ↑ schema r2"
expect_eq "nothing half-applied: no table" "$(tables mid3.db)" ""
expect_eq "nothing half-applied: no version table" \
	"$(q mid3.db "SELECT count(*) FROM sqlite_master WHERE name = 'converge_schema_version'")" 0
expect_eq "no checksum recorded" "$(q mid3.db 'SELECT count(*) FROM converge_migrations')" 0
expect_eq "one failed run with no steps" \
	"$(q mid3.db "SELECT group_concat(status) || ' ' || (SELECT count(*) FROM converge_steps) FROM converge_runs")" "failed 0"
rev mid3 r2 r1
cv apply -m mid3.yaml --db sqlite:mid3.db --auto-approve -q
expect_rc "after fixing the file the re-run converges" 0
expect_eq "all three applied" "$(tables mid3.db)" "t_r1 t_r2 t_r3"
expect_eq "at the head" "$(q mid3.db 'SELECT version FROM converge_schema_version')" r3

# ---------------------------------------------------------- irreversible

rev irr r1 ""; rev irr r2 r1 "CREATE TABLE t_r2 (x TEXT);" -
want irr.yaml irr
cv plan -m irr.yaml --db sqlite:irr.db
expect_in "the plan marks a revision without down" out.txt \
	"  ↑ revision r2
      ! irreversible: no 'down': a rollback of this run is refused"
cv apply -m irr.yaml --db sqlite:irr.db --auto-approve -q
expect_rc "an irreversible revision applies" 0
cp irr.db irr.before
want irr-down.yaml irr r1
cv plan -m irr-down.yaml --db sqlite:irr.db
expect_rc "a plan down through it is refused" 1
expect_eq "refused with a clear message" "$(cat err.txt)" \
	"converge: error: cannot go down through revision 'r2' (irr/r2.yaml): it has no 'down', so it is irreversible"
expect_eq "and no plan is shown" "$(cat out.txt)" ""
cv apply -m irr-down.yaml --db sqlite:irr.db --auto-approve
expect_rc "apply down through it is refused" 1
expect_same "the database is untouched" irr.db irr.before
run=$(q irr.db "SELECT id FROM converge_runs")
snap=$(q irr.db "SELECT snapshot FROM converge_runs")
cv rollback --db sqlite:irr.db --auto-approve
expect_rc "rollback of the run that applied it is refused" 1
expect_eq "rollback names the step and the snapshot" "$(cat err.txt)" \
	"converge: error: run '$run' cannot be rolled back: step 2 (schema r2) is irreversible; restore its snapshot instead: $snap"
expect_eq "the snapshot is there" "$(test -f "$snap" && echo yes)" yes

# -------------------------------------------------------- drift, adoption

rev drift r1 ""; rev drift r2 r1; rev drift r3 r2
want drift.yaml drift r2
cv apply -m drift.yaml --db sqlite:drift.db --auto-approve -q
cp drift/r1.yaml r1.orig
rev drift r1 "" "CREATE TABLE t_r1 (x TEXT, y TEXT);"
want drift.yaml drift
cv plan -m drift.yaml --db sqlite:drift.db
expect_rc "an applied revision edited: plan refuses" 1
old=$(printf 'CREATE TABLE t_r1 (x TEXT);\n' | sha | cut -c1-19)
new=$(printf 'CREATE TABLE t_r1 (x TEXT, y TEXT);\n' | sha | cut -c1-19)
expect_eq "drift names the revision, its file and both checksums" "$(cat err.txt)" \
	"converge: error: drift: revision changed after it was applied: 'r1' (drift/r1.yaml: applied with $old…, file now $new…); restore the original file or add a new revision"
cp drift.db drift.before
cv apply -m drift.yaml --db sqlite:drift.db --auto-approve
expect_rc "apply refuses too" 1
expect_same "and changes nothing" drift.db drift.before
cv status -m drift.yaml --db sqlite:drift.db
expect_rc "status -m with an edited revision: exit 0, drift is not an error" 0
expect_in "status reports the edited revision as drift" out.txt \
	"revision changed after it was applied: 'r1' (drift/r1.yaml: applied with $old…, file now $new…)"
expect_in "its summary leaves the schema out" out.txt "drift:    0 to add, 0 to change, 0 to remove; schema not planned"
expect_in "with the version" out.txt "schema:   r2 (converge_schema_version)"
expect_in "and the runs" out.txt "last runs:"
cv status -m drift.yaml --db sqlite:drift.db --format json
expect_eq "json: not in sync, the edited revision named" \
	"$(python3 -c 'import json; s = json.load(open("out.txt")); d = s["drift"]; print(d["in_sync"], d["up"], "'"'"'r1'"'"'" in d["schema_drift"], s["schema"]["version"])')" \
	"False None True r2"
cv status -m drift.yaml --db sqlite:drift.db --format markdown
expect_in "markdown: as a list item" out.txt "- drift:    0 to add"
cp r1.orig drift/r1.yaml
cv plan -m drift.yaml --db sqlite:drift.db
expect_rc "the original file back: plans again" 0
expect_in "only r3 to go" out.txt "schema: r2 -> r3 (converge_schema_version)"

# Applied by another tool: the version table says r2, there is no journal.
rev adopt r1 ""; rev adopt r2 r1; rev adopt r3 r2
sqlite3 adopt.db "CREATE TABLE t_r1 (x TEXT); CREATE TABLE t_r2 (x TEXT);
	CREATE TABLE converge_schema_version (version TEXT NOT NULL);
	INSERT INTO converge_schema_version VALUES ('r2');"
rev adopt r1 "" "CREATE TABLE t_r1 (x TEXT, written_differently TEXT);"
want adopt.yaml adopt
cv plan -m adopt.yaml --db sqlite:adopt.db
expect_rc "revisions applied elsewhere are adopted" 0
expect_in "only what is missing goes up" out.txt "schema: r2 -> r3 (converge_schema_version)"
expect_in "one revision up" out.txt "Plan: 0 to add, 0 to change, 0 to remove, 1 revision up, 0 down."
cv apply -m adopt.yaml --db sqlite:adopt.db --auto-approve -q
expect_rc "and applies" 0
expect_eq "checksums only for what converge applied" "$(q adopt.db 'SELECT group_concat(id) FROM converge_migrations')" r3
rev adopt r2 r1 "CREATE TABLE t_r2 (x TEXT, also_different TEXT);"
cv plan -m adopt.yaml --db sqlite:adopt.db
expect_in "an adopted revision edited is not drift" out.txt "No changes."
rev adopt r3 r2 "CREATE TABLE t_r3 (x TEXT, z TEXT);"
cv plan -m adopt.yaml --db sqlite:adopt.db
expect_rc "converge's own revision edited is drift" 1
expect_in "named" err.txt "drift: revision changed after it was applied: 'r3' (adopt/r3.yaml"

# ------------------------------------------------------ alembic_version

ALEMBIC_DDL='CREATE TABLE alembic_version (
    version_num VARCHAR(32) NOT NULL,
    CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
)'
rev alem r1 ""; rev alem r2 r1; rev alem r3 r2
want alem.yaml alem head alembic_version

# An Alembic-made database at r1 is taken over.
sqlite3 taken.db "CREATE TABLE t_r1 (x TEXT); $ALEMBIC_DDL; INSERT INTO alembic_version VALUES ('r1');"
cv plan -m alem.yaml --db sqlite:taken.db
expect_in "the version is read from alembic_version" out.txt "schema: r1 -> r3 (alembic_version)"
cv apply -m alem.yaml --db sqlite:taken.db --auto-approve -q
expect_rc "takeover applies" 0
expect_eq "Alembic sees the version converge left" "$(q taken.db 'SELECT group_concat(version_num) FROM alembic_version')" r3
expect_eq "Alembic's table is not recreated" \
	"$(q taken.db "SELECT sql FROM sqlite_master WHERE name = 'alembic_version'")" "$ALEMBIC_DDL"
expect_eq "no converge version table beside it" \
	"$(q taken.db "SELECT count(*) FROM sqlite_master WHERE name = 'converge_schema_version'")" 0
cv inspect --db sqlite:taken.db
expect_in "inspect: another table is named in the section to write" out.txt \
	"# schema: at revision r3 in alembic_version; add a schema: section with migrations: DIR, version: r3 and table: alembic_version to manage it"

# A database without it gets it as Alembic makes it.
cv apply -m alem.yaml --db sqlite:fresh.db --auto-approve -q
expect_rc "a new database applies" 0
expect_eq "alembic_version created with Alembic's columns and key" \
	"$(q fresh.db "SELECT sql LIKE '%version_num VARCHAR(32) NOT NULL%CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)%' FROM sqlite_master WHERE name = 'alembic_version'")" 1
expect_eq "with one row" "$(q fresh.db 'SELECT group_concat(version_num) FROM alembic_version')" r3

# An empty alembic_version is Alembic's base.
sqlite3 empty.db "$ALEMBIC_DDL;"
cv plan -m alem.yaml --db sqlite:empty.db
expect_in "an empty alembic_version is base" out.txt "schema: base -> r3 (alembic_version)"
expect_in "every revision goes up" out.txt "3 revisions up, 0 down."

# Branches (two rows) are refused, naming them.
sqlite3 branches.db "$ALEMBIC_DDL; INSERT INTO alembic_version VALUES ('r2'), ('r1');"
cv plan -m alem.yaml --db sqlite:branches.db
expect_rc "two rows in alembic_version: exit 1" 1
expect_eq "two rows: named" "$(cat err.txt)" \
	"converge: error: version table 'alembic_version' has 2 rows (r1, r2); converge manages one linear chain (Alembic branches are not supported)"
cv status --db sqlite:branches.db
expect_rc "status: two rows in alembic_version are an error, exit 1" 1
expect_in "status names them on its schema line" out.txt \
	"schema:   error: version table 'alembic_version' has 2 rows (r1, r2)"
expect_in "and on stderr" err.txt "converge: error: version table 'alembic_version' has 2 rows (r1, r2)"
expect_in "status still shows the rest" out.txt "lock:     free"
cv status --db sqlite:branches.db -m alem.yaml --format json
expect_rc "status -m, two rows: exit 1" 1
expect_eq "json: the error, no version, the schema left out of the drift" \
	"$(python3 -c 'import json; s = json.load(open("out.txt")); print(s["schema"]["error"][:42], s["schema"]["version"], s["drift"]["in_sync"], s["drift"]["up"], "2 rows" in s["drift"]["schema_drift"])')" \
	"version table 'alembic_version' has 2 rows None False None True"
sqlite3 cbranches.db "CREATE TABLE converge_schema_version (version TEXT NOT NULL);
	INSERT INTO converge_schema_version VALUES ('zzz999'), ('bbb222');"
cv status --db sqlite:cbranches.db --format markdown
expect_rc "status: two rows in converge_schema_version, exit 1" 1
expect_in "named too" out.txt "- schema:   error: version table 'converge_schema_version' has 2 rows (bbb222, zzz999)"

# Going down past the first revision deletes the row, keeps the table.
want alem-base.yaml alem base alembic_version
cv apply -m alem-base.yaml --db sqlite:fresh.db --auto-approve -q
expect_rc "down to base applies" 0
expect_eq "the row is deleted" "$(q fresh.db 'SELECT count(*) FROM alembic_version')" 0
expect_eq "the table stays" "$(q fresh.db "SELECT count(*) FROM sqlite_master WHERE name = 'alembic_version'")" 1

# ------------------------------------------------- SQL per backend

mkdir -p maps
cat >maps/m1.yaml <<'EOF'
id: m1
up:
  sqlite: CREATE TABLE t_m1 (id INTEGER PRIMARY KEY, engine TEXT DEFAULT 'sqlite')
  postgresql: CREATE TABLE t_m1 (id INTEGER GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY)
down:
  sqlite: DROP TABLE t_m1
  postgresql: DROP TABLE t_m1 CASCADE
verify:
  sqlite: SELECT engine FROM t_m1 WHERE 0
  postgresql: SELECT id FROM t_m1 WHERE 1 = 0
EOF
want maps.yaml maps
cv apply -m maps.yaml --db sqlite:maps.db --auto-approve -q
expect_rc "up/down/verify as maps apply" 0
expect_eq "the sqlite text ran" "$(q maps.db "SELECT sql FROM sqlite_master WHERE name = 't_m1'")" \
	"CREATE TABLE t_m1 (id INTEGER PRIMARY KEY, engine TEXT DEFAULT 'sqlite')"
expect_eq "the step journals the sqlite up, verify and down" \
	"$(q maps.db "SELECT forward_sql || '|' || inverse_sql FROM converge_steps")" \
	"CREATE TABLE t_m1 (id INTEGER PRIMARY KEY, engine TEXT DEFAULT 'sqlite')
SELECT engine FROM t_m1 WHERE 0
INSERT INTO \"converge_schema_version\" (\"version\") VALUES (?1)
|DROP TABLE t_m1
DELETE FROM \"converge_schema_version\""
want maps-base.yaml maps base
cv apply -m maps-base.yaml --db sqlite:maps.db --auto-approve -q
expect_rc "down as a map applies" 0
expect_eq "the sqlite down ran" "$(tables maps.db)" ""
cat >maps/m2.yaml <<'EOF'
id: m2
parent: m1
up:
  postgresql: CREATE EXTENSION pgcrypto
EOF
cv plan -m maps.yaml --db sqlite:maps.db
expect_rc "no up for this backend: exit 1" 1
expect_eq "says which, at its 'up'" "$(cat err.txt)" "maps/m2.yaml:3:1: error: revision 'm2' has no 'up' for sqlite (it gives 'up' for postgresql only)"
cat >maps/m2.yaml <<'EOF'
id: m2
parent: m1
up:
  sqlite: SELECT 1
  mysql: SELECT 1
EOF
cv validate -m maps.yaml
expect_rc "an unknown backend key: exit 1" 1
expect_eq "it is named" "$(head -n 1 err.txt)" "maps/m2.yaml:5:3: error: unknown key 'mysql' in up"

# --------------------------------------------------- transaction: false

rev vac r1 ""
cat >vac/r2.yaml <<'EOF'
id: r2
parent: r1
description: Reclaim space
up: VACUUM
down: VACUUM
transaction: false
EOF
want vac.yaml vac
cv plan -m vac.yaml --db sqlite:vac.db
cat >expected.txt <<'EOF'
converge plan for sqlite:vac.db
schema: base -> r2 (converge_schema_version)

  ↑ revision r1
  ↑ revision r2: Reclaim space
      ! runs outside a transaction

Plan: 0 to add, 0 to change, 0 to remove, 2 revisions up, 0 down.
EOF
expect_same "the plan marks the revision outside a transaction" out.txt expected.txt
cv apply -m vac.yaml --db sqlite:vac.db --auto-approve -q
expect_rc "VACUUM runs outside the transaction" 0
expect_eq "both applied" "$(q vac.db "SELECT version || ' ' || (SELECT group_concat(status) FROM converge_steps) FROM converge_schema_version")" \
	"r2 applied,applied"
sed '/^transaction:/d' vac/r2.yaml >vac/r2.tmp && mv vac/r2.tmp vac/r2.yaml
cv apply -m vac.yaml --db sqlite:vac-in.db --auto-approve
expect_rc "the same VACUUM inside a transaction fails" 1
expect_in "as SQLite says" err.txt "converge: error: sqlite: cannot VACUUM from within a transaction"

# --------------------------------------------------------------- data loss

rev loss r1 ""; rev loss r2 r1 "DROP TABLE t_r1;" "CREATE TABLE t_r1 (x TEXT);"
want loss1.yaml loss r1
cv apply -m loss1.yaml --db sqlite:loss.db --auto-approve -q
want loss.yaml loss
cv plan -m loss.yaml --db sqlite:loss.db
expect_not_in "dropping an empty table loses nothing" out.txt "data loss"
cv plan -m loss.yaml --db sqlite:loss.db -o empty.plan
q loss.db "INSERT INTO t_r1 VALUES ('precious'), ('rows')"
cp loss.db loss.before
# The rows are the application's, outside the fingerprint: a plan saved
# while the table was empty is scanned again when it is applied.
cv apply empty.plan --db sqlite:loss.db --auto-approve
expect_rc "a saved plan that now loses data is refused" 1
expect_in "naming the step" err.txt "step 1 (schema r2): drops table t_r1, which holds rows"
expect_same "and changes nothing" loss.db loss.before
cv plan -m loss.yaml --db sqlite:loss.db -o marked.plan
grep -v 'data_loss' marked.plan >unmarked.plan
expect_eq "a mark deleted from a saved plan file" "$(grep -c data_loss unmarked.plan)" 0
cv apply unmarked.plan --db sqlite:loss.db --auto-approve
expect_rc "is found again at apply" 1
expect_in "and named" err.txt "step 1 (schema r2): drops table t_r1, which holds rows"
expect_same "nothing changed" loss.db loss.before
cv plan -m loss.yaml --db sqlite:loss.db
expect_rc "a plan that loses data still plans" 0
expect_in "the step is marked" out.txt "  ↑ revision r2
      ! data loss: drops table t_r1, which holds rows"
expect_in "and the summary says what apply needs" out.txt "1 step loses data: apply needs --allow-data-loss."
nsnap=$(ls .converge/snapshots | wc -l)
cv apply -m loss.yaml --db sqlite:loss.db --auto-approve
expect_rc "apply without --allow-data-loss is refused" 1
expect_eq "refused, naming the step" "$(cat err.txt)" \
	"converge: error: the plan loses data that no inverse can bring back:
  step 1 (schema r2): drops table t_r1, which holds rows
converge: nothing was changed; pass --allow-data-loss to apply it anyway (a snapshot is taken first)"
expect_same "the database is byte-identical" loss.db loss.before
expect_eq "no snapshot was taken" "$(ls .converge/snapshots | wc -l)" "$nsnap"
cv apply -m loss.yaml --db sqlite:loss.db --auto-approve --allow-data-loss -q
expect_rc "with --allow-data-loss it applies" 0
expect_eq "the table is gone" "$(tables loss.db)" ""
snap=$(q loss.db "SELECT snapshot FROM converge_runs ORDER BY started_at DESC, id DESC LIMIT 1")
expect_eq "the snapshot has the rows" "$(q "$snap" 'SELECT group_concat(x) FROM t_r1')" "precious,rows"

# A table renamed, then dropped, is the table that held the rows.
rev loss2 r1 "" "CREATE TABLE keep (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO keep (name) VALUES ('a'), ('b');" "DROP TABLE keep;"
rev loss2 r2 r1 "ALTER TABLE keep RENAME TO old_keep; DROP TABLE old_keep;" "SELECT 1;"
want loss2a.yaml loss2 r1
cv apply -m loss2a.yaml --db sqlite:loss2.db --auto-approve -q
want loss2.yaml loss2
cv plan -m loss2.yaml --db sqlite:loss2.db
expect_in "a renamed table dropped loses its rows" out.txt "! data loss: drops table old_keep (renamed from keep, which holds rows)"
# SQLite's table rebuild (Alembic's batch mode): every row copied into a
# new table, the old one dropped, the new one renamed: nothing is lost.
rev loss2 r2 r1 "CREATE TABLE _alembic_tmp_keep (id INTEGER PRIMARY KEY, name TEXT NOT NULL DEFAULT ''); INSERT INTO _alembic_tmp_keep (id, name) SELECT id, name FROM keep; DROP TABLE keep; ALTER TABLE _alembic_tmp_keep RENAME TO keep;" "SELECT 1;"
cv plan -m loss2.yaml --db sqlite:loss2.db
expect_not_in "a table rebuild loses nothing" out.txt "data loss"
rev loss2 r2 r1 "CREATE TABLE _tmp (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO _tmp SELECT id, name FROM keep WHERE id > 1; DROP TABLE keep; ALTER TABLE _tmp RENAME TO keep;" "SELECT 1;"
cv plan -m loss2.yaml --db sqlite:loss2.db
expect_in "a rebuild that copies only some rows loses the others" out.txt "! data loss: drops table keep, which holds rows"
rev loss2 r2 r1 "CREATE TABLE _tmp (id INTEGER PRIMARY KEY); INSERT INTO _tmp (id) SELECT id FROM keep; DROP TABLE keep; ALTER TABLE _tmp RENAME TO keep;" "SELECT 1;"
cv plan -m loss2.yaml --db sqlite:loss2.db
expect_in "a rebuild that leaves a column out loses its values" out.txt "! data loss: drops table keep, which holds rows"
rev loss2 r2 r1 "CREATE TABLE _tmp (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO _tmp SELECT * FROM keep; DROP TABLE keep; ALTER TABLE _tmp RENAME TO keep;" "SELECT 1;"
cv plan -m loss2.yaml --db sqlite:loss2.db
expect_not_in "a rebuild that copies every column (*) loses nothing" out.txt "data loss"

# ------------------------------------------------------------ foreign keys

mkdir -p fk
cat >fk/r1.yaml <<'EOF'
id: r1
up: |
  CREATE TABLE parent (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
  CREATE TABLE child (id INTEGER PRIMARY KEY,
                      parent_id INTEGER NOT NULL REFERENCES parent (id));
down: |
  DROP TABLE child;
  DROP TABLE parent;
EOF
# SQLite's way to change a table: make the new one, copy, drop, rename.
cat >fk/r2.yaml <<'EOF'
id: r2
parent: r1
description: Rebuild parent with a label
up: |
  CREATE TABLE parent_new (id INTEGER PRIMARY KEY, name TEXT NOT NULL,
                           label TEXT NOT NULL DEFAULT '');
  INSERT INTO parent_new (id, name) SELECT id, name FROM parent;
  DROP TABLE parent;
  ALTER TABLE parent_new RENAME TO parent;
down: |
  CREATE TABLE parent_old (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
  INSERT INTO parent_old (id, name) SELECT id, name FROM parent;
  DROP TABLE parent;
  ALTER TABLE parent_old RENAME TO parent;
EOF
want fk1.yaml fk r1
cv apply -m fk1.yaml --db sqlite:fk.db --auto-approve -q
q fk.db "INSERT INTO parent VALUES (1, 'one'), (2, 'two');
	INSERT INTO child VALUES (10, 1), (11, 2), (12, 2);"
want fk2.yaml fk r2
# The rebuild drops a table that holds rows, so it needs the flag.
cv apply -m fk2.yaml --db sqlite:fk.db --auto-approve --allow-data-loss -q
expect_rc "the rebuild applies" 0
expect_eq "foreign_key_check is clean" "$(q fk.db 'PRAGMA foreign_key_check')" ""
expect_eq "child still references parent" \
	"$(q fk.db "SELECT \"table\" || '.' || \"to\" FROM pragma_foreign_key_list('child')")" "parent.id"
expect_eq "parent rebuilt with its rows" "$(q fk.db "SELECT group_concat(id || ':' || name || ':' || label) FROM parent")" "1:one:,2:two:"
expect_eq "child rows intact" "$(q fk.db 'SELECT group_concat(id || ">" || parent_id) FROM child')" "10>1,11>2,12>2"

rev fk r3 r2 "DELETE FROM parent WHERE id = 2;" "SELECT 1;"
want fk3.yaml fk r3
dbdump fk.db | grep -v '^INSERT INTO converge_runs ' >before.sql
cv apply -m fk3.yaml --db sqlite:fk.db --auto-approve
expect_rc "a revision that leaves a violation fails" 1
expect_eq "the violation is named, first" "$(sed -n 1,2p err.txt)" \
	"converge: error: foreign key check failed: table 'child' row 11 references 'parent'; table 'child' row 12 references 'parent'
  sql: PRAGMA foreign_key_check"
dbdump fk.db | grep -v '^INSERT INTO converge_runs ' >after.sql
expect_same "and is rolled back" after.sql before.sql

# ------------------------------------ TMWS: the role column (571948cc671b)

seed_tmws tmws.db
appdata tmws.db >seed.sql
cat >tmws.yaml <<EOF
version: 1
schema:
  migrations: $TOP/manifests/migrations
  version: head
  table: alembic_version
EOF
cv plan -m tmws.yaml --db sqlite:tmws.db
expect_in "adding the column is planned" out.txt "  ↑ revision 571948cc671b: Add Agent.role field for RBAC"
expect_not_in "adding a column loses nothing" out.txt "data loss"
cv apply -m tmws.yaml --db sqlite:tmws.db --auto-approve -q
expect_rc "up to 571948cc671b on a table with rows" 0
expect_eq "every agent got the default role" "$(q tmws.db "SELECT group_concat(DISTINCT role) || ' ' || count(*) FROM agents")" "viewer 5"
sed 's/version: head/version: 096325207c82/' tmws.yaml >tmws-down.yaml
cv plan -m tmws-down.yaml --db sqlite:tmws.db
expect_in "going down through it marks the lost column" out.txt \
	"  ↓ revision 571948cc671b: Add Agent.role field for RBAC
      ! data loss: drops column agents.role (table 'agents' holds rows)"
cp tmws.db tmws.before
cv apply -m tmws-down.yaml --db sqlite:tmws.db --auto-approve
expect_rc "without --allow-data-loss: refused" 1
expect_same "refused: byte-identical" tmws.db tmws.before
cv apply -m tmws-down.yaml --db sqlite:tmws.db --auto-approve --allow-data-loss -q
expect_rc "with it: applied" 0
expect_eq "Alembic's row says 096325207c82" "$(q tmws.db 'SELECT group_concat(version_num) FROM alembic_version')" 096325207c82
expect_eq "the column and its index are gone" \
	"$(q tmws.db "SELECT count(*) FROM pragma_table_info('agents') WHERE name = 'role'") $(q tmws.db "SELECT count(*) FROM sqlite_master WHERE name = 'ix_agents_role'")" "0 0"
appdata tmws.db >after.sql
expect_same "the application's rows are as seeded" after.sql seed.sql
expect_eq "no foreign key violations" "$(q tmws.db 'PRAGMA foreign_key_check')" ""

# A run that fails after a revision that cannot run in a transaction keeps
# that revision, journaled, and says so; naming the run rolls it back.
mkdir -p notxn/m
printf 'id: r1\nup: CREATE TABLE t1 (x TEXT);\ndown: DROP TABLE t1;\n' > notxn/m/r1.yaml
printf 'id: r2\nparent: r1\nup: VACUUM\ndown: VACUUM\ntransaction: false\n' > notxn/m/r2.yaml
printf 'id: r3\nparent: r2\nup: INSERT INTO nope VALUES (1)\ndown: SELECT 1\n' > notxn/m/r3.yaml
printf 'version: 1\nschema: {migrations: m}\n' > notxn/m.yaml
cv apply -m notxn/m.yaml --db sqlite:notxn/x.db --auto-approve
expect_rc "a failure after a transaction: false revision exits 1" 1
expect_in "it says which steps stay applied" err.txt "the first 2 steps stay applied"
expect_not_in "it does not claim nothing changed" err.txt "nothing was changed"
expect_eq "the version table is at the kept revision" "$(q notxn/x.db 'SELECT version FROM converge_schema_version')" r2
expect_eq "the kept steps are journaled" "$(q notxn/x.db "SELECT group_concat(object) FROM converge_steps WHERE status = 'applied'")" "r1,r2"
expect_eq "their checksums are recorded" "$(q notxn/x.db 'SELECT group_concat(id) FROM converge_migrations')" "r1,r2"
failed=$(q notxn/x.db "SELECT id FROM converge_runs WHERE status = 'failed'")
cv rollback --db sqlite:notxn/x.db --auto-approve
expect_rc "a bare rollback does not pick a failed run" 1
cv rollback --db sqlite:notxn/x.db "$failed" --auto-approve
expect_rc "naming the failed run rolls back what it kept" 0
expect_eq "back to base" "$(q notxn/x.db 'SELECT count(*) FROM converge_schema_version')" 0

# A transaction: false revision that fails half-way keeps what ran before
# its failing statement: the message says so, not "the rest was rolled
# back; apply again" (applying again would fail on what was kept).
mkdir -p notxn3/m
printf 'id: r1\nup: CREATE TABLE t1 (x TEXT);\ndown: DROP TABLE t1;\n' > notxn3/m/r1.yaml
printf 'id: r2\nparent: r1\ntransaction: false\nup: |\n  CREATE INDEX ix_t1 ON t1 (x);\n  CREATE INDEX ix_bad ON nosuch (x);\ndown: DROP INDEX ix_t1;\n' > notxn3/m/r2.yaml
printf 'version: 1\nschema: {migrations: m}\n' > notxn3/m.yaml
cv apply -m notxn3/m.yaml --db sqlite:notxn3/x.db --auto-approve
expect_rc "a transaction: false revision failing half-way exits 1" 1
expect_in "it says part of the failing step stays" err.txt \
	"the failing step runs outside a transaction: what its statements did before the failing one stays applied, and so do the 1 step before it"
expect_in "and what to do" err.txt "repair the database by hand, or restore the snapshot, before applying again"
expect_not_in "it does not say the rest was rolled back" err.txt "the rest was rolled back"
expect_eq "what it says is so" "$(q notxn3/x.db "SELECT count(*) FROM sqlite_master WHERE name = 'ix_t1'")" 1

# A rollback that fails after a transaction: false revision's down ran
# says what stays done, as apply does, instead of "changed nothing".
mkdir -p notxn2/m
printf 'id: r1\nup: CREATE TABLE t1 (x TEXT);\ndown: DROP TABLE t1; INSERT INTO nope VALUES (1);\n' > notxn2/m/r1.yaml
printf 'id: r2\nparent: r1\nup: VACUUM\ndown: VACUUM\ntransaction: false\n' > notxn2/m/r2.yaml
printf 'version: 1\nschema: {migrations: m}\n' > notxn2/m.yaml
cv apply -m notxn2/m.yaml --db sqlite:notxn2/x.db --auto-approve -q
expect_rc "r1 and r2 go up" 0
cv rollback --db sqlite:notxn2/x.db --auto-approve
expect_rc "the rollback fails at r1's down" 1
expect_in "it says the no-transaction step stays done" err.txt "the first 1 step stay applied"
expect_not_in "it does not claim nothing changed" err.txt "changed nothing"
expect_in "it names the snapshot" err.txt "the snapshot taken before the run is"
expect_eq "the version table is at r1" "$(q notxn2/x.db 'SELECT version FROM converge_schema_version')" r1

# The version table is one name: "public.alembic_version" would be a table
# of that name in converge's schema, not alembic_version in public.
mkdir -p dotted/mig
printf 'id: r1\nup: CREATE TABLE d1 (x);\ndown: DROP TABLE d1;\n' > dotted/mig/r1.yaml
printf 'version: 1\nschema: {migrations: mig, version: head, table: public.alembic_version}\n' > dotted/m.yaml
cv validate -m dotted/m.yaml
expect_rc "a schema-qualified version table: exit 1" 1
expect_in "says to give a name without a schema" err.txt "version table 'public.alembic_version': a name without a schema"
