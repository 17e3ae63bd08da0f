# The command line (SPEC §1): help and version, usage errors (64), where
# the database comes from, output formats, --detailed-exitcode, refusing
# without a terminal, read-only planning of a missing file, quiet and
# colour.
. "$TOP/tests/integration/lib.sh"

manifest m.yaml <<'EOF'
version: 1
roles:
  viewer: {permissions: [license:read]}
grants:
  - {subject: alice, role: viewer}
EOF

# -------------------------------------------------------- help, version

for verb in validate plan apply rollback restore status history snapshots inspect; do
	cv $verb -h
	expect_rc "$verb -h exits 0" 0
	expect_eq "$verb -h prints its usage line" "$(head -n 1 out.txt | cut -d ' ' -f 1-3)" "usage: converge $verb"
	expect_eq "$verb -h prints nothing on stderr" "$ERR" ""
	cv $verb --help
	expect_eq "$verb --help is -h" "$(head -n 1 out.txt | cut -d ' ' -f 1-3)" "usage: converge $verb"
done
cv plan -h
expect_in "plan -h lists --detailed-exitcode" out.txt "--detailed-exitcode"
cv apply -h
expect_in "apply -h lists --auto-approve" out.txt "--auto-approve"
cv -h
expect_rc "converge -h exits 0" 0
expect_in "converge -h lists the verbs" out.txt "rollback   --db URL [RUN_ID]"
expect_in "converge -h lists the exit codes" out.txt "64 usage error"
cv -h plan
expect_rc "converge -h plan exits 0" 0
expect_eq "converge -h plan is plan's help" "$(head -n 1 out.txt | cut -d ' ' -f 1-3)" "usage: converge plan"
cv --version
expect_rc "--version exits 0" 0
expect_eq "--version prints the version" "$OUT" "converge 0.1.0"
cv plan --version
expect_eq "--version after a verb" "$OUT" "converge 0.1.0"

# --------------------------------------------------------- usage errors

cv
expect_rc "no verb: 64" 64
expect_in "no verb: usage on stderr" err.txt "usage: converge VERB"
cv --bogus
expect_rc "an unknown option and no verb: 64" 64
expect_in "the unknown option is named" err.txt "converge: usage error: unknown option '--bogus'"
expect_in "before the usage" err.txt "usage: converge VERB"
cv --db x.db
expect_rc "options but no verb: 64" 64
expect_in "says the verb is missing" err.txt "converge: usage error: no verb given"
cv frobnicate --db x.db
expect_rc "unknown verb: 64" 64
expect_in "unknown verb is named" err.txt "'frobnicate' is not a converge verb"
cv plan -m m.yaml --db x.db --frobnicate
expect_rc "unknown option: 64" 64
expect_in "unknown option is named" err.txt "unknown option '--frobnicate'"
cv plan -m
expect_rc "option without its value: 64" 64
expect_in "says the option needs a value" err.txt "option '-m' needs a value"
cv plan -m m.yaml --db x.db extra
expect_rc "unexpected argument: 64" 64
cv plan -m m.yaml --db x.db --format xml
expect_rc "unknown format: 64" 64
expect_in "names the formats" err.txt "unknown format 'xml' (expected text, json or markdown)"
cv plan -m m.yaml --db x.db --lock-timeout soon
expect_rc "bad --lock-timeout: 64" 64
for t in nan NaN inf -1 604801; do
	cv plan -m m.yaml --db x.db --lock-timeout $t
	expect_rc "--lock-timeout $t: 64" 64
done
cv plan -m m.yaml --db x.db --actor ""
expect_rc "an empty --actor: 64" 64
expect_in "says it needs a name" err.txt "--actor needs a name"
cv plan -m m.yaml --db x.db --actor "   "
expect_rc "a blank --actor: 64" 64
# A newline would forge a second run line in history and status, an
# escape sequence would reach the terminal (SPEC §6: no control
# characters in names).
cv plan -m m.yaml --db x.db --actor "$(printf 'mallory\n- 20261207T000000.000000Z-000000  rollback')"
expect_rc "an --actor with a newline: 64" 64
expect_in "says why" err.txt "control characters are not allowed in a name"
cv plan -m m.yaml --db x.db --now ""
expect_rc "an empty --now (an unset variable): 64" 64
expect_in "says it needs a timestamp" err.txt "--now needs a timestamp"
cv plan -m m.yaml --db x.db --now yesterday
expect_rc "bad --now: 64" 64
cv history --db x.db --limit 0
expect_rc "bad --limit: 64" 64
cv apply -m m.yaml --db x.db --format json
expect_rc "an option the verb does not take: 64" 64
expect_in "says which" err.txt "'apply' does not take --format"
cv status --db x.db --detailed-exitcode
expect_rc "--detailed-exitcode is for plan only: 64" 64
cv validate
expect_rc "validate without manifests: 64" 64
cv plan --db x.db
expect_rc "plan without manifests: 64" 64
cv restore --db x.db
expect_rc "restore without a snapshot: 64" 64
cv plan -m m.yaml
expect_rc "plan without --db: 64" 64
expect_in "says where the database comes from" err.txt "no database: pass --db URL or set CONVERGE_DATABASE_URL"
cv apply -m m.yaml --auto-approve
expect_rc "apply without --db: 64" 64
for verb in rollback status history snapshots inspect; do
	cv $verb
	expect_rc "$verb without --db: 64" 64
	expect_in "$verb says where the database comes from" err.txt "pass --db URL or set CONVERGE_DATABASE_URL"
done
cv apply -m m.yaml plan.yaml --db x.db --auto-approve
expect_rc "apply with both -m and FILE: 64" 64
expect_in "says not both" err.txt "not both"
cv apply --db x.db --auto-approve
expect_rc "apply with neither -m nor FILE: 64" 64
cv plan -m m.yaml --db x.txt
expect_rc "a database that is not a URL nor a .db/.sqlite path: 64" 64
expect_eq "none of the usage errors created a database" "$(ls -A | grep -c -e '\.db' -e converge)" 0

# ---------------------------------------------------- where the database is

cv plan -m m.yaml --db missing.db
expect_rc "plan against a missing SQLite file exits 0" 0
expect_in "it is planned as empty" out.txt "Plan: 2 to add, 0 to change, 0 to remove."
expect_eq "and not created" "$(ls -A | grep -c missing)" 0
expect_eq "no snapshot directory either" "$(ls -A | grep -c converge)" 0

cv apply -m m.yaml --db new.db
expect_rc "apply without a terminal and without --auto-approve: exit 1" 1
expect_in "the refusal says why" err.txt "refusing to apply without confirmation: standard input is not a terminal; pass --auto-approve"
expect_eq "the refused apply created no database file" "$(ls -A | grep -c new.db)" 0
expect_eq "nor a snapshot directory" "$(ls -A | grep -c converge)" 0

CONVERGE_DATABASE_URL=sqlite:env.db cv apply -m m.yaml --auto-approve -q
expect_rc "CONVERGE_DATABASE_URL instead of --db" 0
expect_eq "it applied to that database" "$(q env.db "SELECT subject FROM rbac_grants")" alice
CONVERGE_DATABASE_URL=sqlite:env.db cv plan -m m.yaml --db other.db
expect_in "--db wins over CONVERGE_DATABASE_URL" out.txt "converge plan for other.db"

cv apply -m m.yaml --db "sqlite://$PWD/abs.db" --auto-approve -q
expect_rc "sqlite:///ABS/PATH" 0
expect_eq "the absolute path was used" "$(q "$PWD/abs.db" "SELECT subject FROM rbac_grants")" alice
expect_eq "its snapshot is beside it" "$(ls .converge/snapshots | grep -c '^abs-')" 1
cv apply -m m.yaml --db plain.sqlite --auto-approve -q
expect_rc "a plain path ending in .sqlite" 0
expect_eq "plain.sqlite was created" "$(q plain.sqlite "SELECT subject FROM rbac_grants")" alice
expect_eq "its snapshot drops the extension" "$(ls .converge/snapshots | grep -c '^plain-.*\.db$')" 1
cv apply -m m.yaml --db plain.db --auto-approve -q
expect_rc "a plain path ending in .db" 0
expect_eq "plain.db was created" "$(q plain.db "SELECT subject FROM rbac_grants")" alice
mkdir sub
cv apply -m m.yaml --db sqlite:sub/data --auto-approve -q
expect_rc "sqlite:PATH without an extension" 0
expect_eq "sub/data was created" "$(q sub/data "SELECT subject FROM rbac_grants")" alice
expect_eq "snapshots beside the file: sub/.converge/snapshots" "$(ls sub/.converge/snapshots | grep -c '^data-')" 1
cv --db=plain.db plan -m m.yaml
expect_rc "--db=URL, before the verb" 0
expect_in "no changes there" out.txt "No changes"
# An option's value that looks like an option is the value, not the
# option: "-m" here is the actor, and "apply" still the verb.
cv --actor -m apply -m m.yaml --db plain.db --auto-approve -q
expect_rc "--actor -m before the verb: the verb is still found" 0

# libpq is loaded only for PostgreSQL: SQLite works without it, and a
# PostgreSQL URL without it says what is missing.
CONVERGE_LIBPQ=/nonexistent/libpq.so.5 cv plan -m m.yaml --db sqlite:nolibpq.db --detailed-exitcode
expect_rc "SQLite needs no libpq" 2
CONVERGE_LIBPQ=/nonexistent/libpq.so.5 cv plan -m m.yaml --db 'a=b.db' --detailed-exitcode
expect_rc "a key=value-looking file name needs no libpq" 2
expect_in "it is planned as a SQLite file" out.txt "converge plan for a=b.db"
CONVERGE_LIBPQ=/nonexistent/libpq.so.5 cv plan -m m.yaml --db postgres://u:s3cret@127.0.0.1:1/x
expect_rc "PostgreSQL without libpq: 1" 1
expect_in "says libpq is missing" err.txt "PostgreSQL needs libpq, which cannot be loaded"
expect_in "says how to install it" err.txt "apt-get install libpq5"
expect_not_in "no password in that error" err.txt "s3cret"
CONVERGE_LIBPQ=/nonexistent/libpq.so.5 cv plan -m m.yaml --db 'host=/tmp dbname=x'
expect_rc "key=value without libpq: 1" 1
cv plan -m m.yaml --db postgres://u:s3cret@127.0.0.1:1/x
expect_rc "with libpq, an unreachable server is exit 1" 1
expect_not_in "libpq was found" err.txt "PostgreSQL needs libpq"

# URL schemes are case-insensitive; SQLite's own file: URIs are refused
# (SQLite would open u9.db while snapshots were named "file:u9-…").
cv apply -m m.yaml --db SQLITE:u10.db --auto-approve -q
expect_rc "SQLITE:PATH applies" 0
expect_eq "it is the file u10.db, not 'SQLITE:u10.db'" "$(ls | grep u10)" "u10.db"
cv plan -m m.yaml --db file:u9.db
expect_rc "file: URI: usage error" 64
expect_in "says so, and what to use" err.txt "database URL 'file:u9.db': SQLite 'file:' URIs are not supported; use sqlite:PATH or a plain path"
cv apply -m m.yaml --db sqlite:file:u9.db --auto-approve
expect_rc "sqlite:file: too" 64
expect_eq "nothing created" "$(ls | grep -c u9)" 0
# SQLite's in-memory database ends with the process (an apply to it would
# succeed and be gone); a device or FIFO is no database file.
cv apply -m m.yaml --db "sqlite::memory:" --auto-approve
expect_rc "sqlite::memory:: usage error" 64
expect_in "says why" err.txt "an in-memory SQLite database ends with converge"
cv apply -m m.yaml --db sqlite:/dev/null --auto-approve
expect_rc "a device: exit 1" 1
expect_in "says it is no regular file" err.txt "database '/dev/null' is not a regular file"
expect_eq "and leaves nothing beside it" "$(ls -d /dev/.converge 2>/dev/null)" ""

# ------------------------------------------------------------- formats

cv plan -m m.yaml --db fmt.db --format json
expect_rc "json plan exits 0" 0
expect_eq "json plan parses, with its steps" \
	"$(python3 -c 'import json; p = json.load(open("out.txt")); print(p["format"], p["database"], len(p["steps"]), p["steps"][1]["object"], p["summary"]["add"])')" \
	"converge-plan/1 fmt.db 2 viewer to alice 2"
cv plan -m m.yaml --db fmt.db --format markdown
expect_in "markdown plan has a heading" out.txt '### converge plan for `fmt.db`'
expect_in "markdown plan has a diff block" out.txt '```diff'
expect_in "markdown plan has the steps" out.txt "+ grant viewer to alice"
cv plan -m m.yaml --db fmt.db
expect_eq "text plan header" "$(head -n 1 out.txt)" "converge plan for fmt.db"

cv apply -m m.yaml --db fmt.db --auto-approve -q --actor cli-test
cv status --db fmt.db --format json
expect_rc "json status exits 0" 0
expect_eq "json status parses" \
	"$(python3 -c 'import json; s = json.load(open("out.txt")); print(s["database"], s["lock"], len(s["runs"]), s["runs"][0]["kind"], s["runs"][0]["actor"], s["runs"][0]["steps"])')" \
	"fmt.db free 1 apply cli-test 2"
cv status --db fmt.db --format markdown
expect_in "markdown status has a heading" out.txt '### converge status for `fmt.db`'
cv status --db fmt.db
expect_in "text status" out.txt "lock:     free"
expect_eq "text status: each run says when it started" \
	"$(grep -cE '^  [0-9a-fTZ.-]+  apply +applied +2 steps  by cli-test  at [0-9]{4}-[0-9]{2}-[0-9]{2}T' out.txt)" 1
cv status --db fmt.db --format markdown
expect_eq "markdown status: each run says when it started" \
	"$(grep -cE '^- [0-9a-fTZ.-]+  apply .* by cli-test  at [0-9]{4}-[0-9]{2}-[0-9]{2}T' out.txt)" 1
cv history --db fmt.db --format json
expect_rc "json history exits 0" 0
expect_eq "json history parses" \
	"$(python3 -c 'import json; h = json.load(open("out.txt")); print(len(h), h[0]["kind"], h[0]["status"], h[0]["steps"], h[0]["snapshot"] is not None)')" \
	"1 apply applied 2 True"
cv history --db fmt.db --format markdown
expect_in "markdown history has a heading" out.txt '### converge history for `fmt.db`'
mkdir -p 'tick`dir'
cv apply -m m.yaml --db 'tick`dir/w.db' --auto-approve -q
cv history --db 'tick`dir/w.db' --format markdown
expect_in "a backtick in the path does not break the heading" out.txt '### converge history for ``tick`dir/w.db``'
cv status --db 'tick`dir/w.db' --format markdown
expect_in "nor status's" out.txt '### converge status for ``tick`dir/w.db``'
cv history --db fmt.db
expect_in "text history" out.txt "apply    applied   2 steps  by cli-test"
RUN=$(q fmt.db "SELECT id FROM converge_runs")
cv history --db fmt.db "$RUN" -v
expect_in "history RUN_ID -v: forward SQL" out.txt '    forward:
      sql: INSERT INTO "rbac_grants"'
expect_in "history RUN_ID -v: inverse SQL" out.txt '    inverse:
      sql: DELETE FROM "rbac_grants"'
cv history --db fmt.db "$RUN"
expect_not_in "without -v, no SQL" out.txt "inverse:"
cv history --db fmt.db "$RUN" -v --format markdown
expect_in "markdown: the steps in a fenced block" out.txt '```diff'
expect_in "markdown -v: inverse SQL too" out.txt "    inverse:"
cv history --db fmt.db "$RUN" --format json
expect_eq "json steps have their status and both SQL texts" \
	"$(python3 -c 'import json; h = json.load(open("out.txt")); print([(s["status"], s["forward_sql"][:6], s["inverse_sql"][:6]) for s in h["steps_applied"]])')" \
	"[('applied', 'INSERT', 'DELETE'), ('applied', 'INSERT', 'DELETE')]"
# What was asked for that could not be written (a full disk) is a
# failure, not exit 0 behind half a JSON document.
"$CONVERGE" history --db fmt.db "$RUN" --format json >/dev/full 2>err.txt </dev/null
RC=$?
expect_rc "history RUN_ID --format json onto a full disk: exit 1" 1
expect_in "says it could not write" err.txt "converge: error: cannot write to standard output"
"$CONVERGE" plan -m m.yaml --db full.db --format json --detailed-exitcode >/dev/full 2>err.txt </dev/null
RC=$?
expect_rc "plan --detailed-exitcode with changes onto a full disk: 1, not 2" 1
expect_in "and says so" err.txt "converge: error: cannot write to standard output"
"$CONVERGE" --version >/dev/full 2>err.txt
RC=$?
expect_rc "even --version" 1
mkdir -p broken
printf 'id: r1\nup: "CREATE TABLE"\ndown: "SELECT 1"\n' >broken/r1.yaml
printf 'version: 1\nschema: {migrations: broken, version: r1}\n' >broken.yaml
cv apply -m broken.yaml --db failed.db --auto-approve -q
cv history --db failed.db --format markdown
expect_eq "markdown: a failed run's error is a nested list item" "$(grep -c '^  - error:$' out.txt)" 1
expect_eq "its text fenced under it" "$(grep -c '^      ```$' out.txt)" 2
expect_not_in "not a broken list item" out.txt "-     error"

# -o - writes the YAML plan to standard output; -o never overwrites an
# input manifest.
cv plan -m m.yaml --db o.db -o -
expect_rc "plan -o - exits 0" 0
expect_eq "stdout is the YAML plan, not the text plan" "$(head -n 1 out.txt)" "format: converge-plan/1"
cp out.txt o.plan.yaml
# apply - reads it back from standard input (then it needs --auto-approve:
# standard input is no terminal to confirm on).
"$CONVERGE" apply - --db o.db <o.plan.yaml >out.txt 2>err.txt
RC=$?
expect_rc "apply - without --auto-approve: refused" 1
expect_in "standard input is no terminal" err.txt "standard input is not a terminal; pass --auto-approve"
printf 'format: converge-plan/9\n' | "$CONVERGE" apply - --db o.db --auto-approve >out.txt 2>err.txt
RC=$?
expect_rc "a bad plan on standard input: exit 1" 1
expect_in "its place says <stdin>" err.txt "<stdin>:1:9: error: unsupported plan format 'converge-plan/9'"
"$CONVERGE" apply - --db o.db --auto-approve -q <o.plan.yaml >out.txt 2>err.txt
RC=$?
expect_rc "apply - applies the plan piped in" 0
cv plan -m m.yaml --db o.db --detailed-exitcode
expect_rc "and leaves nothing to do" 0
cv apply o.plan.yaml --db o.db --auto-approve -q
expect_rc "the same plan again from its file: stale, exit 3" 3
cp m.yaml m.orig
cv plan -m m.yaml --db o.db -o m.yaml
expect_rc "plan -o over its own manifest: 64" 64
expect_in "says why" err.txt "-o 'm.yaml' would overwrite or join the manifests given with -m 'm.yaml'"
expect_same "the manifest is untouched" m.yaml m.orig
mkdir -p mdir && cp m.yaml mdir/
cv plan -m mdir --db o.db -o mdir/plan.yaml
expect_rc "plan -o into a manifest directory: 64" 64
expect_eq "nothing written there" "$(ls mdir)" "m.yaml"
# Nor over the database: plan is read-only, and a plan written there
# would destroy it.
cp o.db o.orig
for out in o.db ./o.db "$PWD/o.db"; do
	cv plan -m m.yaml --db o.db -o "$out"
	expect_rc "plan -o $out over the database it plans: 64" 64
	expect_in "says why ($out)" err.txt "-o '$out' is the database being planned"
done
expect_same "the database is untouched" o.db o.orig
cv plan -m m.yaml --db sqlite:absent.db -o ./absent.db
expect_rc "nor a database that does not exist yet: 64" 64
expect_eq "which is not created" "$(ls absent.db 2>/dev/null)" ""

# A manifest where a saved plan is expected: say so.
cv apply m.yaml --db o.db --auto-approve
expect_rc "apply MANIFEST: exit 1" 1
expect_in "hints at -m" err.txt "m.yaml:1:1: error: missing field 'format': this is not a saved plan (is it a manifest? use -m m.yaml)"
printf 'created_at: x\n' >notaplan.yaml
cv apply notaplan.yaml --db o.db --auto-approve
expect_in "no hint for what is not a manifest" err.txt "notaplan.yaml:1:1: error: missing field 'format'"
expect_not_in "no hint there" err.txt "is it a manifest"
printf 'guards: {min_grants: {admin: 1}}\nsteps: []\n' >guardsplan.yaml
cv apply guardsplan.yaml --db o.db --auto-approve
expect_in "a plan that lost its format" err.txt "guardsplan.yaml:1:1: error: missing field 'format'"
expect_not_in "has guards as a plan has: no hint" err.txt "is it a manifest"

# ---------------------------------------------------- --detailed-exitcode

cv plan -m m.yaml --db fmt.db --detailed-exitcode
expect_rc "--detailed-exitcode, no changes: 0" 0
cv plan -m m.yaml --db fresh.db --detailed-exitcode
expect_rc "--detailed-exitcode, changes: 2" 2
manifest bad.yaml <<'EOF'
version: 1
roles:
  viewer: {permisions: [license:read]}
EOF
cv plan -m bad.yaml --db fresh.db --detailed-exitcode
expect_rc "--detailed-exitcode, error: 1" 1
expect_in "the manifest error is placed and suggests the key" err.txt "bad.yaml:3:12: error: unknown key 'permisions' in a role (did you mean 'permissions'?)"
cv plan -m m.yaml --db fresh.db
expect_rc "without --detailed-exitcode changes are 0" 0

# ---------------------------------------------------------------- quiet

cv plan -m m.yaml --db fresh.db -q
expect_rc "plan -q exits 0" 0
expect_eq "plan -q prints nothing" "$OUT$ERR" ""
cv apply -m m.yaml --db quiet.db --auto-approve -q
expect_rc "apply -q exits 0" 0
expect_eq "apply -q prints nothing" "$OUT$ERR" ""
expect_eq "but applies" "$(q quiet.db "SELECT count(*) FROM rbac_grants")" 1
cv plan -m bad.yaml --db fresh.db -q
expect_in "-q still prints errors" err.txt "unknown key 'permisions'"

# --------------------------------------------------------------- colour

# On a terminal the plan is coloured unless --no-color or NO_COLOR.
if command -v script >/dev/null 2>&1; then
	esc=$(printf '\033')
	tty_run() { script -qec "$*" /dev/null </dev/null >tty.txt 2>&1; }
	(unset NO_COLOR; tty_run "$CONVERGE" plan -m m.yaml --db fresh.db)
	expect_eq "on a terminal the plan has colour (both step lines)" "$(grep -c "$esc\[" tty.txt)" 2
	(unset NO_COLOR; tty_run "$CONVERGE" plan -m m.yaml --db fresh.db --no-color)
	expect_eq "--no-color: no escape codes" "$(grep -c "$esc" tty.txt)" 0
	expect_in "--no-color: the plan is there" tty.txt "+ grant viewer to alice"
	(NO_COLOR=1; export NO_COLOR; tty_run "$CONVERGE" plan -m m.yaml --db fresh.db)
	expect_eq "NO_COLOR: no escape codes" "$(grep -c "$esc" tty.txt)" 0

	# On a terminal apply asks, and only 'yes' applies.
	printf 'no\n' | script -qec "\"$CONVERGE\" apply -m m.yaml --db tty.db" /dev/null >tty.txt 2>&1
	expect_in "on a terminal apply asks" tty.txt "Do you want to apply these changes?"
	expect_in "anything but yes cancels" tty.txt "apply cancelled; nothing was changed"
	expect_eq "cancelled: no database file" "$(ls -A | grep -c tty.db)" 0
	(sleep 1; printf 'yes\n') | script -qec "\"$CONVERGE\" apply -m m.yaml --db tty.db" /dev/null >tty.txt 2>&1
	expect_in "yes applies" tty.txt "Apply complete: 2 steps"
	expect_not_in "a database nobody touched is not planned again" tty.txt "plan was made again"
	expect_eq "applied" "$(q tty.db "SELECT count(*) FROM rbac_grants")" 1

	# Changed while the prompt waited: the plan is made again under the
	# lock, shown, and asked for again.
	manifest m2.yaml <<'EOF'
version: 1
roles:
  viewer: {permissions: [license:read]}
grants:
  - {subject: alice, role: viewer}
  - {subject: bob, role: viewer}
EOF
	(sleep 1; q tty.db "INSERT INTO rbac_grants (subject, role, scope) VALUES ('mallory', 'viewer', '')"
	 printf 'yes\n'; sleep 1; printf 'yes\n') |
		script -qec "\"$CONVERGE\" apply -m m2.yaml --db tty.db" /dev/null >tty.txt 2>&1
	expect_in "a change during the review is noticed" tty.txt \
		"The database changed while converge waited for the lock; the plan was made again:"
	expect_in "the new plan revokes what appeared" tty.txt "- grant viewer to mallory"
	expect_in "and is asked for again" tty.txt "Apply the new plan?"
	expect_eq "the new plan was applied" \
		"$(q tty.db "SELECT group_concat(subject, ' ') FROM (SELECT subject FROM rbac_grants ORDER BY subject)")" \
		"alice bob"

	# Before a restore, the question says what the snapshot and the
	# database hold, so that the wrong one shows before 'yes'.
	FIRST=$(q tty.db "SELECT min(id) FROM converge_runs")
	LAST=$(q tty.db "SELECT max(id) FROM converge_runs")
	SNAP=$(ls .converge/snapshots/tty-"$LAST".db)
	printf 'no\n' | script -qec "\"$CONVERGE\" restore --db tty.db $SNAP" /dev/null >tty.txt 2>&1
	expect_in "restore on a terminal says what the snapshot holds" tty.txt \
		"The snapshot $SNAP holds:"
	expect_in "its newest run" tty.txt "  last run: $FIRST  apply applied, 2 steps, by "
	expect_in "and what the database holds now" tty.txt "tty.db holds now:"
	expect_in "its newest run" tty.txt "  last run: $LAST  apply applied, 2 steps, by "
	expect_in "then asks" tty.txt "Replace the whole content of"
	q tty.db "UPDATE converge_runs SET actor = 'ev' || char(27) || '[31m' WHERE id = '$LAST'"
	printf 'no\n' | script -qec "\"$CONVERGE\" restore --db tty.db $SNAP" /dev/null >tty.txt 2>&1
	expect_in "what the database holds is shown escaped" tty.txt "by ev\x1b[31m at"
fi
# A database that does not exist is planned read-only first (a refused or
# empty plan creates nothing); made under the lock, it is still empty, so
# that plan stands and is not made a second time.
mkdir -p once && CONVERGE_TRACE_PERFORMANCE=1 cv apply -m m.yaml --db once/planonce.db --auto-approve -q
expect_rc "apply onto a new database" 0
expect_eq "plans once" "$(grep -c 'performance: plan: diff' err.txt)" 1
cv plan -m m.yaml --db fresh.db
expect_eq "not a terminal: no escape codes" "$(grep -c "$(printf '\033')" out.txt)" 0

# ------------------------------------------------------ actor, history

CONVERGE_ACTOR= GITHUB_ACTOR=gh-user USER=someone cv apply -m m.yaml --db actor.db --auto-approve -q
expect_eq "the CI user is the actor before \$USER" "$(q actor.db "SELECT actor FROM converge_runs")" gh-user
RUN=$(q actor.db "SELECT id FROM converge_runs")
CONVERGE_ACTOR=ops GITHUB_ACTOR=gh-user cv rollback --db actor.db --auto-approve -q
expect_eq "CONVERGE_ACTOR before the CI user" "$(q actor.db "SELECT actor FROM converge_runs WHERE kind = 'rollback'")" ops
CONVERGE_ACTOR=ops cv apply -m m.yaml --db actor.db --auto-approve -q --actor "Zoë O'Brien"
expect_eq "--actor wins, stored verbatim" "$(q actor.db "SELECT actor FROM converge_runs WHERE id = (SELECT max(id) FROM converge_runs)")" "Zoë O'Brien"
cv history --db actor.db "$RUN"
expect_rc "history RUN_ID exits 0" 0
expect_in "history RUN_ID shows the run" out.txt "$RUN  apply    applied   2 steps  by gh-user"
expect_in "and its steps" out.txt "+ grant viewer to alice"
cv history --db actor.db "$RUN" --format json
expect_eq "history RUN_ID as JSON" \
	"$(python3 -c 'import json; r = json.load(open("out.txt")); print(r["id"] == "'"$RUN"'", r["undone_by"] is not None, [s["object"] for s in r["steps_applied"]])')" \
	"True True ['viewer', 'viewer to alice']"
cv history --db actor.db 20990101T000000.000000Z-000000
expect_rc "history of an unknown run: exit 1" 1
cv history --db actor.db --limit 1
expect_eq "--limit 1 shows one run" "$(grep -c '^2' out.txt)" 1
expect_in "the list shows the run's steps under it" out.txt "    + grant viewer to alice"
# SPEC: "applied runs and their steps": the first ten of each, then how
# to see the rest.
python3 -c '
print("version: 1\nroles: {viewer: {}}\ngrants:")
for i in range(12):
    print("  - {subject: u%02d, role: viewer}" % i)' > many.yaml
cv apply -m many.yaml --db many.db --auto-approve -q
MANY=$(q many.db "SELECT id FROM converge_runs")
cv history --db many.db
expect_in "a long run shows its first steps" out.txt "    + grant viewer to u08"
expect_not_in "and not the others" out.txt "u09"
expect_in "then how many more, and how to see them" out.txt \
	"    … and 3 more: converge history $MANY"
cv history --db many.db "$MANY"
expect_in "history RUN_ID shows them all" out.txt "+ grant viewer to u11"
# An actor stored with control characters (by another tool, or taken
# from the environment) is shown escaped, on its own line.
CONVERGE_ACTOR="$(printf 'esc\033[31m')" USER=fallback cv apply -m m.yaml --db actor2.db --auto-approve -q
expect_eq "an environment actor with control characters is passed over" "$(q actor2.db "SELECT actor FROM converge_runs")" fallback
q actor.db "UPDATE converge_runs SET actor = 'ev' || char(10) || 'il' || char(27) || '[31m'"
cv history --db actor.db
expect_in "history escapes control characters" out.txt "by ev\x0ail\x1b[31m  at"
expect_eq "and forges no line" "$(grep -c 'il' out.txt)" "$(grep -c '^2' out.txt)"
cv status --db actor.db --format markdown
expect_in "status too" out.txt "by ev\x0ail\x1b\[31m  at"

manifest none.yaml <<'EOF2'
version: 1
roles:
  viewer: {permissions: [license:read]}
grants: []
EOF2
cv status --db actor.db -m none.yaml
expect_rc "status with drift still exits 0" 0
expect_in "status -m reports drift" out.txt "drift:    0 to add, 0 to change, 1 to remove, 0 revisions up, 0 down"
cv status --db actor.db
expect_not_in "status without -m reports no drift" out.txt "drift:"

# The commands converge suggests survive a paste into a shell: a path
# with a space, or a URL with '&', is quoted.
manifest q.yaml <<'Y'
version: 1
roles: {viewer: {}}
Y
cv plan -m q.yaml --db "sqlite:my db.db" -o "my plan.yaml"
expect_in "plan -o suggests a quoted apply" err.txt \
	"apply it with: converge apply 'my plan.yaml' --db 'sqlite:my db.db'"
cv apply "my plan.yaml" --db "sqlite:my db.db" --auto-approve
expect_in "apply suggests a quoted rollback" out.txt "Undo it with: converge rollback --db 'sqlite:my db.db' "
undo=$(sed -n 's/^Undo it with: //p' out.txt)
eval "set -- $undo"
shift  # "converge"
"$CONVERGE" "$@" --auto-approve -q >/dev/null 2>&1
expect_eq "which runs as printed" "$?" 0
expect_eq "and undoes the run" "$(q "my db.db" "SELECT count(*) FROM rbac_roles")" 0
# A saved plan applied to another database (made on staging, applied to
# production, or from another directory): the header and the undo
# command name the database changed, not the one in the file.
cv plan -m q.yaml --db sqlite:staging.db -o staging.plan -q
mkdir -p elsewhere
(cd elsewhere && "$CONVERGE" apply ../staging.plan --db ../prod.db --auto-approve >../out.txt 2>../err.txt)
expect_in "the header names the database changed" out.txt "converge plan for ../prod.db"
expect_in "and so does the undo command" out.txt "Undo it with: converge rollback --db ../prod.db "
expect_not_in "not the plan's" out.txt "staging.db"
# The same plan, now stale there: the refusal says where it was made, as
# a --db pointing at the wrong database is the likeliest cause.
cv apply staging.plan --db sqlite:prod.db --auto-approve
expect_rc "applied again elsewhere: stale, exit 3" 3
expect_in "the refusal names both databases" err.txt \
	"the plan was made against sqlite:staging.db, not sqlite:prod.db"
cv apply -m q.yaml --db sqlite:staging.db --auto-approve -q
cv apply staging.plan --db sqlite:staging.db --auto-approve
expect_not_in "where it was made, only the staleness" err.txt "made against"

# A plan that cannot be made still answers on stdout in the format asked
# for (a pull-request comment is stdout alone; a program parses JSON).
mkdir -p fail/mig
printf 'id: "1"\nup: "CREATE TABLE t(x int);"\ndown: "DROP TABLE t;"\n' > fail/mig/1.yaml
printf 'version: 1\nschema: {migrations: mig, version: head}\n' > fail/a.yaml
cv apply -m fail --db sqlite:fail.db --auto-approve -q
sed -i 's/x int/x text/' fail/mig/1.yaml
cv plan -m fail --db sqlite:fail.db --format markdown
expect_rc "drift: exit 1" 1
expect_in "markdown says the plan could not be made, and why" out.txt "**converge could not make a plan** (exit 1): drift: revision changed after it was applied"
cv plan -m fail --db sqlite:fail.db --format json
expect_eq "JSON too, parseable" "$(python3 -c 'import json; j = json.load(open("out.txt")); print(j["exit_code"], j["error"][:6])')" "1 drift:"
printf 'version: 1\nroles: {a: {permisions: []}}\n' > fail-m.yaml
cv plan -m fail-m.yaml --db sqlite:fail.db --format json
expect_eq "invalid manifests: JSON that says so" "$(python3 -c 'import json; j = json.load(open("out.txt")); print(j["exit_code"], j["error"][:25])')" "1 the manifests have errors"
cv plan -m fail-m.yaml --db sqlite:fail.db
expect_eq "text output stays empty" "$(cat out.txt)" ""
cv plan -m q.yaml --db sqlite:fail.db -o - --format json
expect_rc "-o - with --format json: usage error" 64

# -q quiets the review, not the output a pipeline asked for.
cv plan -m q.yaml --db sqlite:new-q.db --format json -q
expect_eq "plan --format json -q still prints the plan" "$(printf '%s' "$OUT" | head -c 1)" "{"
cv plan -m q.yaml --db sqlite:new-q.db -q
expect_eq "plan -q in text prints nothing" "$OUT" ""

# history and status: JSON has every recorded field; markdown escapes what
# a user wrote; a failed run's step and SQL sit under its error.
manifest hj.yaml <<'Y'
version: 1
roles: {a: {}}
Y
cv apply -m hj.yaml --db sqlite:hj.db --auto-approve -q --actor '<!-- hidden'
sqlite3 hj.db "CREATE TRIGGER t BEFORE INSERT ON rbac_roles BEGIN SELECT RAISE(ABORT, 'refused'); END;"
printf 'version: 1\nroles: {a: {}, b: {}}\n' >hj2.yaml
cv apply -m hj2.yaml --db sqlite:hj.db --auto-approve -q
cv status --db sqlite:hj.db --format json
expect_eq "status JSON runs have every journal field" \
	"$(python3 -c 'import json,sys; print(" ".join(sorted(json.load(open("out.txt"))["runs"][0])))')" \
	"actor database error fingerprint finished_at id kind manifests_digest schema_table snapshot started_at status steps undoes undone_by"
cv history --db sqlite:hj.db --format json
expect_in "so does history's" out.txt '"manifests_digest"'
cv history --db sqlite:hj.db --format markdown
expect_in "markdown escapes an actor" out.txt 'by \<!-- hidden'
expect_in "and fences a failed run's SQL" out.txt '      sql: INSERT INTO "rbac_roles"'
cv history --db sqlite:hj.db
expect_in "text indents the step under the error" out.txt "
           in step: 1: + roles b"

# A plan a guard refuses says so in the markdown itself: a pull-request
# comment is made of stdout, where the exit code does not show.
printf 'version: 1\nroles: {admin: {}}\ngrants: []\nguards: {min_grants: {admin: 1}}\n' >guarded.yaml
cv plan -m guarded.yaml --db sqlite:guarded.db --format markdown
expect_rc "a refused plan in markdown: exit 1" 1
expect_in "and its markdown says it was refused" out.txt "**converge refused this plan** (exit 1): plan refused by guard"
# So does the JSON, which a program reads without the exit code: the plan
# is there, with `refused` saying why; a plan that passes has no such field.
cv plan -m guarded.yaml --db sqlite:guarded.db --format json
expect_rc "a refused plan in JSON: exit 1" 1
expect_eq "its JSON says it was refused, and why" \
	"$(python3 -c 'import json; print(json.load(open("out.txt")).get("refused"))')" \
	"plan refused by guard: role 'admin' would have 0 grants, fewer than the 1 that guards.min_grants requires (guarded.yaml:4:23)"
expect_eq "the plan is there all the same" \
	"$(python3 -c 'import json; print(json.load(open("out.txt"))["format"])')" "converge-plan/1"
sed -i 's/admin: 1}/admin: 0}/' guarded.yaml
cv plan -m guarded.yaml --db sqlite:guarded.db --format json
expect_rc "a plan the guard lets through: exit 0" 0
expect_eq "has no refused field" \
	"$(python3 -c 'import json; print("refused" in json.load(open("out.txt")))')" False

# Each verb's -h lists exactly the options it accepts: an option a verb
# takes (no "does not take" and no "unknown option") is in its help, and
# one it refuses is not.
helpbad=0
for verb in validate plan apply rollback restore status history snapshots inspect; do
	"$CONVERGE" $verb -h >help.txt 2>&1
	for opt in --manifests --db --out --format --detailed-exitcode \
		--auto-approve --now --snapshot-dir --no-snapshot --lock-timeout \
		--actor --allow-data-loss --quiet --verbose --no-color --prune \
		--limit --schema --orgs-from; do
		cv $verb $opt 1
		listed=0
		grep -qE -- "^  (-[a-z], )?$opt( |\$)" help.txt && listed=1
		if grep -q "does not take\|unknown option" err.txt; then
			[ $listed = 0 ] && continue
			fail "$verb -h lists $opt, which $verb refuses"
		else
			[ $listed = 1 ] && continue
			fail "$verb accepts $opt, which its -h does not list"
		fi
		helpbad=1
	done
done
if [ $helpbad = 0 ]; then
	pass "each verb's -h lists the options it accepts, and no other"
fi
