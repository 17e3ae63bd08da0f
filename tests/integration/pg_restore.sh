# restore on PostgreSQL (SPEC §5, §7) records itself in the journal in
# the same transaction as the restore: psql runs the snapshot's SQL, then
# the record, then COMMIT.  The record is made where converge keeps its
# tables (--schema), also from a snapshot taken before the journal
# existed; its values reach psql as variables, never as SQL text; and a
# record that cannot be written leaves the database as it was.
. "$TOP/tests/integration/lib.sh"

manifest m/mig/1.yaml <<'EOF2'
id: r1
up: CREATE TABLE later (id int)
down: DROP TABLE later
EOF2
printf 'version: 1\nschema: {migrations: mig, version: head}\n' > m/head.yaml
# Quotes, backslashes, colons (psql's variables), a dollar: as given.
actor="o'brien \\\\ \\n :'x' :\"y\" :z \$1 ;-- E'w'"

# dump DB FILE: a snapshot as converge takes them (pg_dump -Fc).
dump() { "$PGBIN/pg_dump" --format=custom --file="$2" "$1"; }

# restore_case SCHEMA: restores a snapshot taken before the first apply
# (no journal in it), with or without --schema.
restore_case() {
	schema=$1
	if [ -n "$schema" ]; then opt="--schema $schema"; t="$schema."; else opt=; t=; fi
	pg_db "rs${schema}_$$" || exit 1
	pq "$DB" "CREATE TABLE data (x int); INSERT INTO data VALUES (1)"
	dump "$DB" "before-$schema.dump"
	# shellcheck disable=SC2086
	cv apply -m m/head.yaml --db "$DB" $opt --auto-approve -q
	expect_rc "apply ${opt:-without --schema}" 0
	pq "$DB" "INSERT INTO data VALUES (2)"
	# shellcheck disable=SC2086
	cv restore --db "$DB" $opt --actor "$actor" --auto-approve "before-$schema.dump"
	expect_rc "restore ${opt:-without --schema} exits 0" 0
	expect_eq "the data is the snapshot's (${opt:-public})" \
		"$(pq "$DB" "SELECT string_agg(x::text, ' ') FROM data") $(pq "$DB" "SELECT count(*) FROM pg_tables WHERE tablename = 'later'")" "1 0"
	run=$(sed -n 's/.*(run \(.*\))\.$/\1/p' out.txt)
	prev=$(sed -n 's/^The state before the restore is in //p' out.txt)
	expect_eq "the journal holds the restore alone (${opt:-public})" \
		"$(pq "$DB" "SELECT string_agg(id || ' ' || kind || ' ' || status, ',') FROM ${t}converge_runs")" \
		"$run restore applied"
	expect_eq "its fields (${opt:-public})" \
		"$(pq "$DB" "SELECT snapshot = '$prev', database = '$DB', started_at IS NOT NULL, finished_at IS NOT NULL, error IS NULL, undoes IS NULL FROM ${t}converge_runs")" \
		"t|t|t|t|t|t"
	expect_eq "the actor verbatim (${opt:-public})" \
		"$(pq "$DB" "SELECT actor FROM ${t}converge_runs")" "$actor"
	expect_eq "the snapshot before the restore is there (${opt:-public})" \
		"$(test -s "$prev" && echo yes)" yes
	if [ -n "$schema" ]; then
		expect_eq "with --schema, no journal in public" \
			"$(pq "$DB" "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename LIKE 'converge%'")" 0
		cv status --db "$DB" $opt
		expect_in "status finds the restore in $schema" out.txt "$run"
	fi
	pq "$CONVERGE_TEST_PG_URL" "DROP DATABASE rs${schema}_$$ WITH (FORCE)" >/dev/null
}

restore_case ""
restore_case ops

# A snapshot pg_restore fails on (cut short): neither its data nor a
# record of the restore.
pg_db "rsf_$$" || exit 1
cv apply -m m/head.yaml --db "$DB" --auto-approve -q
pq "$DB" "CREATE TABLE data (x int); INSERT INTO data SELECT generate_series(1, 1000)"
dump "$DB" full.dump
pq "$DB" "DELETE FROM data WHERE x > 1"
head -c "$(($(wc -c < full.dump) * 3 / 4))" full.dump > cut.dump
cv restore --db "$DB" --auto-approve cut.dump
expect_rc "a snapshot cut short fails" 1
expect_in "the database is as it was, says the error" err.txt "the database is as it was"
expect_eq "its data is not there" "$(pq "$DB" "SELECT count(*) FROM data")" 1
expect_eq "and no restore is recorded" \
	"$(pq "$DB" "SELECT count(*) FROM converge_runs WHERE kind = 'restore'")" 0
pq "$CONVERGE_TEST_PG_URL" "DROP DATABASE rsf_$$ WITH (FORCE)" >/dev/null

# A record the restored database refuses (a trigger of the snapshot's
# raises on converge_runs): the restore is undone with it.
pg_db "rsr_$$" || exit 1
cv apply -m m/head.yaml --db "$DB" --auto-approve -q
pq "$DB" "CREATE TABLE data (x int); INSERT INTO data VALUES (1);
	CREATE FUNCTION no_runs() RETURNS trigger LANGUAGE plpgsql AS
	  \$\$BEGIN RAISE EXCEPTION 'the journal is closed'; END\$\$;
	CREATE TRIGGER no_runs BEFORE INSERT OR UPDATE ON converge_runs
	  FOR EACH ROW EXECUTE FUNCTION no_runs()"
dump "$DB" closed.dump
pq "$DB" "DROP TRIGGER no_runs ON converge_runs; INSERT INTO data VALUES (2)"
cv restore --db "$DB" --auto-approve closed.dump
cp err.txt closed-err.txt
expect_rc "a record that cannot be written fails the restore" 1
expect_in "with the trigger's error" err.txt "the journal is closed"
expect_in "and says the database is as it was" err.txt "the database is as it was"
expect_eq "which it is: not restored" "$(pq "$DB" "SELECT string_agg(x::text, ' ' ORDER BY x) FROM data")" "1 2"
expect_eq "the trigger is not back either" \
	"$(pq "$DB" "SELECT count(*) FROM pg_trigger WHERE tgname = 'no_runs'")" 0
pq "$CONVERGE_TEST_PG_URL" "DROP DATABASE rsr_$$ WITH (FORCE)" >/dev/null

# An actor with a newline is refused before anything is done.
cv restore --db "$CONVERGE_TEST_PG_URL" --actor "$(printf 'a\nb')" --auto-approve closed.dump
expect_rc "an actor with a newline is a usage error" 64
