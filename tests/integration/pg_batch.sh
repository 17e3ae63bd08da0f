# Round trips on PostgreSQL (STYLE.md: "never one round trip per row"):
# an apply, a re-apply with changes and a rollback of a few dozen rows and
# of a few hundred cost the same number of round trips, counted by the
# connection (CONVERGE_TRACE_PERFORMANCE); the rows are sent in batches,
# a failure in the middle of a batch is still put on its own step, and
# what the batch sent before it is rolled back with the rest.
. "$TOP/tests/integration/lib.sh"

s=$$

# grants FILE N [CHURN]: roles and N grants (user1..userN); with CHURN,
# every tenth one is revoked and every tenth gains a scoped grant.
grants() {
	awk -v n="$2" -v churn="${3:-}" 'BEGIN {
		print "version: 1"
		print "roles:"
		print "  viewer: {permissions: [license:read]}"
		print "  editor: {inherits: [viewer], permissions: [license:generate]}"
		print "grants:"
		for (i = 1; i <= n; i++) {
			if (churn && i % 10 == 3)
				continue
			printf "  - {subject: user%d, role: %s}\n", i,
			       i % 2 ? "viewer" : "editor"
			if (churn && i % 10 == 7)
				printf "  - {subject: user%d, role: editor, scope: \"t:%d\"}\n", i, i % 7
		}
	}' >"$1"
}

# orgs FILE N [CHANGED]: entitlements of N orgs on two plans; CHANGED adds
# a module to plan p1, so half the orgs gain a row and an event.
orgs() {
	awk -v n="$2" -v changed="${3:-}" 'BEGIN {
		print "version: 1"
		print "entitlements:"
		print "  modules: {email: {always_on: true}, crm: {submodules: [leads]}, inv: {}, bi: {}}"
		printf "  plans: {p0: [crm, inv], p1: [crm%s]}\n", changed ? ", bi" : ""
		print "  orgs:"
		for (i = 1; i <= n; i++)
			printf "    org%d: {plan: p%d}\n", i, i % 2
	}' >"$1"
}

# trips: the round trips of the connection that wrote (the largest count
# the trace shows: plan and the lock check use small ones of their own).
trips() {
	sed -n 's/^converge: performance: postgres: round trips *//p' err.txt |
		sort -n | tail -1
}

# run_phases NAME MANIFEST CHANGED: apply, apply the change, rollback;
# sets TRIPS to the three counts.
run_phases() {
	pg_db "batch_$1_$s" || exit 1
	eval "DB_$1=\$DB"
	TRIPS=""
	for m in "$2" "$3"; do
		CONVERGE_TRACE_PERFORMANCE=1 cv apply -m "$m" --db "$DB" \
			--auto-approve --no-snapshot -q
		expect_rc "$1: apply $m" 0
		TRIPS="$TRIPS $(trips)"
	done
	CONVERGE_TRACE_PERFORMANCE=1 cv rollback --db "$DB" --auto-approve \
		--no-snapshot -q
	expect_rc "$1: rollback" 0
	TRIPS="$TRIPS $(trips)"
}

# bounded NAME SMALL BIG: each count of BIG is at most 8 above SMALL's
# (a batch reads its results every 256 statements: 8 more reads for
# 2,000 more statements; one round trip a row would be hundreds more).
bounded() {
	for i in 1 2 3; do
		a=$(echo $2 | cut -d' ' -f$i)
		b=$(echo $3 | cut -d' ' -f$i)
		if [ -n "$a" ] && [ -n "$b" ] && [ "$b" -le $((a + 8)) ]; then
			pass "$1: phase $i takes $b round trips (vs $a)"
		else
			fail "$1: phase $i takes '$b' round trips (vs '$a'): one a row?"
		fi
	done
}

grants g30.yaml 30
grants g30c.yaml 30 churn
grants g600.yaml 600
grants g600c.yaml 600 churn
run_phases g30 g30.yaml g30c.yaml
t30=$TRIPS
# apply --auto-approve on a database that is there plans and applies on
# one connection: no other one only to see that it exists.
CONVERGE_TRACE_PERFORMANCE=1 cv apply -m g30.yaml --db "$DB_g30" --auto-approve --no-snapshot -q
expect_rc "apply --auto-approve again" 0
expect_eq "makes one connection" "$(grep -c 'postgres: round trips' err.txt)" 1
run_phases g600 g600.yaml g600c.yaml
t600=$TRIPS
bounded "grants" "$t30" "$t600"
digest="SELECT count(*), md5(string_agg(subject || '/' || role || '/' || scope, ',' ORDER BY subject, role, scope)) FROM rbac_grants"
pq "$DB_g600" "$digest" >rolled.txt
grants fresh.yaml 600
pg_db "batch_fresh_$s" || exit 1
cv apply -m fresh.yaml --db "$DB" --auto-approve --no-snapshot -q
expect_eq "the rollback of a batch puts back every row" \
	"$(cat rolled.txt)" "$(pq "$DB" "$digest")"
expect_eq "the journal has a row a step" \
	"$(pq "$DB_g600" "SELECT count(*) FROM converge_steps WHERE kind = 'grants' AND run_id = (SELECT min(id) FROM converge_runs)")" 600

orgs o20.yaml 20
orgs o20c.yaml 20 changed
orgs o400.yaml 400
orgs o400c.yaml 400 changed
run_phases o20 o20.yaml o20c.yaml
t20=$TRIPS
run_phases o400 o400.yaml o400c.yaml
bounded "entitlements" "$t20" "$TRIPS"
expect_eq "every entitlement change has its event" \
	"$(pq "$DB_o400" "SELECT count(*) FROM ent_events WHERE module = 'bi'")" 400

# The rows of a batch go to the server as a few statements, not one a
# row (one COPY): a statement trigger counts the INSERTs that reach the
# tables.
pg_db "batch_stmts_$s" || exit 1
grants g1.yaml 1
cv apply -m g1.yaml --db "$DB" --auto-approve --no-snapshot -q
expect_rc "one grant to start with" 0
pq "$DB" "CREATE TABLE stmt_count (tbl text);
	CREATE FUNCTION count_stmt() RETURNS trigger LANGUAGE plpgsql AS
	\$\$BEGIN INSERT INTO stmt_count VALUES (TG_TABLE_NAME); RETURN NULL; END\$\$;
	CREATE TRIGGER c AFTER INSERT ON rbac_grants
		FOR EACH STATEMENT EXECUTE FUNCTION count_stmt();
	CREATE TRIGGER c AFTER INSERT ON converge_steps
		FOR EACH STATEMENT EXECUTE FUNCTION count_stmt()"
cv apply -m g600.yaml --db "$DB" --auto-approve --no-snapshot -q
expect_rc "then 599 more" 0
expect_eq "599 grants are one statement" \
	"$(pq "$DB" "SELECT count(*) FROM stmt_count WHERE tbl = 'rbac_grants'")" 1
expect_eq "and their journal rows one more" \
	"$(pq "$DB" "SELECT count(*) FROM stmt_count WHERE tbl = 'converge_steps'")" 1
expect_eq "every row is there" "$(pq "$DB" "SELECT count(*) FROM rbac_grants")" 600

# What COPY's text format reads specially (tab, newline, backslash, \N,
# \.) goes in one COPY all the same, is stored as the manifest says, an
# absent value stays NULL, and the plan reads it all back as no change.
# (Rows go as one COPY when there are many of them: 300 more grants.)
pq "$DB" "DELETE FROM stmt_count"
manifest odd.yaml <<'EOF'
version: 1
roles:
  viewer: {permissions: [license:read]}
grants:
  - {subject: "o'brien\\tx", role: viewer, reason: "a\tb\nc\\N d\\.\r"}
  - {subject: "\\.", role: viewer, reason: "\\N"}
  - {subject: "ünï \"q\"", role: viewer, scope: "t;--", expires: "2027-01-01T00:00:00Z"}
EOF
awk 'BEGIN { for (i = 1; i <= 300; i++) printf "  - {subject: pad%d, role: viewer}\n", i }' >>odd.yaml
cv apply -m odd.yaml --db "$DB" --auto-approve --no-snapshot -q
expect_rc "odd text goes in" 0
expect_eq "in one statement" \
	"$(pq "$DB" "SELECT count(*) FROM stmt_count WHERE tbl = 'rbac_grants'")" 1
expect_eq "and is stored verbatim" \
	"$(pq "$DB" "SELECT string_agg((subject = ANY (ARRAY[E'o''brien\\\\tx', E'\\\\.', 'ünï \"q\"']))::text || (reason IS NOT DISTINCT FROM CASE subject WHEN E'\\\\.' THEN E'\\\\N' WHEN 'ünï \"q\"' THEN NULL ELSE E'a\\tb\\nc\\\\N d\\\\.\\r' END)::text || (expires_at IS NULL)::text, ' ' ORDER BY subject) FROM rbac_grants WHERE subject NOT LIKE 'pad%'")" \
	"truetruetrue truetruetrue truetruefalse"
cv plan -m odd.yaml --db "$DB" --detailed-exitcode
expect_rc "and reads back as no change" 0

# A failure read with the results of a batch names its own step, and
# nothing the batch sent before it stays.
pg_db "batch_fail_$s" || exit 1
cv apply -m g30.yaml --db "$DB" --auto-approve --no-snapshot -q
expect_rc "the first thirty grants" 0
pq "$DB" "CREATE FUNCTION no_u417() RETURNS trigger LANGUAGE plpgsql AS
	\$\$BEGIN IF NEW.subject = 'user417' THEN RAISE EXCEPTION 'no user417 here'; END IF; RETURN NEW; END\$\$;
	CREATE TRIGGER no_u417 BEFORE INSERT ON rbac_grants FOR EACH ROW EXECUTE FUNCTION no_u417()"
cv apply -m g600.yaml --db "$DB" --auto-approve --no-snapshot
expect_rc "a row refused in the middle of a batch fails the apply" 1
expect_in "the server's message is given" err.txt "no user417 here"
expect_in "on the step of that row, not the one sent when it was read" \
	err.txt "+ grants viewer to user417"
expect_eq "nothing else was written" \
	"$(pq "$DB" "SELECT count(*) FROM rbac_grants")" 30
expect_eq "the failed run is recorded" \
	"$(pq "$DB" "SELECT count(*) FROM converge_runs WHERE status = 'failed'")" 1

# A saved plan is a file anyone can edit: rows whose INSERT names a
# parameter that is not there go to the server, which refuses it, rather
# than into a COPY that would read past the row's values.
pg_db "batch_edited_$s" || exit 1
cv apply -m g30.yaml --db "$DB" --auto-approve --no-snapshot -q
cv plan -m g600.yaml --db "$DB" -o edited.plan.yaml -q
sed 's/VALUES (\$1, /VALUES ($0, /' edited.plan.yaml >edited0.plan.yaml
expect_eq "the edit touched every added grant" \
	"$(grep -c 'VALUES (\$0, ' edited0.plan.yaml)" 570
cv apply edited0.plan.yaml --db "$DB" --auto-approve --no-snapshot
expect_rc "rows naming \$0 fail the apply, no crash" 1
expect_in "with the server's word for it" err.txt "there is no parameter \$0"
expect_eq "and nothing is written" \
	"$(pq "$DB" "SELECT count(*) FROM rbac_grants")" 30

# Revokes: the keys of a run of one DELETE go to the server as one
# statement (a statement trigger counts the DELETEs that reach the
# table), in a few round trips more for 2,000 rows than for 20 (which,
# fewer than a batch, go pipelined), not one a row.
pg_db "batch_del_$s" || exit 1
DB_del=$DB
grants g2010.yaml 2010
grants g10.yaml 10
cv apply -m g2010.yaml --db "$DB" --auto-approve --no-snapshot -q
expect_rc "2,010 grants to start with" 0
count_deletes() {
	pq "$1" "CREATE TABLE stmt_count (tbl text);
		CREATE FUNCTION count_stmt() RETURNS trigger LANGUAGE plpgsql AS
		\$\$BEGIN INSERT INTO stmt_count VALUES (TG_TABLE_NAME); RETURN NULL; END\$\$;
		CREATE TRIGGER c AFTER DELETE ON $2
			FOR EACH STATEMENT EXECUTE FUNCTION count_stmt()"
}
deletes() {
	pq "$DB" "SELECT count(*) FROM stmt_count WHERE tbl = '$1'"
}
count_deletes "$DB" rbac_grants
CONVERGE_TRACE_PERFORMANCE=1 cv apply -m g10.yaml --db "$DB" --auto-approve \
	--no-snapshot -q
expect_rc "2,000 revokes" 0
big=$(trips)
expect_eq "are one DELETE" "$(deletes rbac_grants)" 1
expect_eq "of the right rows" \
	"$(pq "$DB" "SELECT string_agg(subject, ' ' ORDER BY subject) FROM rbac_grants")" \
	"user1 user10 user2 user3 user4 user5 user6 user7 user8 user9"
expect_eq "each step is journaled with its own DELETE" \
	"$(pq "$DB" "SELECT count(DISTINCT object) || ' ' || min(forward_sql) || max(forward_sql) FROM converge_steps WHERE kind = 'grants' AND action = 'delete'")" \
	"$(printf '2000 DELETE FROM "rbac_grants" WHERE "subject" = $1 AND "role" = $2 AND "scope" = $3\nDELETE FROM "rbac_grants" WHERE "subject" = $1 AND "role" = $2 AND "scope" = $3')"
pg_db "batch_del20_$s" || exit 1
cv apply -m g30.yaml --db "$DB" --auto-approve --no-snapshot -q
CONVERGE_TRACE_PERFORMANCE=1 cv apply -m g10.yaml --db "$DB" --auto-approve \
	--no-snapshot -q
expect_rc "20 revokes" 0
small=$(trips)
if [ -n "$big" ] && [ -n "$small" ] && [ "$big" -le $((small + 12)) ]; then
	pass "2,000 revokes take $big round trips, 20 take $small"
else
	fail "2,000 revokes take '$big' round trips, 20 take '$small': a round trip every few hundred rows?"
fi

# What an array literal reads specially (quotes, backslashes, braces,
# commas, spaces, the word NULL, the empty string that is every unscoped
# grant's scope) and text beyond ASCII are keys like any other: the
# grants that hold them are revoked in one DELETE, and grants that hold
# nearly the same text stay.  300 plain grants go with them, so that the
# run is longer than a batch (a shorter one goes pipelined, row by row).
DB=$DB_del
pq "$DB" "DELETE FROM stmt_count"
{
	printf 'version: 1\nroles:\n  viewer: {permissions: [license:read]}\ngrants:\n'
	i=0
	while [ $i -lt 300 ]; do
		printf '  - {subject: filler%03d, role: viewer}\n' $i
		i=$((i + 1))
	done
} >fillers.yaml
manifest hostile.yaml <<'EOF'
version: 1
roles:
  viewer: {permissions: [license:read]}
grants:
  - {subject: 'q"uote', role: viewer}
  - {subject: 'back\slash', role: viewer}
  - {subject: 'back\\"both', role: viewer}
  - {subject: '{br,ace}', role: viewer}
  - {subject: 'a,b', role: viewer, scope: '}'}
  - {subject: 'NULL', role: viewer}
  - {subject: 'null', role: viewer, scope: 'NULL'}
  - {subject: ' spaced ', role: viewer}
  - {subject: 'ünï ☃ 𝄞', role: viewer, scope: 'é'}
  - {subject: "o'brien", role: viewer, scope: ''}
  - {subject: 'q"uote2', role: viewer}
  - {subject: 'back\slash2', role: viewer}
  - {subject: '{br}', role: viewer}
  - {subject: 'NULL2', role: viewer}
  - {subject: 'spaced', role: viewer}
  - {subject: 'ünï', role: viewer}
EOF
tail -n 300 fillers.yaml >>hostile.yaml
cv apply -m hostile.yaml --db "$DB" --auto-approve --no-snapshot -q
expect_rc "hostile subjects go in" 0
head -n 4 hostile.yaml >kept.yaml
grep -e "'q\"uote2'" -e "'back.slash2'" -e "'{br}'" -e "'NULL2'" \
	-e "'spaced'" -e "'ünï'" hostile.yaml >>kept.yaml
pq "$DB" "DELETE FROM stmt_count"
cv apply -m kept.yaml --db "$DB" --auto-approve --no-snapshot -q
expect_rc "and ten of them are revoked, with the fillers" 0
expect_eq "in one DELETE" "$(deletes rbac_grants)" 1
expect_eq "which leaves the look-alikes" \
	"$(pq "$DB" "SELECT string_agg(subject || '/' || scope, ' | ' ORDER BY subject COLLATE \"C\") FROM rbac_grants")" \
	'NULL2/ | back\slash2/ | q"uote2/ | spaced/ | {br}/ | ünï/'
cv plan -m kept.yaml --db "$DB" --detailed-exitcode
expect_rc "and reads back as no change" 0

# An application's table (store.grants) with typed keys: a uuid, an
# integer, a varchar.  A saved plan is code: edited into a DELETE of its
# own keys, the run is one DELETE with the types of the columns; a NULL
# key or a key no row has deletes nothing, as it would alone.
pg_db "batch_typed_$s" || exit 1
pq "$DB" "CREATE TABLE staff (uid uuid PRIMARY KEY, level integer,
		name varchar(40) NOT NULL);
	INSERT INTO staff SELECT md5(i::text)::uuid, 1, md5(i::text)::uuid
		FROM generate_series(1, 340) i"
count_deletes "$DB" staff
{
	printf 'version: 1\nroles: {"1": {}, "2": {}}\n'
	printf 'store:\n  grants: {table: staff, subject: uid, role: level}\n'
	printf 'grants:\n'
	pq "$DB" "SELECT '  - {subject: ' || md5(i::text)::uuid || ', role: \"' ||
		CASE WHEN i <= 300 THEN 2 ELSE 1 END || '\"}'
		FROM generate_series(1, 340) i ORDER BY i"
} >typed.yaml
cv plan -m typed.yaml --db "$DB" -o typed.plan.yaml -q --detailed-exitcode
expect_rc "300 levels to change" 2
u29=$(pq "$DB" "SELECT md5('29')::uuid")
u30=$(pq "$DB" "SELECT md5('30')::uuid")
awk -v u29="$u29" -v u30="$u30" '
	/^  forward:/ { fwd = 1 }
	/^  inverse:/ { fwd = 0 }
	edit = 0
	fwd && /sql: .UPDATE "staff"/ {
		sub(/UPDATE "staff" SET "level" = \$1 WHERE "uid" = \$2/,
		    "DELETE FROM \"staff\" WHERE \"uid\" = $2 AND \"level\" = $1 AND \"name\" = $3")
		edit = 1
	}
	prev && /^    params: \["2", "/ {
		u = $0
		sub(/^    params: \["2", "/, "", u)
		sub(/"\]$/, "", u)
		lvl = u == u29 ? "\"7\"" : u == u30 ? "null" : "\"1\""
		$0 = "    params: [" lvl ", \"" u "\", \"" u "\"]"
	}
	{ prev = edit; print }' typed.plan.yaml >typed.del.yaml
expect_eq "the edit made 300 DELETEs" \
	"$(grep -c 'DELETE FROM "staff" WHERE "uid" = $2 AND "level" = $1 AND "name" = $3' typed.del.yaml)" 300
cv apply typed.del.yaml --db "$DB" --auto-approve --no-snapshot
expect_rc "the edited plan applies" 0
expect_eq "in one DELETE" "$(deletes staff)" 1
expect_eq "of the 298 rows it names; a NULL level and level 7 match none" \
	"$(pq "$DB" "SELECT count(*), count(*) FILTER (WHERE uid IN ('$u29', '$u30')) FROM staff")" "42|2"

# A failure in a run of DELETEs (a trigger raising on one row) is tried
# again row by row: it names that row's step and its one-row SQL, and
# nothing the run deleted stays deleted.
pg_db "batch_delfail_$s" || exit 1
cv apply -m g600.yaml --db "$DB" --auto-approve --no-snapshot -q
expect_rc "600 grants" 0
pq "$DB" "CREATE FUNCTION keep_u417() RETURNS trigger LANGUAGE plpgsql AS
	\$\$BEGIN IF OLD.subject = 'user417' THEN RAISE EXCEPTION 'user417 stays'; END IF; RETURN OLD; END\$\$;
	CREATE TRIGGER keep_u417 BEFORE DELETE ON rbac_grants FOR EACH ROW EXECUTE FUNCTION keep_u417()"
count_deletes "$DB" rbac_grants
cv apply -m g30.yaml --db "$DB" --auto-approve --no-snapshot
expect_rc "a revoke refused in the middle of a run of DELETEs fails the apply" 1
expect_in "the server's message is given" err.txt "user417 stays"
expect_in "on the step of that row" err.txt "- grants viewer to user417"
expect_in "with its own SQL" err.txt \
	'DELETE FROM "rbac_grants" WHERE "subject" = $1 AND "role" = $2 AND "scope" = $3'
expect_not_in "not the SQL of the run" err.txt "unnest"
expect_eq "nothing was deleted" \
	"$(pq "$DB" "SELECT count(*) FROM rbac_grants")" 600
expect_eq "the failed run is recorded" \
	"$(pq "$DB" "SELECT count(*) FROM converge_runs WHERE status = 'failed'")" 1
pq "$DB" "DROP TRIGGER keep_u417 ON rbac_grants;
	CREATE TABLE audit (subject text, role text, scope text,
		FOREIGN KEY (subject, role, scope) REFERENCES rbac_grants
		ON DELETE RESTRICT);
	INSERT INTO audit VALUES ('user423', 'viewer', '')"
cv apply -m g30.yaml --db "$DB" --auto-approve --no-snapshot
expect_rc "a revoke a foreign key restricts fails the apply" 1
expect_in "on the step of that row" err.txt "- grants viewer to user423"
expect_in "with the server's message" err.txt 'violates foreign key constraint "audit_subject_role_scope_fkey" on table "audit"'
expect_eq "and nothing was deleted" \
	"$(pq "$DB" "SELECT count(*) FROM rbac_grants")" 600
pq "$DB" "DELETE FROM audit"
cv apply -m g30.yaml --db "$DB" --auto-approve --no-snapshot -q
expect_rc "without the trigger and the reference the same revokes apply" 0
expect_eq "as one DELETE" "$(deletes rbac_grants)" 1

for d in g30 g600 fresh o20 o400 stmts fail edited del del20 typed delfail; do
	pq "$CONVERGE_TEST_PG_URL" "DROP DATABASE batch_${d}_$s" >/dev/null
done
