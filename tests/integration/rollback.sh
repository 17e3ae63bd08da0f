# Rollback, restore, the lock and failed steps (SPEC §5, §7): walking
# back through history, which runs are candidates, refusals when objects
# changed since, snapshots, restore and run ids, waiting for the lock, and
# a failing step that leaves nothing half-applied.
. "$TOP/tests/integration/lib.sh"
DB=sqlite:r.db

# grants DB: every grant as "subject/role/scope/reason", one line.
grants() {
	q "$1" "SELECT group_concat(g, ' ') FROM (SELECT subject || '/' || role || '/' || scope || '/' || ifnull(reason, '-') AS g FROM rbac_grants ORDER BY subject, role, scope)"
}
# perms DB ROLE: the role's direct permissions, one line.
perms() {
	q "$1" "SELECT group_concat(permission, ' ') FROM (SELECT permission FROM rbac_role_permissions WHERE role = '$2' ORDER BY permission)"
}
newest() { q r.db "SELECT max(id) FROM converge_runs"; }

manifest a.yaml <<'EOF'
version: 1
roles:
  viewer: {permissions: [license:read]}
grants:
  - {subject: alice, role: viewer}
EOF
manifest b.yaml <<'EOF'
version: 1
roles:
  viewer: {permissions: [license:read, license:write]}
grants:
  - {subject: alice, role: viewer, reason: B}
  - {subject: bob, role: viewer}
EOF

# ------------------------------------------- walking back through history

cv rollback --db $DB --auto-approve
expect_rc "rollback of a database that does not exist: exit 1" 1
expect_in "says nothing to roll back" err.txt "nothing to roll back"
expect_eq "and does not create it" "$(ls r.db 2>/dev/null)" ""

cv apply -m a.yaml --db $DB --auto-approve -q
A=$(newest)
cv apply -m b.yaml --db $DB --auto-approve -q
B=$(newest)
expect_eq "after B" "$(grants r.db)" "alice/viewer//B bob/viewer//-"
cp r.db after-b.db

cv rollback --db $DB
expect_rc "rollback without a terminal and without --auto-approve is refused" 1
expect_in "the refusal says why" err.txt "--auto-approve"
expect_same "a refused rollback leaves the database untouched" r.db after-b.db

cv rollback --db $DB --auto-approve
expect_rc "first rollback exits 0" 0
expect_in "it undoes B" out.txt "Rollback of run $B:"
expect_in "the review shows the grant B added going" out.txt "- grant viewer to bob"
expect_in "the review of an undone change says it reverts it" out.txt "~ role viewer: reverts + permissions license:write"
expect_in "the review of an undone grant change" out.txt "~ grant viewer to alice: reverts reason 'B'"
expect_eq "state is A's" "$(grants r.db)" "alice/viewer//-"
expect_eq "permissions are A's" "$(perms r.db viewer)" "license:read"
R1=$(newest)
expect_eq "the rollback run records what it undoes" \
	"$(q r.db "SELECT kind || ' ' || status || ' ' || (undoes = '$B') FROM converge_runs WHERE id = '$R1'")" "rollback applied 1"
expect_eq "the undone run records who undid it" "$(q r.db "SELECT undone_by FROM converge_runs WHERE id = '$B'")" "$R1"
expect_eq "the rollback journals its three steps" "$(q r.db "SELECT count(*) FROM converge_steps WHERE run_id = '$R1'")" 3

cv rollback --db $DB --auto-approve
expect_rc "second rollback exits 0" 0
expect_in "it undoes A, not the rollback" out.txt "Rollback of run $A:"
expect_eq "no grants left" "$(q r.db "SELECT count(*) FROM rbac_grants")" 0
expect_eq "no roles left" "$(q r.db "SELECT (SELECT count(*) FROM rbac_roles) + (SELECT count(*) FROM rbac_role_permissions)")" 0

cp r.db walked.db
cv rollback --db $DB --auto-approve
expect_rc "third rollback: exit 1" 1
expect_in "nothing to roll back" err.txt "nothing to roll back"
expect_in "it names the newest rollback, which can be undone by name" err.txt \
	"every apply with changes is undone; to redo what rollback '$(newest)' undid, name it: converge rollback --db sqlite:r.db $(newest)"
expect_same "nothing changed" r.db walked.db
REDO=$(sed -n 's/.*name it: converge //p' err.txt)
# shellcheck disable=SC2086 # the command as printed, split as a shell would
cv $REDO --auto-approve
expect_rc "the command it prints redoes the apply" 0
expect_eq "the grants are back" "$(q r.db "SELECT count(*) FROM rbac_grants")" 1
cp walked.db r.db
expect_eq "four runs in all" "$(q r.db "SELECT group_concat(kind, ' ') FROM (SELECT kind FROM converge_runs ORDER BY id)")" \
	"apply apply rollback rollback"

# A specific run: already rolled back is refused; an unknown id too.
cv rollback --db $DB "$B" --auto-approve
expect_rc "rolling back a rolled-back run is refused" 1
expect_in "says by which run" err.txt "run '$B' was already rolled back by run '$R1'"
cv rollback --db $DB 20990101T000000.000000Z-000000 --auto-approve
expect_rc "an unknown run id: exit 1" 1
expect_in "names it" err.txt "no run '20990101T000000.000000Z-000000' in the journal"
expect_same "refusals change nothing" r.db walked.db

# ------------------------------------------------ RUN_ID of an older run

manifest c.yaml <<'EOF'
version: 1
roles:
  viewer: {permissions: [license:read]}
  admin: {permissions: [license:admin]}
grants:
  - {subject: alice, role: viewer}
  - {subject: carol, role: admin}
EOF
cv apply -m a.yaml --db $DB --auto-approve -q
A2=$(newest)
cv apply -m c.yaml --db $DB --auto-approve -q
C2=$(newest)
cv rollback --db $DB "$A2" --auto-approve
expect_rc "rollback of an older run by id" 0
expect_in "it undoes that run" out.txt "Rollback of run $A2:"
expect_eq "only A2's objects are gone" "$(grants r.db)" "carol/admin//-"
expect_eq "C2's role stays" "$(q r.db "SELECT group_concat(name) FROM rbac_roles")" "admin"
cv rollback --db $DB --auto-approve
expect_in "a bare rollback then takes C2" out.txt "Rollback of run $C2:"
expect_eq "everything is gone" "$(q r.db "SELECT count(*) FROM rbac_grants") $(q r.db "SELECT count(*) FROM rbac_roles")" "0 0"

# Undoing an older run must not leave a later run's grants naming a role
# that is gone.
manifest a-bob.yaml <<'EOF'
version: 1
roles:
  viewer: {permissions: [license:read]}
grants:
  - {subject: alice, role: viewer}
  - {subject: bob, role: viewer}
EOF
cv apply -m a.yaml --db $DB --auto-approve -q
A3=$(newest)
cv apply -m a-bob.yaml --db $DB --auto-approve -q
cp r.db before.db
cv rollback --db $DB "$A3" --auto-approve
expect_rc "rollback that would strand grants: exit 1" 1
expect_in "names the role and the grant" err.txt "cannot remove role 'viewer': 1 grant still references it (bob)"
expect_same "the database is unchanged" r.db before.db
cv rollback --db $DB --auto-approve -q
cv rollback --db $DB --auto-approve -q
expect_rc "in order, both roll back" 0
expect_eq "back to empty" "$(q r.db "SELECT count(*) FROM rbac_grants") $(q r.db "SELECT count(*) FROM rbac_roles")" "0 0"

# ------------------------------------------- refusals: changed since

cv apply -m a.yaml --db $DB --auto-approve -q
A4=$(newest)
sqlite3 r.db "UPDATE rbac_grants SET reason = 'by hand' WHERE subject = 'alice'"
cp r.db before.db
cv rollback --db $DB --auto-approve
expect_rc "a grant changed by hand since the run: exit 1" 1
expect_in "says the rollback is refused" err.txt "rollback refused: 1 object changed since the run:"
expect_in "names the object and what changed" err.txt \
	"grants viewer to alice: the run left (none, none), the database now has (none, 'by hand')"
expect_in "and what to do next" err.txt \
	"undo the later run that changed it first (converge history), or write the change into the manifests and apply them"
expect_same "the refused rollback leaves the database byte-identical" r.db before.db
expect_eq "no run recorded" "$(q r.db "SELECT count(*) FROM converge_runs WHERE id > '$A4'")" 0

# Changed by a later apply: rolling back the earlier run by id is refused.
sqlite3 r.db "UPDATE rbac_grants SET reason = NULL WHERE subject = 'alice'"
cv apply -m b.yaml --db $DB --auto-approve -q
B4=$(newest)
cp r.db before.db
cv rollback --db $DB "$A4" --auto-approve
expect_rc "objects changed by a later apply: exit 1" 1
expect_in "two objects changed" err.txt "rollback refused: 2 objects changed since the run:"
expect_in "the role, with both values" err.txt \
	"roles viewer: the run left ('' | - | 'license:read'), the database now has ('' | - | 'license:read', 'license:write')"
expect_in "the grant, with both values" err.txt \
	"grants viewer to alice: the run left (none, none), the database now has (none, 'B')"
expect_same "unchanged" r.db before.db

# A grant the run added and someone deleted since.
sqlite3 r.db "DELETE FROM rbac_grants WHERE subject = 'bob'"
cp r.db before.db
cv rollback --db $DB --auto-approve
expect_rc "a deleted grant the run added: exit 1" 1
expect_in "says it is absent now" err.txt "grants viewer to bob: the run left (none, none), the database now has absent"
expect_same "unchanged again" r.db before.db
sqlite3 r.db "INSERT INTO rbac_grants (subject, role, scope) VALUES ('bob', 'viewer', '')"
cv rollback --db $DB --auto-approve -q
expect_rc "put back as the run left it, the rollback goes through" 0
expect_eq "B4 undone" "$(q r.db "SELECT undoes FROM converge_runs WHERE id = (SELECT max(id) FROM converge_runs)")" "$B4"

# ---------------------------------------------------------- snapshots

cv apply -m b.yaml --db $DB --auto-approve -q --snapshot-dir snaps
SB=$(newest)
S=$(q r.db "SELECT snapshot FROM converge_runs WHERE id = '$SB'")
expect_eq "--snapshot-dir is used" "$(dirname "$S")" "$(pwd -P)/snaps"
expect_eq "the snapshot is named <db>-<run-id>.db" "$(basename "$S")" "r-$(newest).db"
expect_eq "mode 0600" "$(stat -c %a "$S")" 600
expect_eq "it holds the state before the run" "$(grants "$S")" "alice/viewer//-"
cv rollback --db $DB --auto-approve --snapshot-dir rsnaps
RS=$(q r.db "SELECT snapshot FROM converge_runs WHERE id = (SELECT max(id) FROM converge_runs)")
expect_eq "rollback takes a snapshot first, in --snapshot-dir" "$(dirname "$RS")" "$(pwd -P)/rsnaps"
expect_eq "rollback snapshot mode 0600" "$(stat -c %a "$RS")" 600
expect_eq "the rollback snapshot holds the state before the rollback" "$(grants "$RS")" "alice/viewer//B bob/viewer//-"
expect_in "the rollback names its snapshot" out.txt "Snapshot of the database before the rollback: $RS"
cv apply -m b.yaml --db $DB --auto-approve -q
n=$(find . -name 'r-*.db' | wc -l)
cv rollback --db $DB --auto-approve --no-snapshot
expect_rc "rollback --no-snapshot" 0
expect_eq "--no-snapshot takes none" "$(find . -name 'r-*.db' | wc -l)" "$n"
expect_eq "and records none" "$(q r.db "SELECT quote(snapshot) FROM converge_runs WHERE id = (SELECT max(id) FROM converge_runs)")" NULL
expect_eq "default dir holds only 0600 files" "$(find .converge/snapshots -type f ! -perm 600 | wc -l)" 0

# Only "<name>-<run id>.db" is a snapshot of <name>.db: a-b.db's are not
# a.db's, nor is a file whose middle is not a run id.  Newest first is by
# run id; an id extended after the clock went back is the newer.
mkdir -p sn
for f in a-20261123T191519.776002Z-e9f463.db a-20261124T080000.000001Z-000001.db \
	 a-20261123T191519.776002Z-e9f463-0000aa.db a-b-20261125T000000.000000Z-abcdef.db \
	 a-notes.db a-20261123T191519.776002Z-e9f463.db.bak a-20261123T191519Z-e9f463.db \
	 a-20261125T010000.000000Z-0000bb.db.partial a-b-20261125T000000.000000Z-abcdef.db.partial; do
	: >"sn/$f"
done
cv snapshots --db a.db --snapshot-dir sn
expect_eq "an incomplete snapshot of a.db is not listed, but noted" "$(cat err.txt)" \
	"converge: note: sn holds 1 incomplete snapshot (*.partial), left by runs killed while snapshotting; they cannot be restored: delete them unless a run is taking a snapshot now"
expect_eq "snapshots lists only a.db's, newest first by run id" \
	"$(cut -d ' ' -f 1 out.txt)" "sn/a-20261124T080000.000001Z-000001.db
sn/a-20261123T191519.776002Z-e9f463-0000aa.db
sn/a-20261123T191519.776002Z-e9f463.db"
cv snapshots --db a.db --snapshot-dir sn --prune 0
expect_rc "prune 0 exits 0" 0
expect_eq "prune 0 removes a.db's three snapshots and nothing else" "$(ls sn | sort)" \
	"a-20261123T191519.776002Z-e9f463.db.bak
a-20261123T191519Z-e9f463.db
a-20261125T010000.000000Z-0000bb.db.partial
a-b-20261125T000000.000000Z-abcdef.db
a-b-20261125T000000.000000Z-abcdef.db.partial
a-notes.db"
rm -f sn/*.partial

# ------------------------------------------------------------ restore

expect_eq "state before restore" "$(grants r.db)" "alice/viewer//-"
q r.db "SELECT id FROM converge_runs ORDER BY id" >ids-before.txt
cv restore --db $DB "$RS"
expect_rc "restore without --auto-approve and no terminal: exit 1" 1
expect_eq "nothing restored" "$(grants r.db)" "alice/viewer//-"
cv restore --db $DB "$RS" --auto-approve
expect_rc "restore exits 0" 0
expect_eq "the snapshot's state is back" "$(grants r.db)" "alice/viewer//B bob/viewer//-"
RR=$(newest)
expect_eq "a restore run is recorded" "$(q r.db "SELECT kind || ' ' || status FROM converge_runs WHERE id = '$RR'")" "restore applied"
BEFORE=$(q r.db "SELECT snapshot FROM converge_runs WHERE id = '$RR'")
expect_eq "the state before the restore was snapshotted" "$(grants "$BEFORE")" "alice/viewer//-"
expect_eq "that snapshot is 0600" "$(stat -c %a "$BEFORE")" 600
expect_in "restore names it" out.txt "The state before the restore is in $BEFORE"
expect_eq "the restore's id is greater than every id before" \
	"$(sort ids-before.txt | awk -v id="$RR" '$0 >= id' | wc -l)" 0
manifest d.yaml <<'EOF'
version: 1
roles:
  viewer: {permissions: [license:read]}
grants:
  - {subject: dave, role: viewer}
EOF
cv apply -m d.yaml --db $DB --auto-approve -q
D=$(newest)
expect_eq "apply after restore gets a new id, greater than all ever used" \
	"$(cat ids-before.txt | awk -v id="$D" '$0 >= id' | wc -l) $(expr "$D" \> "$RR")" "0 1"
cv rollback --db $DB "$RR" --auto-approve
expect_rc "a restore is not rolled back" 1
expect_in "it says which snapshot to restore instead" err.txt "is a restore; to undo it, restore the snapshot it took: $BEFORE"
cv rollback --db $DB --auto-approve -q
expect_rc "the apply after the restore rolls back" 0
cv rollback --db $DB --auto-approve
expect_rc "the restore itself is not a rollback candidate" 0
expect_in "the bare rollback skips over it to the restored journal's runs" out.txt "Rollback of run $SB:"
cv restore --db $DB nosuch.db --auto-approve
expect_rc "restore of a missing snapshot: exit 1" 1
expect_in "names it" err.txt "cannot read snapshot 'nosuch.db': No such file or directory"
cv restore --db $DB .converge --auto-approve
expect_rc "restore of a directory: exit 1" 1
expect_in "says it is a directory" err.txt "cannot read snapshot '.converge': is a directory"
mkfifo fifo.db
cv restore --db $DB fifo.db --auto-approve
expect_rc "restore of a FIFO: exit 1" 1
expect_in "says it is not a regular file" err.txt "cannot read snapshot 'fifo.db': not a regular file"
rm -f fifo.db
nsnap=$(find . -name 'r-*.db' | wc -l)
cv restore --db $DB ./.converge/../r.db --auto-approve
expect_rc "restore of the database onto itself: exit 1 (not 4, 'locked')" 1
expect_in "says what it is" err.txt "snapshot './.converge/../r.db' is the database itself"
expect_eq "and takes no snapshot" "$(find . -name 'r-*.db' | wc -l)" "$nsnap"
expect_eq "no unfinished snapshot is left by any run" "$(find . -name '*.partial*' | wc -l)" 0
head -c 8192 /dev/urandom >garbage.db
cp r.db r.before-garbage
nsnap=$(find . -name 'r-*.db' | wc -l)
cv restore --db $DB garbage.db --auto-approve
expect_rc "restore of a file that is not a database: exit 1" 1
expect_in "says so" err.txt "garbage.db' is not a usable sqlite database"
expect_eq "and takes no snapshot first" "$(find . -name 'r-*.db' | wc -l)" "$nsnap"
expect_same "the database is as it was" r.db r.before-garbage

# ------------------------------------------------------------- the lock

rm -f r.db
cv apply -m a.yaml --db $DB --auto-approve -q
cp r.db before.db
# hold SECONDS [MODE]: another process holds the write lock for SECONDS
# (MODE EXCLUSIVE: a lock that keeps readers out too, as a writer that
# spills its cache mid-transaction holds).
# (MODE CONVERGE: converge's own lock, flock on the file, too, with an
# exclusive lock, as a large apply holds once it spills its changes;
# MODE FLOCK: converge's lock alone, as a revision outside a transaction
# holds it.)
hold() {
	rm -f locked
	python3 -c '
import fcntl, sqlite3, sys, time
mode = sys.argv[3]
if mode in ("CONVERGE", "FLOCK"):
	f = open(sys.argv[1], "rb")
	fcntl.flock(f, fcntl.LOCK_EX)
	mode = "EXCLUSIVE" if mode == "CONVERGE" else None
c = sqlite3.connect(sys.argv[1], isolation_level=None)
if mode:
	c.execute("BEGIN " + mode)
open("locked", "w").close()
time.sleep(float(sys.argv[2]))
if mode:
	c.execute("ROLLBACK")' r.db "$1" "${2:-IMMEDIATE}" &
	HOLDER=$!
	i=0
	while [ ! -f locked ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
}
hold 5
n=$(find . -name 'r-*.db' | wc -l)
cv plan -m b.yaml --db $DB --detailed-exitcode
expect_rc "plan does not need the lock" 2
cv apply -m b.yaml --db $DB --auto-approve --lock-timeout 0.5
expect_rc "apply while another holds the lock: exit 4" 4
expect_in "says the application's write transaction holds the database" err.txt \
	"database is locked by another program's write transaction (waited 0.5 s); it is held by pid $HOLDER (python3, since "
cv status --db $DB
expect_in "status says another program holds it, and which" out.txt \
	"lock:     held by another program: pid $HOLDER (python3, since "
expect_same "the locked-out apply changed nothing" r.db before.db
expect_eq "and took no snapshot" "$(find . -name 'r-*.db' | wc -l)" "$n"
cv rollback --db $DB --auto-approve --lock-timeout 0.5
expect_rc "rollback while another holds the lock: exit 4" 4
expect_same "the locked-out rollback changed nothing" r.db before.db
cv restore --db $DB "$BEFORE" --auto-approve --lock-timeout 0.5
expect_rc "restore while another holds the lock: exit 4" 4
expect_same "the locked-out restore changed nothing" r.db before.db
t0=$(date +%s)
cv apply -m b.yaml --db $DB --auto-approve -q --lock-timeout 20
t1=$(date +%s)
expect_rc "with a longer timeout it waits and succeeds" 0
LOCKED=$(newest)
expect_eq "it waited for the holder" "$([ $((t1 - t0)) -ge 1 ] && echo yes)" yes
expect_eq "applied after the wait" "$(grants r.db)" "alice/viewer//B bob/viewer//-"
wait $HOLDER
hold 4 EXCLUSIVE
t0=$(date +%s%N)
cv apply -m a.yaml --db $DB --auto-approve --lock-timeout 0.5
t1=$(date +%s%N)
expect_rc "apply while another holds an exclusive lock: exit 4" 4
expect_eq "after --lock-timeout, not a default of its own" \
	"$([ $(((t1 - t0) / 1000000)) -lt 2500 ] && echo yes)" yes
cv restore --db $DB "$BEFORE" --auto-approve --lock-timeout 0.5
expect_rc "restore while another holds an exclusive lock: exit 4" 4
expect_in "says the database is locked" err.txt "database is locked"
expect_not_in "and names no snapshot it never took" err.txt "(null)"
expect_not_in "nor blames converge for the application's lock" err.txt "another apply"
cv plan -m a.yaml --db $DB --detailed-exitcode
expect_rc "plan, which only reads, waits for the writer" 2
wait $HOLDER
# Another converge run that holds the database exclusively (its changes
# spilled to the file) keeps even reading out: those it keeps out say
# who holds the lock.
hold 3 CONVERGE
cv apply -m b.yaml --db $DB --auto-approve --lock-timeout 0
expect_rc "apply while another converge run writes: exit 4" 4
expect_in "says another apply holds the lock" err.txt \
	"database is locked by another apply (waited 0 s)"
cv rollback --db $DB --auto-approve --lock-timeout 0
expect_rc "rollback then: exit 4" 4
expect_in "says so too" err.txt "database is locked by another apply"
wait $HOLDER
# With --auto-approve the plan is made once, under the lock, as apply's
# is: a rollback kept out shows no plan it does not run.
hold 3 FLOCK
cv rollback --db $DB --auto-approve --lock-timeout 0
expect_rc "rollback while another converge run holds the lock: exit 4" 4
expect_in "says another apply holds it, and which" err.txt \
	"database is locked by another apply (waited 0 s); it is held by pid $HOLDER (python3, since "
expect_not_in "and shows no plan" out.txt "Rollback of run"
wait $HOLDER

# Applies that take a snapshot under the lock keep the lock: the snapshot
# reads the file through SQLite, never through a plain open() whose
# close() would drop the process's POSIX locks, the write lock included.
mkdir -p slowmig
manifest slowmig/1.yaml <<'EOF'
id: s1
up: CREATE TABLE s1 (x);
down: DROP TABLE s1;
EOF
manifest slowmig/2.yaml <<'EOF'
id: s2
parent: s1
up: |
  CREATE TABLE slow (x);
  WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 3000000)
  INSERT INTO slow SELECT i FROM c;
down: DROP TABLE slow;
EOF
manifest slow1.yaml <<'EOF'
version: 1
schema: {migrations: slowmig, version: s1}
EOF
manifest slow2.yaml <<'EOF'
version: 1
schema: {migrations: slowmig, version: s2}
EOF
cv apply -m slow1.yaml --db sqlite:s.db --auto-approve -q
for i in 1 2 3; do
	"$CONVERGE" apply -m slow2.yaml --db sqlite:s.db --auto-approve -q \
		--lock-timeout 60 >slow$i.out 2>&1 &
	eval "SLOW$i=\$!"
done
rcs=""
for i in 1 2 3; do
	eval "wait \$SLOW$i"
	rcs="$rcs$?"
done
expect_eq "three applies at once, each with a snapshot: all succeed" "$rcs" 000
expect_eq "no errors" "$(cat slow1.out slow2.out slow3.out | grep -c error)" 0
expect_eq "one applied the revision, the others found nothing to do" \
	"$(q s.db "SELECT count(*) FROM converge_runs WHERE status = 'applied'")" 2
expect_eq "the revision's steps are one run's" \
	"$(q s.db "SELECT count(DISTINCT run_id) FROM converge_steps WHERE object LIKE '%s2%'")" 1
expect_eq "the revision is applied" "$(q s.db "SELECT version FROM converge_schema_version")" s2
expect_eq "the database is sound" "$(q s.db "PRAGMA integrity_check")" ok

# A rollback started while a database's first apply runs finds no journal
# yet: it waits for the lock, as --lock-timeout says, and undoes that run
# once it is committed, instead of "nothing to roll back" at once.
"$CONVERGE" apply -m slow2.yaml --db sqlite:first.db --auto-approve -q >first.out 2>&1 &
FIRST=$!
n=0
while [ ! -e first.db ] && [ $n -lt 100 ]; do sleep 0.05; n=$((n + 1)); done
running=$(kill -0 $FIRST 2>/dev/null && echo yes)
cv rollback --db sqlite:first.db --auto-approve -q --lock-timeout 60
wait $FIRST
expect_eq "the first apply was still running when the rollback began" "$running" yes
expect_rc "the rollback waited for it and undid it" 0
expect_eq "so the database is at base again" "$(q first.db "SELECT count(*) FROM converge_schema_version")" 0
expect_eq "with the apply and its rollback recorded" \
	"$(q first.db "SELECT group_concat(kind, ',') FROM (SELECT kind FROM converge_runs ORDER BY id)")" "apply,rollback"

# ------------------------------------------------- a step that fails

# The application guards its grants with a trigger: converge's insert of
# a banned subject fails mid-plan.
sqlite3 r.db "CREATE TRIGGER no_mallory BEFORE INSERT ON rbac_grants WHEN NEW.subject = 'mallory' BEGIN SELECT RAISE(ABORT, 'mallory may not hold a role'); END;"
manifest f.yaml <<'EOF'
version: 1
roles:
  viewer: {permissions: [license:read]}
  admin: {permissions: [license:admin]}
grants:
  - {subject: alice, role: viewer}
  - {subject: mallory, role: admin}
  - {subject: zed, role: viewer}
EOF
before_runs=$(q r.db "SELECT count(*) FROM converge_runs")
q r.db "SELECT * FROM rbac_roles; SELECT * FROM rbac_role_permissions; SELECT * FROM rbac_grants; SELECT * FROM converge_steps" >state-before.txt
cv apply -m f.yaml --db $DB --auto-approve
expect_rc "a failing step: exit 1" 1
expect_in "the error is the database's" err.txt "mallory may not hold a role"
expect_in "the error names the step" err.txt "in step: 5: + grants admin to mallory"
expect_in "the error shows the SQL" err.txt \
	'sql: INSERT INTO "rbac_grants" ("subject", "role", "scope", "expires_at", "reason") VALUES (?1, ?2, ?3, ?4, ?5)'
expect_in "says nothing was changed" err.txt "nothing was changed"
q r.db "SELECT * FROM rbac_roles; SELECT * FROM rbac_role_permissions; SELECT * FROM rbac_grants; SELECT * FROM converge_steps" >state-after.txt
expect_same "nothing half-applied (roles, grants, steps)" state-after.txt state-before.txt
F=$(newest)
expect_eq "a failed run is recorded" "$(q r.db "SELECT count(*) - $before_runs FROM converge_runs") $(q r.db "SELECT kind || ' ' || status FROM converge_runs WHERE id = '$F'")" \
	"1 apply failed"
expect_eq "with the error, its step and its SQL" "$(q r.db "SELECT error FROM converge_runs WHERE id = '$F'")" \
	'sqlite: mallory may not hold a role
in step: 5: + grants admin to mallory
sql: INSERT INTO "rbac_grants" ("subject", "role", "scope", "expires_at", "reason") VALUES (?1, ?2, ?3, ?4, ?5)'
expect_eq "and no steps" "$(q r.db "SELECT count(*) FROM converge_steps WHERE run_id = '$F'")" 0
cv history --db $DB
expect_in "history shows the failed run" out.txt "$F  apply    failed"

cv rollback --db $DB "$F" --auto-approve
expect_rc "a failed run cannot be rolled back" 1
expect_in "says it failed" err.txt "run '$F' failed"
cv rollback --db $DB --auto-approve
expect_rc "a bare rollback skips the failed run" 0
expect_in "and undoes the last applied one" out.txt "Rollback of run $LOCKED:"
expect_not_in "not the failed one" out.txt "$F"
expect_eq "back at A's grants" "$(grants r.db)" "alice/viewer//-"

sqlite3 r.db "DROP TRIGGER no_mallory"
cv apply -m f.yaml --db $DB --auto-approve -q
expect_rc "re-run after the fix converges" 0
expect_eq "every grant applied" "$(grants r.db)" "alice/viewer//- mallory/admin//- zed/viewer//-"
cv plan -m f.yaml --db $DB --detailed-exitcode
expect_rc "and nothing is left to do" 0

# ------------------------------------- a writer killed mid-transaction

# Its journal is left "hot": the file holds half a transaction.  Read-only
# verbs say what to do; apply rolls it back (as SQLite does when a writing
# connection reads) and converges, with no manual repair.
manifest hot.yaml <<'Y'
version: 1
roles: {a: {}}
grants: [{subject: s, role: a}]
Y
cv apply -m hot.yaml --db sqlite:hot.db --auto-approve -q
python3 - <<'Y' 2>/dev/null
import sqlite3, os
c = sqlite3.connect('hot.db', isolation_level=None)
c.execute('PRAGMA cache_size=1')
c.execute('BEGIN')
c.execute('CREATE TABLE junk (x)')
for i in range(2000):
    c.execute('INSERT INTO junk VALUES (?)', ('x' * 500,))
c.execute('DELETE FROM rbac_grants')
os.kill(os.getpid(), 9)
Y
expect_eq "a killed writer leaves a hot journal" "$(ls hot.db-journal 2>/dev/null)" hot.db-journal
cv plan -m hot.yaml --db sqlite:hot.db
expect_rc "plan, read-only, cannot read it: exit 1" 1
expect_in "and says what to do" err.txt "apply, rollback and restore do it"
cv apply -m hot.yaml --db sqlite:hot.db --auto-approve
expect_rc "apply rolls the interrupted write back and goes on" 0
expect_in "finding the state before the killed transaction" out.txt "No changes"
expect_eq "its half-written rows are gone" "$(q hot.db "SELECT count(*) FROM sqlite_master WHERE name = 'junk'") $(q hot.db "SELECT count(*) FROM rbac_grants")" "0 1"

# A run killed while a revision runs outside a transaction: the segment
# before it is committed, so the run's record is too; it must say failed
# (the run did not finish), never applied.
mkdir -p killmig
manifest killmig/1.yaml <<'Y'
id: k1
up: CREATE TABLE k1 (x);
down: DROP TABLE k1;
Y
manifest killmig/2.yaml <<'Y'
id: k2
parent: k1
transaction: false
up: |
  CREATE TABLE k2 (x);
  WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 20000000)
  INSERT INTO k2 SELECT i FROM c;
down: DROP TABLE k2;
Y
manifest kill.yaml <<'Y'
version: 1
schema: {migrations: killmig, version: k2}
Y
"$CONVERGE" apply -m kill.yaml --db sqlite:kill.db --auto-approve -q >/dev/null 2>&1 &
KILLED=$!
# The snapshot shows the run has begun (the database itself is locked
# while the revision writes); the first segment is a moment, the
# revision's 20M rows take seconds.
i=0
while [ -z "$(find .converge -name 'kill-*.db' 2>/dev/null)" ] && [ $i -lt 400 ]; do
	sleep 0.05; i=$((i + 1))
done
sleep 1.5
kill -9 $KILLED
wait $KILLED 2>/dev/null
expect_eq "the killed run is recorded as failed, not applied" \
	"$(sqlite3 -cmd '.timeout 5000' kill.db "SELECT status FROM converge_runs")" failed
expect_in "saying it did not finish" /dev/stdin "the run did not finish" <<Z
$(sqlite3 -cmd '.timeout 5000' kill.db "SELECT error FROM converge_runs")
Z

# The kernel drops the lock of a process killed there: status says the
# lock is free, and the next apply is not kept out (it rolls back what the
# revision left half-written, and goes on).
cv status --db sqlite:kill.db
expect_in "status: the lock of the killed apply is free" out.txt "lock:     free"
manifest kill2.yaml <<'Y'
version: 1
roles: {viewer: {}}
Y
cv apply -m kill2.yaml --db sqlite:kill.db --auto-approve -q --lock-timeout 0
expect_rc "an apply after an apply killed in the revision is not blocked" 0
expect_eq "the killed run is failed, the next applied" \
	"$(q kill.db "SELECT group_concat(status) FROM (SELECT status FROM converge_runs ORDER BY id)")" \
	"failed,applied"

# ------------------------ the lock while a revision runs outside a transaction

# Such a revision commits what comes before it and runs outside any
# transaction, where SQLite's write lock cannot be kept: converge's own
# lock (flock on the database file) keeps every other apply, rollback and
# restore out until the run ends, and status sees it.  Here the revision
# only reads, for seconds, so that the database stays readable meanwhile.
mkdir -p segmig
cp killmig/1.yaml segmig/
manifest segmig/2.yaml <<'Y'
id: g2
parent: k1
transaction: false
up: |
  WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 12000000)
  SELECT count(*) FROM c;
down: SELECT 1;
Y
manifest segmig/3.yaml <<'Y'
id: g3
parent: g2
up: CREATE TABLE g3 (x);
down: DROP TABLE g3;
Y
manifest seg.yaml <<'Y'
version: 1
schema: {migrations: segmig, version: g3, table: alembic_version}
roles: {viewer: {}}
Y
manifest seg2.yaml <<'Y'
version: 1
roles: {viewer: {}, other: {}}
Y
"$CONVERGE" apply -m seg.yaml --db sqlite:seg.db --auto-approve -q >seg.out 2>&1 &
SEG=$!
# The run's record is committed with the first segment, just before the
# revision runs.
i=0
while [ "$(sqlite3 -cmd '.timeout 5000' seg.db "SELECT count(*) FROM converge_runs" 2>/dev/null)" != 1 ] &&
	[ $i -lt 400 ]; do
	sleep 0.05; i=$((i + 1))
done
SNAP=$(find .converge -name 'seg-*.db' | head -n 1)
cv status --db sqlite:seg.db
expect_in "status: the lock is held while the revision runs, by that run" out.txt \
	"lock:     held by another apply: pid $SEG (converge apply, since "
expect_in "and the run is running, not failed" out.txt " apply    running "
expect_not_in "with no advice to apply again" out.txt "did not finish"
cv history --db sqlite:seg.db
expect_in "history says so too" out.txt " apply    running "
cv apply -m seg2.yaml --db sqlite:seg.db --auto-approve --lock-timeout 0
expect_rc "a second apply meanwhile: exit 4" 4
expect_in "saying the database is locked, and by which run" err.txt \
	"database is locked by another apply (waited 0 s); it is held by pid $SEG (converge apply, since "
cv restore --db sqlite:seg.db "$SNAP" --auto-approve --lock-timeout 0.2
expect_rc "a restore meanwhile: exit 4" 4
cv plan -m seg2.yaml --db sqlite:seg.db --detailed-exitcode
expect_rc "plan, which takes no lock, plans meanwhile" 2
expect_eq "all that while the first apply was in the revision" \
	"$(kill -0 $SEG 2>/dev/null && echo running)" running
wait $SEG
expect_eq "the first apply then succeeds" "$?" 0
expect_eq "its run is recorded as applied, and the others as nothing" \
	"$(q seg.db "SELECT group_concat(kind || ' ' || status) FROM converge_runs")" \
	"apply applied"
expect_eq "at the revision it was applied to" \
	"$(q seg.db "SELECT version_num FROM alembic_version")" g3
expect_eq "with its tables and roles only" \
	"$(q seg.db "SELECT group_concat(name) FROM (SELECT name FROM sqlite_master WHERE name IN ('k1', 'g3') ORDER BY name)") $(q seg.db "SELECT group_concat(name) FROM rbac_roles")" \
	"g3,k1 viewer"
cv status --db sqlite:seg.db
expect_in "status: the lock is free after the run" out.txt "lock:     free"
cv apply -m seg2.yaml --db sqlite:seg.db --auto-approve -q --lock-timeout 0
expect_rc "and the next apply goes through" 0

# Two bare rollbacks that wait for the same lock walk back two runs: the
# run to undo is chosen again once the lock is held.
manifest w1.yaml <<'Y'
version: 1
roles: {a: {}}
Y
manifest w2.yaml <<'Y'
version: 1
roles: {a: {}, b: {}}
Y
manifest w3.yaml <<'Y'
version: 1
roles: {a: {}, b: {}, c: {}}
Y
for m in w1 w2 w3; do cv apply -m $m.yaml --db sqlite:walk.db --auto-approve -q; done
rm -f locked
python3 -c '
import sqlite3, sys, time
c = sqlite3.connect("walk.db", isolation_level=None)
c.execute("BEGIN IMMEDIATE")
open("locked", "w").close()
time.sleep(2)
c.execute("ROLLBACK")' &
HOLDER=$!
i=0
while [ ! -f locked ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
"$CONVERGE" rollback --db sqlite:walk.db --auto-approve -q --lock-timeout 20 >w1.out 2>&1 &
R1=$!
"$CONVERGE" rollback --db sqlite:walk.db --auto-approve -q --lock-timeout 20 >w2.out 2>&1 &
R2=$!
wait $R1; rc1=$?
wait $R2; rc2=$?
wait $HOLDER
expect_eq "two rollbacks waiting for the lock both succeed" "$rc1$rc2" 00
expect_eq "and undo the two newest runs" "$(q walk.db "SELECT group_concat(name) FROM (SELECT name FROM rbac_roles ORDER BY name)")" a

# ------------------------- an inverse the journal holds incomplete

# A saved plan cut short at a line boundary is still valid YAML: here it
# lost its last inverse statement (the role's own row).  Applying it
# works; undoing it must not report success and leave the role behind.
manifest cut.yaml <<'Y'
version: 1
roles:
  viewer: {permissions: [a:b]}
  admin: {inherits: [viewer], permissions: [c:d]}
Y
cv plan -m cut.yaml --db sqlite:cut.db -o cut.plan -q
head -n "$(($(wc -l <cut.plan) - 2))" cut.plan >cut-short.plan
cv apply cut-short.plan --db sqlite:cut.db --auto-approve -q
expect_rc "a plan that lost its last inverse statement applies" 0
cv rollback --db sqlite:cut.db --auto-approve -q
expect_rc "its rollback fails: exit 1" 1
expect_in "and says which object it did not put back" err.txt \
	"roles viewer: the run found absent, the database now has"
expect_in "and what to do instead" err.txt "restore the snapshot that run took instead"
expect_eq "nothing of the rollback stays" \
	"$(q cut.db "SELECT group_concat(name) FROM (SELECT name FROM rbac_roles ORDER BY name)")" admin,viewer
expect_eq "and it is recorded as failed" \
	"$(q cut.db "SELECT kind || ' ' || status FROM converge_runs ORDER BY id DESC LIMIT 1")" "rollback failed"
cv apply cut.plan --db sqlite:cut2.db --auto-approve -q
cv rollback --db sqlite:cut2.db --auto-approve -q
expect_rc "the whole plan rolls back" 0
expect_eq "and leaves no role" "$(q cut2.db "SELECT count(*) FROM rbac_roles")" 0

# ------------------- a rollback cut short past a revision outside a transaction

# A rollback commits in segments too when a revision it takes down runs
# outside a transaction: here the segment before that revision (the role
# removed, t3 down) is committed, then the revision's down fails (the
# application's trigger trips).  Once the cause is gone, running
# `rollback` again resumes from the state that is there (SPEC §5): the
# steps already undone are not "changed since the run".
mkdir -p resmig
manifest resmig/1.yaml <<'Y'
id: t1
up: CREATE TABLE t1 (x);
down: DROP TABLE t1;
Y
manifest resmig/2.yaml <<'Y'
id: t2
parent: t1
transaction: false
up: CREATE TABLE tripwire (x);
down: |
  INSERT INTO tripwire VALUES (1);
  DROP TABLE tripwire;
Y
manifest resmig/3.yaml <<'Y'
id: t3
parent: t2
up: CREATE TABLE t3 (x);
down: DROP TABLE t3;
Y
manifest res.yaml <<'Y'
version: 1
schema: {migrations: resmig, version: t3}
roles: {viewer: {permissions: [a:b]}}
Y
cv apply -m res.yaml --db sqlite:res.db --auto-approve -q
RES=$(q res.db "SELECT id FROM converge_runs")
sqlite3 res.db "CREATE TRIGGER trip BEFORE INSERT ON tripwire BEGIN SELECT RAISE(ABORT, 'tripped'); END;"
cv rollback --db sqlite:res.db --auto-approve -q
expect_rc "a rollback whose revision outside a transaction fails: exit 1" 1
expect_in "it says the steps before it stay applied" err.txt \
	"and so do the 2 steps before it"
expect_in "and what to do, in a rollback's words" err.txt \
	"repair the database by hand, or restore the snapshot, before rolling back again"
expect_eq "what it committed stays: t3 down, the role gone" \
	"$(q res.db "SELECT version FROM converge_schema_version") $(q res.db "SELECT count(*) FROM rbac_roles") $(q res.db "SELECT count(*) FROM sqlite_master WHERE name = 't3'")" \
	"t2 0 0"
sqlite3 res.db "DROP TRIGGER trip"
cv rollback --db sqlite:res.db --auto-approve -q
expect_rc "rollback again, once the cause is gone, resumes: exit 0" 0
expect_eq "it undid the run it had begun to undo" \
	"$(q res.db "SELECT undone_by IS NOT NULL FROM converge_runs WHERE id = '$RES'")" 1
expect_eq "the schema is back at base, its tables gone" \
	"$(q res.db "SELECT count(*) FROM converge_schema_version") $(q res.db "SELECT count(*) FROM sqlite_master WHERE name IN ('t1', 'tripwire', 't3')")" \
	"0 0"
expect_eq "the second rollback ran only what the first left" \
	"$(q res.db "SELECT group_concat(object, ',') FROM (SELECT s.object FROM converge_steps s JOIN converge_runs r ON r.id = s.run_id WHERE r.status = 'applied' AND r.kind = 'rollback' ORDER BY s.seq)")" \
	"t2,t1"
cv rollback --db sqlite:res.db --auto-approve -q
expect_rc "and nothing is left to roll back" 1
expect_in "saying so" err.txt "nothing to roll back"

# Killed right after the revision ran, before the rollback could journal
# it: the version table says t2 is down, the journal does not.  The
# version table is the authority (SPEC §3): running rollback again takes
# down what is left.  (Done here by hand, as the killed run would have.)
rm -f res.db
cv apply -m res.yaml --db sqlite:res.db --auto-approve -q
sqlite3 res.db "CREATE TRIGGER trip BEFORE INSERT ON tripwire BEGIN SELECT RAISE(ABORT, 'tripped'); END;"
cv rollback --db sqlite:res.db --auto-approve -q
sqlite3 res.db "DROP TRIGGER trip; DROP TABLE tripwire; UPDATE converge_schema_version SET version = 't1'"
cv rollback --db sqlite:res.db --auto-approve -q
expect_rc "a rollback killed after its revision ran resumes: exit 0" 0
expect_eq "the schema is back at base" \
	"$(q res.db "SELECT count(*) FROM converge_schema_version") $(q res.db "SELECT count(*) FROM sqlite_master WHERE name IN ('t1', 'tripwire', 't3')")" \
	"0 0"
expect_eq "taking down only what was left" \
	"$(q res.db "SELECT group_concat(s.object, ',') FROM converge_steps s JOIN converge_runs r ON r.id = s.run_id WHERE r.status = 'applied' AND r.kind = 'rollback'")" \
	"t1"

# ---------------------------------------- a restore and its record together

# The restore and the journal's record of it land together or not at all:
# a process killed in between must not leave the database restored with
# no record.  Here the record cannot be written (a trigger in the
# snapshot refuses it): the restore is not done either.
rm -rf rec.db .converge/snapshots/rec-*
cv apply -m a.yaml --db sqlite:rec.db --auto-approve -q
cv apply -m b.yaml --db sqlite:rec.db --auto-approve -q
REC=$(q rec.db "SELECT snapshot FROM converge_runs ORDER BY id DESC LIMIT 1")
sqlite3 "$REC" "CREATE TRIGGER no_record BEFORE INSERT ON converge_runs WHEN NEW.kind = 'restore' BEGIN SELECT RAISE(ABORT, 'no record of restores'); END;"
cp rec.db rec-before.db
cv restore --db sqlite:rec.db "$REC" --auto-approve -q
expect_rc "a restore that cannot be recorded: exit 1" 1
expect_in "it says why" err.txt "no record of restores"
expect_in "and that the database is as it was" err.txt "the database is as it was"
expect_eq "the database was not restored" "$(grants rec.db)" "$(grants rec-before.db)"
expect_eq "and has no restore run" "$(q rec.db "SELECT count(*) FROM converge_runs WHERE kind = 'restore'")" 0
sqlite3 "$REC" "DROP TRIGGER no_record"
cv restore --db sqlite:rec.db "$REC" --auto-approve -q
expect_rc "the same restore, recordable: exit 0" 0
expect_eq "restores" "$(grants rec.db)" "alice/viewer//-"
expect_eq "and records it, in the restored journal" \
	"$(q rec.db "SELECT group_concat(kind, ',') FROM (SELECT kind FROM converge_runs ORDER BY id)")" "apply,restore"
