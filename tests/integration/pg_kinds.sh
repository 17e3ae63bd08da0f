# The application kinds on PostgreSQL (roles, grants, entitlements,
# flags, checks, store.grants, inspect), where pg_spec.sh, pg_store.sh,
# pg_batch.sh and pg_tmws.sh do not look: many rows of kinds whose
# statements alternate, application tables whose columns are not text,
# the server's time zone, and round trips through inspect and saved plans.
. "$TOP/tests/integration/lib.sh"

s=$$
dbs=""
# newdb NAME: a database of its own for a part of this test (DB).
newdb() {
	pg_db "kinds_$1_$s" || exit 1
	dbs="$dbs kinds_$1_$s"
}

# trips: the round trips of the connection that wrote (the largest count
# CONVERGE_TRACE_PERFORMANCE shows).
trips() {
	sed -n 's/^converge: performance: postgres: round trips *//p' err.txt |
		sort -n | tail -1
}

# traced NAME ARGS...: runs converge with the trace and sets T_NAME to
# its round trips.
traced() {
	tname=$1
	shift
	CONVERGE_TRACE_PERFORMANCE=1 cv "$@" -q
	eval "T_$tname=\$(trips)"
}

# bounded NAME SMALL BIG: the big run costs at most 30 round trips more
# than the small one (a batch reads its results every 256 statements; one
# round trip a row, or a COPY of every short run, is hundreds more).
bounded() {
	if [ -n "$2" ] && [ -n "$3" ] && [ "$3" -le $(($2 + 30)) ]; then
		pass "$1: $3 round trips (vs $2)"
	else
		fail "$1: '$3' round trips (vs '$2'): some a row?"
	fi
}

# ---- round trips of kinds whose statements alternate ------------------

# roles FILE N: N roles, each with a parent and two permissions (a run of
# two INSERTs of one kind, then another, again and again).
roles() {
	awk -v n="$2" 'BEGIN {
		print "version: 1"
		print "roles:"
		print "  base: {}"
		for (i = 1; i <= n; i++)
			printf "  r%d: {inherits: [base], permissions: [a:b%d, c:d]}\n", i, i
	}' >"$1"
}
roles r20.yaml 20
roles r1000.yaml 1000
printf 'version: 1\nroles: {base: {}}\n' >r0.yaml
for n in 20 1000; do
	newdb "roles$n"
	traced "apply$n" apply -m "r$n.yaml" --db "$DB" --auto-approve --no-snapshot
	expect_rc "roles: apply $n" 0
	traced "plan$n" plan -m r0.yaml --db "$DB"
	expect_rc "roles: plan removing $n" 0
	traced "rollback$n" rollback --db "$DB" --auto-approve --no-snapshot
	expect_rc "roles: rollback $n" 0
done
bounded "roles: apply of 1000" "$T_apply20" "$T_apply1000"
bounded "roles: plan removing 1000" "$T_plan20" "$T_plan1000"
bounded "roles: rollback of 1000" "$T_rollback20" "$T_rollback1000"
expect_eq "roles: the rollback took every row back" \
	"$(pq "$DB" "SELECT count(*) FROM rbac_roles") $(pq "$DB" "SELECT count(*) FROM rbac_role_permissions")" "0 0"

# flags FILE N [CHURN]: N flags, every third on, every fourth with two
# tenant values (a flag, then its tenants, in turn); with CHURN every
# fifth is switched and every seventh removed.
flags() {
	awk -v n="$2" -v churn="${3:-}" 'BEGIN {
		print "version: 1"
		print "flags:"
		for (i = 1; i <= n; i++) {
			on = i % 3 == 0
			if (churn && i % 5 == 0)
				on = !on
			if (churn && i % 7 == 0)
				continue
			printf "  flag%d: {enabled: %s%s}\n", i, on ? "true" : "false",
			       i % 4 ? "" : ", tenants: {t" i % 9 ": true, u: false}"
		}
	}' >"$1"
}
for n in 40 2000; do
	flags "f$n.yaml" $n
	flags "f${n}c.yaml" $n churn
	newdb "flags$n"
	traced "apply$n" apply -m "f$n.yaml" --db "$DB" --auto-approve --no-snapshot
	expect_rc "flags: apply $n" 0
	traced "change$n" apply -m "f${n}c.yaml" --db "$DB" --auto-approve --no-snapshot
	expect_rc "flags: change $n" 0
	traced "rollback$n" rollback --db "$DB" --auto-approve --no-snapshot
	expect_rc "flags: rollback $n" 0
	cv plan -m "f$n.yaml" --db "$DB" --detailed-exitcode
	expect_rc "flags: the rollback of $n puts the first apply back" 0
done
bounded "flags: apply of 2000" "$T_apply40" "$T_apply2000"
bounded "flags: change of 2000" "$T_change40" "$T_change2000"
bounded "flags: rollback of 2000" "$T_rollback40" "$T_rollback2000"
expect_eq "flags: booleans are stored as such" \
	"$(pq "$DB" "SELECT count(*) FILTER (WHERE enabled), count(*) FROM feature_flags")" "666|2000"


# ---- grants: expires_at made timestamptz, in an odd time zone ---------

# A team that made rbac_grants.expires_at a timestamptz (to query expiry
# in SQL) reads it back in the session's time zone, here +13:45: the
# same instant is the same expiry, not a change at every plan, and it
# is compared with --now as a time, not as text.
newdb tz
pq "$CONVERGE_TEST_PG_URL" "ALTER DATABASE kinds_tz_$s SET TimeZone = 'Pacific/Chatham'"
manifest tz/grants.yaml <<'EOF2'
version: 1
roles: {admin: {}, viewer: {}}
grants:
  - {subject: ann, role: admin, expires: "2026-11-24T05:00:00Z", reason: INC-1}
  - {subject: bob, role: viewer, expires: "2026-11-24T09:30:00+05:30"}
  - {subject: cy, role: viewer}
EOF2
manifest tz-guard/guard.yaml <<'EOF2'
version: 1
roles: {admin: {}, viewer: {}}
guards: {min_grants: {admin: 1}}
EOF2
cv apply -m tz --db "$DB" --auto-approve --no-snapshot -q
expect_rc "tz: the grants are applied" 0
pq "$DB" "ALTER TABLE rbac_grants ALTER expires_at TYPE timestamptz USING expires_at::timestamptz"
expect_eq "tz: the server shows them in its time zone" \
	"$(pq "$DB" "SELECT string_agg(expires_at::text, ' ' ORDER BY subject) FROM rbac_grants")" \
	"2026-11-24 18:45:00+13:45 2026-11-24 17:45:00+13:45"
cv plan -m tz --db "$DB" --detailed-exitcode
expect_rc "tz: the same instants are no change" 0
cv inspect --db "$DB"
expect_in "tz: inspect shows them in UTC" out.txt \
	'{subject: ann, role: admin, expires: "2026-11-24T05:00:00Z", reason: INC-1}'
cv plan -m tz-guard --db "$DB" --now 2026-11-24T03:00:00Z
expect_rc "tz: before ann's expiry, she counts for the guard" 0
cv plan -m tz-guard --db "$DB" --now 2026-11-24T05:00:00Z
expect_rc "tz: at her expiry, she does not" 1
expect_in "tz: the guard says so" err.txt "role 'admin' would have 0 grants"
sed 's/2026-11-24T09:30:00+05:30/2026-11-25T00:00:00Z/' tz/grants.yaml >tz/g2
mv tz/g2 tz/grants.yaml
cv apply -m tz --db "$DB" --auto-approve --no-snapshot -q
expect_rc "tz: a changed expiry is applied" 0
expect_eq "tz: into the timestamptz column" \
	"$(pq "$DB" "SELECT expires_at AT TIME ZONE 'UTC' FROM rbac_grants WHERE subject = 'bob'")" \
	"2026-11-25 00:00:00"
cv rollback --db "$DB" --auto-approve --no-snapshot -q
expect_rc "tz: and rolled back" 0
expect_eq "tz: to the instant before" \
	"$(pq "$DB" "SELECT expires_at AT TIME ZONE 'UTC' FROM rbac_grants WHERE subject = 'bob'")" \
	"2026-11-24 04:00:00"

# ---- many rows into a table with a rule --------------------------------

# Long runs of INSERTs go as one COPY, which applies no rule: rows into
# a table that has one (an audit log kept by a rule) go as INSERTs, so
# the rule sees every row however many there are.
newdb rule
awk 'BEGIN { print "version: 1\nroles: {viewer: {}}\ngrants:"
	for (i = 1; i <= 300; i++) printf "  - {subject: u%d, role: viewer}\n", i }' >rule.yaml
head -n 4 rule.yaml >rule1.yaml
cv apply -m rule1.yaml --db "$DB" --auto-approve --no-snapshot -q
expect_rc "rule: one grant makes the table" 0
pq "$DB" "CREATE TABLE grant_log (subject text);
	CREATE RULE log_grant AS ON INSERT TO rbac_grants
		DO ALSO INSERT INTO grant_log VALUES (NEW.subject)"
cv apply -m rule.yaml --db "$DB" --auto-approve --no-snapshot -q
expect_rc "rule: 299 more" 0
expect_eq "rule: the rule saw each of them" \
	"$(pq "$DB" "SELECT count(*) FROM grant_log")" 299
expect_eq "rule: and they are there" \
	"$(pq "$DB" "SELECT count(*) FROM rbac_grants")" 300

# ---- store.grants: application columns that are not text ---------------

# A subject or role kept in char(n) reads back padded with spaces: the
# binding reads them as text, as the UPDATE's comparison sees them, or
# no subject would have a row and every role would differ from the
# default.  Other types (bigint, an enum) are read and written as text
# too, and a value the column refuses fails its own step.
newdb store
pq "$DB" "CREATE TYPE app_role AS ENUM ('viewer', 'admin');
	CREATE TABLE padded (id char(8) PRIMARY KEY, role char(10) NOT NULL);
	INSERT INTO padded VALUES ('a1', 'viewer'), ('a2', 'admin');
	CREATE TABLE typed (id bigint PRIMARY KEY, role app_role);
	INSERT INTO typed VALUES (1, 'viewer'), (2, 'admin'), (10, NULL)"
# bind TABLE GRANTS: a manifest of the grants GRANTS kept in TABLE.
bind() {
	store_manifest "st-$1" "table: $1, subject: id, role: role, default: viewer" "$2"
}
bind padded '[{subject: a1, role: admin}]'
cv plan -m st-padded --db "$DB"
expect_rc "store char(n): plans" 0
expect_in "store char(n): a1 is granted admin" out.txt "+ grant admin to a1"
expect_in "store char(n): a2's admin is revoked" out.txt "- grant admin to a2"
expect_in "store char(n): nothing else" out.txt "Plan: 3 to add, 0 to change, 1 to remove."
cv apply -m st-padded --db "$DB" --auto-approve --no-snapshot -q
expect_rc "store char(n): applies" 0
cv plan -m st-padded --db "$DB" --detailed-exitcode
expect_rc "store char(n): and converges" 0
cv rollback --db "$DB" --auto-approve --no-snapshot -q
expect_rc "store char(n): rolls back" 0
expect_eq "store char(n): to the roles before" \
	"$(pq "$DB" "SELECT string_agg(id::text || '=' || role::text, ' ' ORDER BY id) FROM padded")" \
	"a1=viewer a2=admin"

bind typed '[{subject: "1", role: admin}, {subject: "10", role: admin}]'
cv apply -m st-typed --db "$DB" --auto-approve --no-snapshot -q
expect_rc "store bigint and enum: applies" 0
expect_eq "store bigint and enum: the roles are set" \
	"$(pq "$DB" "SELECT string_agg(id || '=' || coalesce(role::text, '-'), ' ' ORDER BY id) FROM typed")" \
	"1=admin 2=viewer 10=admin"
cv plan -m st-typed --db "$DB" --detailed-exitcode
expect_rc "store bigint and enum: converged" 0
store_manifest st-bad "table: typed, subject: id, role: role, default: viewer" \
	'[{subject: "1", role: admin}, {subject: "2", role: root}]'
sed -i 's/roles: {viewer: {}, admin: {}}/roles: {viewer: {}, admin: {}, root: {}}/' st-bad/store.yaml
cv apply -m st-bad --db "$DB" --auto-approve --no-snapshot
expect_rc "store enum: a role the enum lacks fails the apply" 1
expect_in "store enum: on its step" err.txt "+ grants root to 2"
expect_in "store enum: with the server's reason" err.txt 'invalid input value for enum app_role: "root"'
expect_eq "store enum: nothing changed" \
	"$(pq "$DB" "SELECT string_agg(id || '=' || coalesce(role::text, '-'), ' ' ORDER BY id) FROM typed")" \
	"1=admin 2=viewer 10=admin"

# A check that writes (nextval: a SELECT validate cannot see through) runs
# read-only in plan and apply alike: plan says the check writes, and not
# that the check is wrong about the data; apply fails on it (exit 5) and
# changes nothing.  A check that reads is unaffected, and the apply
# transaction writes on after it.
newdb ro
pq "$DB" "CREATE SEQUENCE s; CREATE TABLE t (a int)"
manifest ro/m.yaml <<'Y'
version: 1
flags: {f1: {enabled: true}}
checks:
  reads: {sql: "SELECT count(*) FROM t", expect: 0}
  counter: {sql: "SELECT nextval('s') > 0", expect: true}
Y
cv plan -m ro --db "$DB"
expect_rc "writing check: plan exit 1" 1
expect_in "writing check: plan says it writes" err.txt \
	"check 'counter' writes to the database, but a check must only read: it runs read-only, in plan and apply alike: postgres: cannot execute nextval() in a read-only transaction"
expect_not_in "writing check: the reading check passes" err.txt "'reads'"
cv apply -m ro --db "$DB" --auto-approve --no-snapshot
expect_rc "writing check: apply fails as a check (exit 5)" 5
expect_in "writing check: apply says it writes" err.txt "check 'counter' writes to the database"
expect_eq "writing check: the sequence did not move" "$(pq "$DB" "SELECT last_value || ' ' || is_called FROM s")" "1 false"
expect_eq "writing check: nothing applied" "$(pq "$DB" "SELECT to_regclass('feature_flags') IS NULL")" t
sed -i '/counter/d' ro/m.yaml
cv apply -m ro --db "$DB" --auto-approve --no-snapshot -q
expect_rc "reading check: applies" 0
expect_eq "reading check: the flag is written after it" "$(pq "$DB" "SELECT count(*) FROM feature_flags WHERE enabled")" 1

for d in $dbs; do
	pq "$CONVERGE_TEST_PG_URL" "DROP DATABASE $d" >/dev/null
done
