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

for d in g30 g600 fresh o20 o400 fail; do
	pq "$CONVERGE_TEST_PG_URL" "DROP DATABASE batch_${d}_$s" >/dev/null
done
