# Checks: run inside the apply transaction after every change and before
# flags switch on; a failing check rolls everything back (exit 5); plan
# runs the checks no step can affect and lists the others.
. "$TOP/tests/integration/lib.sh"

manifest m/app.yaml <<'Y'
version: 1
roles:
  viewer: {permissions: [a:read]}
grants:
  - {subject: bob, role: viewer}
checks:
  one_viewer:
    sql: "SELECT count(*) FROM rbac_grants WHERE role = 'viewer'"
    expect: 1
  schema_clean:
    sql: "SELECT name FROM sqlite_master WHERE name LIKE 'tmp_%' ORDER BY name"
    expect: []
flags:
  gated: {enabled: true, checks: [one_viewer]}
Y
cv plan -m m --db sqlite:c.db
expect_rc "plan exits 0" 0
expect_in "checks are steps of the plan" out.txt "? check one_viewer: expect 1"
expect_in "a check the plan's steps affect runs at apply" out.txt "Checks run at apply: one_viewer."
expect_eq "checks come after changes and before flags switch on" \
	"$(sed -n 's/^  \(.\) \([a-z]*\) \([^:]*\).*/\2 \3/p' out.txt | tr '\n' '|')" \
	"role viewer|grant viewer to bob|check one_viewer|check schema_clean|flag gated|"
cv apply -m m --db sqlite:c.db --auto-approve
expect_rc "apply with passing checks exits 0" 0
expect_eq "the flag is on" "$(q c.db "SELECT enabled FROM feature_flags WHERE name = 'gated'")" 1
expect_eq "check steps are journaled" "$(q c.db "SELECT count(*) FROM converge_steps WHERE kind = 'checks' AND status = 'applied'")" 2

# A change whose check fails: nothing applied, exit 5, the failure recorded.
sed -i 's/expect: 1/expect: 3/; s/- {subject: bob, role: viewer}/- {subject: bob, role: viewer}\n  - {subject: ann, role: viewer}/' m/app.yaml
cp c.db before.db
cv apply -m m --db sqlite:c.db --auto-approve
expect_rc "a failing check exits 5" 5
expect_in "the failure names the check, expected and actual" err.txt "check 'one_viewer' failed: expected 3, got 2"
# The cause first, then what it left (nothing changed, the snapshot).
expect_eq "stderr starts with the error, then says nothing changed" \
	"$(sed -n '1p;4p' err.txt)" \
	"converge: error: check 'one_viewer' failed: expected 3, got 2
converge: nothing was changed"
expect_eq "the grant was not added" "$(q c.db "SELECT group_concat(subject) FROM rbac_grants")" "bob"
expect_eq "the failed run is recorded" "$(q c.db "SELECT status || ': ' || error FROM converge_runs ORDER BY id DESC LIMIT 1")" \
	"failed: check 'one_viewer' failed: expected 3, got 2
in step: 2: ? checks one_viewer
sql: SELECT count(*) FROM rbac_grants WHERE role = 'viewer'"
expect_eq "the application's tables are as they were" "$(sqlite3 c.db .dump | grep -v converge_ | grep -vi 'INSERT INTO converge')" \
	"$(sqlite3 before.db .dump | grep -v converge_ | grep -vi 'INSERT INTO converge')"

# A check whose SQL fails (a table renamed, a permission missing) has
# failed too: exit 5, as docs/manifest.md says, nothing applied.
sed -i 's/FROM rbac_grants WHERE role/FROM rbac_grantz WHERE role/' m/app.yaml
cv apply -m m --db sqlite:c.db --auto-approve
expect_rc "a check whose SQL fails exits 5" 5
expect_in "and says it could not run" err.txt "check 'one_viewer' could not run"
expect_eq "nothing was applied" "$(q c.db "SELECT group_concat(subject) FROM rbac_grants")" "bob"
sed -i 's/FROM rbac_grantz WHERE role/FROM rbac_grants WHERE role/' m/app.yaml

# Rollback undoes the changes, not the checks.
sed -i 's/expect: 3/expect: 2/' m/app.yaml
cv apply -m m --db sqlite:c.db --auto-approve
expect_rc "with the right expectation it applies" 0
cv rollback --db sqlite:c.db --auto-approve
expect_rc "rollback of a run with checks" 0
expect_eq "rollback has no check steps" "$(grep -c 'check ' out.txt)" 0
expect_eq "ann's grant undone" "$(q c.db "SELECT group_concat(subject) FROM rbac_grants")" "bob"

# Plan runs unaffected checks against the live state (the plan switches
# the flag off: a change that no check reads).
manifest m2/app.yaml <<'Y'
version: 1
flags:
  gated: {enabled: false}
checks:
  one_viewer:
    sql: "SELECT count(*) FROM rbac_grants WHERE role = 'viewer'"
    expect: 5
  pairs:
    sql: "SELECT subject, role FROM rbac_grants ORDER BY subject"
    expect: [[bob, viewer]]
Y
cv plan -m m2 --db sqlite:c.db
expect_rc "a check that fails against the live state fails the plan" 1
expect_in "the plan says which check and why" err.txt "check 'one_viewer' failed: expected 5, got 1"
expect_not_in "the passing check is not reported" err.txt "pairs"
# With nothing to change, apply runs no check, and so plan runs none.
sed -i '/^flags:/d; /gated: {enabled: false}/d' m2/app.yaml
echo 'flags: {gated: {enabled: true, checks: [pairs]}}' >>m2/app.yaml
cv plan -m m2 --db sqlite:c.db --detailed-exitcode
expect_rc "a plan with no changes runs no check: exit 0" 0
cv apply -m m2 --db sqlite:c.db --auto-approve
expect_rc "as its apply exits 0" 0

# A database file that does not exist is planned as an empty database: a
# check no step affects runs against one, as it would against an empty file.
manifest m3/app.yaml <<'Y'
version: 1
flags:
  f1: {enabled: true, checks: [bad]}
checks:
  bad: {sql: "SELECT 1", expect: 0}
Y
cv plan -m m3 --db sqlite:new.db --detailed-exitcode
expect_rc "a failing check fails the plan of a new database" 1
expect_in "it says which check and why" err.txt \
	"check 'bad' failed: expected 0, got 1 (against the live database; apply would fail)"
expect_eq "plan created no database" "$(ls new.db* 2>/dev/null)" ""
sqlite3 empty.db "VACUUM"
cv plan -m m3 --db sqlite:empty.db --detailed-exitcode
expect_rc "as it does on an empty file" 1
sed -i 's/expect: 0}/expect: 1}/' m3/app.yaml
cv plan -m m3 --db sqlite:new.db --detailed-exitcode
expect_rc "a passing one leaves changes to apply" 2
expect_eq "still no database" "$(ls new.db* 2>/dev/null)" ""

# Truth values and numbers compare by value: `expect: true` matches SQLite's
# 1 (and PostgreSQL's t), `expect: 2` a REAL 2.0, 1.5 a 1.50.
manifest typed/a.yaml <<'Y'
version: 1
checks:
  truth: {sql: "SELECT 1 = 1", expect: true}
  real: {sql: "SELECT CAST(2 AS REAL)", expect: 2}
  row: {sql: "SELECT 1.50, 'x', NULL, 'true'", expect: [[1.5, x, null, true]]}
  wrong: {sql: "SELECT 2.5", expect: 2}
flags:
  f: {enabled: true, checks: [truth, real, row, wrong]}
Y
cv plan -m typed --db sqlite:typed.db
expect_rc "a check that does not hold fails the plan" 1
expect_in "it is the one that does not hold" err.txt "check 'wrong' failed: expected 2, got 2.5"
expect_not_in "true matches 1" err.txt "check 'truth'"
expect_not_in "2 matches 2.0" err.txt "check 'real'"
expect_not_in "a row matches cell by cell" err.txt "check 'row'"

# Numbers compare exactly: two that share their first 15 digits are not
# the same (a sum of money, a long numeric held as text).  A REAL, which
# SQLite prints with 15 digits, still matches the longer number it
# rounds to, and every way of writing one value is that value.
manifest exact/a.yaml <<'Y'
version: 1
checks:
  third: {sql: "SELECT 1.0 / 3", expect: 0.3333333333333333}
  forms: {sql: "SELECT '1e20', '0.0', '-0', '2.50', '.5', '5.', '+7', '-0.5e1'", expect: [[100000000000000000000, 0, 0, 25e-1, 0.5, 5, 7, -5]]}
  long: {sql: "SELECT '-123456789012345678901234567890123456789012345678901234567890123'", expect: -0123456789012345678901234567890123456789012345678901234567890123}
flags:
  g: {enabled: true, checks: [third, forms, long]}
Y
cv plan -m exact --db sqlite:exact.db --detailed-exitcode
expect_rc "a REAL printed with 15 digits matches the longer value; one value written several ways is one value" 2
manifest inexact/a.yaml <<'Y'
version: 1
checks:
  long: {sql: "SELECT '123456789012345678.5'", expect: 123456789012345678.4}
flags:
  g: {enabled: true, checks: [long]}
Y
cv plan -m inexact --db sqlite:exact.db --detailed-exitcode
expect_rc "two long numbers that differ in their 18th digit: the check fails" 1
expect_in "says which" err.txt \
	"check 'long' failed: expected 123456789012345678.4, got 123456789012345678.5"
sed -i 's/long: {.*/long: {sql: "SELECT '"'1e 5'"'", expect: 1e5}/' inexact/a.yaml
cv plan -m inexact --db sqlite:exact.db --detailed-exitcode
expect_in "a blank inside a number makes it text" err.txt "check 'long' failed: expected 1e5, got 1e 5"

# Bad input.
manifest bad/a.yaml <<'Y'
version: 1
checks:
  two: {sql: "SELECT 1; DELETE FROM rbac_grants", expect: 1}
  write: {sql: "DELETE FROM rbac_grants", expect: 0}
  cte: {sql: "WITH d AS (DELETE FROM rbac_grants RETURNING subject) SELECT count(*) FROM d", expect: 0}
  into: {sql: "SELECT * INTO grants_copy FROM rbac_grants", expect: []}
  lock: {sql: "SELECT subject FROM rbac_grants FOR UPDATE", expect: []}
  quoted: {sql: "SELECT 'insert into x; delete' AS \"update\", $$;$$", expect: [["insert into x; delete", ";"]]}
  noexpect: {sql: "SELECT 1"}
  role: {sql: "SELECT 1", expect: 1, as_role: app_user}
flags:
  f: {enabled: true, checks: [nope]}
Y
cv validate -m bad
expect_rc "bad checks: exit 1" 1
expect_in "not a single statement" err.txt "bad/a.yaml:3:14: error: check 'two' must be a single SELECT"
expect_in "not a SELECT" err.txt "check 'write' must be a single SELECT"
expect_in "a CTE that deletes does not only read" err.txt "check 'cte' must be a single SELECT (or WITH … SELECT) statement that only reads"
expect_in "SELECT … INTO makes a table" err.txt "check 'into' must be a single SELECT"
expect_in "FOR UPDATE locks rows" err.txt "check 'lock' must be a single SELECT"
expect_not_in "words in strings, quoted names and dollar quotes are text" err.txt "check 'quoted'"
expect_in "expect is required" err.txt "check 'noexpect' has no 'expect'"
expect_in "a flag naming an undefined check, at its place" err.txt "bad/a.yaml:12:31: error: flag 'f' names undefined check 'nope'"
manifest bad2/a.yaml <<'Y'
version: 1
checks:
  role: {sql: "SELECT 1", expect: 1, as_role: app_user}
  role2: {sql: "SELECT 1", expect: 1, as_role: other}
Y
cv plan -m bad2 --db sqlite:c.db
expect_rc "as_role on SQLite is an error" 1
expect_in "says it needs PostgreSQL, naming every such check" err.txt \
	"as_role needs PostgreSQL; on SQLite, leave it out of check 'role' (bad2/a.yaml:3:3), 'role2' (bad2/a.yaml:4:3)"

# A check that reads converge's journal reads, at apply, the run in
# progress: plan cannot tell what it will see, so it says "run at apply"
# rather than passing it against the live journal.
manifest journal/a.yaml <<'Y'
version: 1
flags:
  a: {enabled: true}
Y
cv apply -m journal/a.yaml --db sqlite:journal.db --auto-approve -q
manifest journal/a.yaml <<'Y'
version: 1
checks:
  no_run_in_progress: {sql: "SELECT count(*) FROM converge_runs WHERE finished_at IS NULL", expect: 0}
flags:
  a: {enabled: true}
  b: {enabled: true, checks: [no_run_in_progress]}
Y
cv plan -m journal/a.yaml --db sqlite:journal.db
expect_in "a check reading the journal runs at apply" out.txt "Checks run at apply: no_run_in_progress."

# A saved plan's check step is compared with its `after` as written: a
# hand-edited length longer than the text is not canonical rows, and the
# check fails (exit 5) instead of reading past the text (fuzz_checkrows).
manifest edited/a.yaml <<'Y'
version: 1
roles:
  viewer: {permissions: [license:read]}
checks:
  one: {sql: "SELECT 1", expect: 1}
Y
cv plan -m edited/a.yaml --db sqlite:edited.db -o edited.plan.yaml
expect_in "the check's rows are saved canonical" edited.plan.yaml 'after: "1:1;"'
sed 's/after: "1:1;"/after: "100000000:1;"/' edited.plan.yaml >edited2.plan.yaml
cv apply edited2.plan.yaml --db sqlite:edited.db --auto-approve
expect_rc "an edited length past the text: the check fails, exit 5" 5
expect_in "and says so, showing the edited text as it is" err.txt \
	"check 'one' failed: expected '100000000:1;' (not rows as converge records them), got 1"

# A check that reads a view reads the tables under it: a plan that writes
# them defers the check, whether the view is converge's own
# (ent_effective_modules over ent_org_modules, before and after the apply
# that creates it) or the application's; a trigger on a table the plan
# writes may write anything, so every check waits for apply.
manifest views/a.yaml <<'Y'
version: 1
roles:
  viewer: {permissions: [a:read]}
grants:
  - {subject: bob, role: viewer}
entitlements:
  modules: {crm: {}, inventory: {}}
  plans: {pro: [crm, inventory]}
  orgs: {acme: {plan: pro}}
checks:
  acme_modules: {sql: "SELECT count(*) FROM ent_effective_modules WHERE org = 'acme'", expect: 2}
  audit: {sql: "SELECT count(*) FROM audit", expect: 0}
flags:
  gate: {enabled: true, checks: [acme_modules]}
Y
sqlite3 views.db "CREATE TABLE audit (what TEXT)"
cv plan -m views --db sqlite:views.db
expect_rc "a view the apply creates: plan runs no check on it" 0
expect_in "the check reading it runs at apply" out.txt "Checks run at apply: acme_modules."
cv apply -m views --db sqlite:views.db --auto-approve -q
expect_rc "applied" 0
sqlite3 views.db "CREATE VIEW app_viewers AS SELECT subject FROM rbac_grants WHERE role = 'viewer';
CREATE VIEW app_viewers2 AS SELECT * FROM app_viewers"
sed -i 's/acme: {plan: pro}/acme: {plan: pro, modules: {inventory: disabled}}/' views/a.yaml
sed -i 's/^  - {subject: bob, role: viewer}$/  - {subject: bob, role: viewer}\n  - {subject: ann, role: viewer}/' views/a.yaml
sed -i 's/^  audit: \(.*\)$/  audit: \1\n  viewers: {sql: "SELECT count(*) FROM app_viewers2", expect: 1}/' views/a.yaml
cv plan -m views --db sqlite:views.db
expect_rc "the plan passes no check against the live state" 0
expect_in "checks reading converge's view, or a view over a view over a table it writes, run at apply" out.txt \
	"Checks run at apply: acme_modules, viewers."
sqlite3 views.db "CREATE TRIGGER grants_audit AFTER INSERT ON rbac_grants BEGIN INSERT INTO audit VALUES (new.subject); END"
cv plan -m views --db sqlite:views.db
expect_in "a trigger on a table the plan writes: every check runs at apply" out.txt \
	"Checks run at apply: acme_modules, audit, viewers."
cv apply -m views --db sqlite:views.db --auto-approve
expect_rc "at apply, the checks fail as plan could not say (exit 5)" 5

# An empty text is shown as '', apart from NULL and from nothing.
manifest emptytext/a.yaml <<'Y'
version: 1
checks:
  blank: {sql: "SELECT NULL", expect: ""}
  blank_row: {sql: "SELECT 'x', NULL", expect: [["x", ""]]}
flags:
  f: {enabled: true}
Y
cv plan -m emptytext --db sqlite:emptytext.db
expect_in "the plan line shows the empty text" out.txt "? check blank: expect ''"
expect_in "the failure too" err.txt "check 'blank' failed: expected '', got NULL"
expect_in "and in a row" err.txt "check 'blank_row' failed: expected [x, ''], got [x, NULL]"
