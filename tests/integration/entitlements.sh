# Entitlements: modules, submodules, plans and org overrides; the rows
# and events they give; ownership; rollback; inspect and its round trip;
# adoption with --orgs-from; bad input; the v1.6 example.
. "$TOP/tests/integration/lib.sh"

# rows DB [ORG]: ent_org_modules as "org module status source" lines.
rows() {
	q "$1" "SELECT org || ' ' || module || ' ' || status || ' ' || source
	        FROM ent_org_modules ${2:+WHERE org = '$2'} ORDER BY org, module" |
		tr '\n' '|'
}
# effective DB ORG: the org's enabled modules, as the view lists them.
effective() {
	q "$1" "SELECT group_concat(module, ' ') FROM (SELECT module
	        FROM ent_effective_modules WHERE org = '$2' ORDER BY module)"
}
last_run() { q "$1" "SELECT id FROM converge_runs ORDER BY id DESC LIMIT 1"; }

manifest m/catalogue.yaml <<'Y'
version: 1
entitlements:
  modules:
    email: {always_on: true}
    dashboard: {always_on: true}
    crm: {submodules: [leads, campaigns]}
    inventory: {}
    billing: {submodules: [invoices]}
  plans:
    starter: [crm]
    pro: [crm, inventory]
    solo: [crm.leads]
Y
manifest m/orgs.yaml <<'Y'
entitlements:
  orgs:
    acme: {plan: pro, modules: {crm.campaigns: disabled}}
    globex: {plan: starter, modules: {inventory: enabled}}
    hooli: {plan: pro, modules: {crm: disabled, email: disabled}}
    initech: {plan: solo, modules: {billing: enabled}}
    "o'brien & co": {modules: {crm.leads: enabled}}
    stark: {}
Y

# --- the semantics, row by row ----------------------------------------------

cv validate -m m
expect_rc "validate: the manifests are valid" 0
cv plan -m m --db sqlite:e.db
expect_rc "plan exits 0" 0
expect_eq "plan: modules, plans, then orgs, each one step" \
	"$(grep '^  [-+~]' out.txt | sed 's/:.*//' | tr '\n' '|')" \
	"  + entitlement module billing|  + entitlement module crm|  + entitlement module dashboard|  + entitlement module email|  + entitlement module inventory|  + entitlement plan pro|  + entitlement plan solo|  + entitlement plan starter|  + entitlement org acme|  + entitlement org globex|  + entitlement org hooli|  + entitlement org initech|  + entitlement org o'brien & co|  + entitlement org stark|"
expect_in "plan: an org's line says its plan and modules" out.txt \
	"  + entitlement org acme: plan pro; +crm, crm.campaigns disabled (override), +crm.leads, +dashboard, +email, +inventory"
expect_in "plan: the summary" out.txt "Plan: 14 to add, 0 to change, 0 to remove."
[ -f e.db ] && fail "plan created the database" || pass "plan created no database"

cv apply -m m --db sqlite:e.db --auto-approve
expect_rc "apply exits 0" 0
run1=$(last_run e.db)
expect_eq "ent_modules: modules and submodules, submodules with their parent" \
	"$(q e.db "SELECT key || ',' || coalesce(parent, '') || ',' || always_on FROM ent_modules ORDER BY key" | tr '\n' ' ')" \
	"billing,,0 billing.invoices,billing,0 crm,,0 crm.campaigns,crm,0 crm.leads,crm,0 dashboard,,1 email,,1 inventory,,0 "
expect_eq "ent_plans" "$(q e.db "SELECT group_concat(key, ' ') FROM (SELECT key FROM ent_plans ORDER BY key)")" "pro solo starter"
expect_eq "ent_plan_modules: what each plan lists" \
	"$(q e.db "SELECT plan || ':' || module FROM ent_plan_modules ORDER BY plan, module" | tr '\n' ' ')" \
	"pro:crm pro:inventory solo:crm.leads starter:crm "
expect_eq "ent_orgs: each org and its plan (NULL for none)" \
	"$(q e.db "SELECT org || ':' || coalesce(plan, 'NULL') FROM ent_orgs ORDER BY org" | tr '\n' ' ')" \
	"acme:pro globex:starter hooli:pro initech:solo o'brien & co:NULL stark:NULL "
expect_eq "plan modules bring their submodules; always-on modules come too; a submodule disabled alone" \
	"$(rows e.db acme)" \
	"acme crm enabled plan|acme crm.campaigns disabled override|acme crm.leads enabled plan|acme dashboard enabled always_on|acme email enabled always_on|acme inventory enabled plan|"
expect_eq "an override adds a module the plan does not have" \
	"$(rows e.db globex)" \
	"globex crm enabled plan|globex crm.campaigns enabled plan|globex crm.leads enabled plan|globex dashboard enabled always_on|globex email enabled always_on|globex inventory enabled override|"
expect_eq "disabling a module disables its submodules; an always-on module can be disabled" \
	"$(rows e.db hooli)" \
	"hooli crm disabled override|hooli crm.campaigns disabled override|hooli crm.leads disabled override|hooli dashboard enabled always_on|hooli email disabled override|hooli inventory enabled plan|"
expect_eq "a plan may list a submodule alone; an enabled module brings its submodules" \
	"$(rows e.db initech)" \
	"initech billing enabled override|initech billing.invoices enabled override|initech crm.leads enabled plan|initech dashboard enabled always_on|initech email enabled always_on|"
expect_eq "an org without a plan: always-on modules and its overrides" \
	"$(rows e.db "o''brien & co")" \
	"o'brien & co crm.leads enabled override|o'brien & co dashboard enabled always_on|o'brien & co email enabled always_on|"
expect_eq "an org with nothing gets the always-on modules" "$(rows e.db stark)" \
	"stark dashboard enabled always_on|stark email enabled always_on|"
expect_eq "the view: enabled modules only, submodules included" "$(effective e.db hooli)" "dashboard inventory"
expect_eq "the view for acme" "$(effective e.db acme)" "crm crm.leads dashboard email inventory"
expect_eq "one row per module enabled or disabled by an override" \
	"$(q e.db "SELECT count(*) FROM ent_org_modules")" 28

expect_eq "every row came with an event of the run" \
	"$(q e.db "SELECT count(*) FROM ent_events WHERE run_id = '$run1' AND old_status IS NULL AND new_status IS NOT NULL AND at = (SELECT started_at FROM converge_runs WHERE id = '$run1')")" 28
expect_eq "events say the status each row got" \
	"$(q e.db "SELECT module || ':' || new_status FROM ent_events WHERE org = 'hooli' ORDER BY module" | tr '\n' ' ')" \
	"crm:disabled crm.campaigns:disabled crm.leads:disabled dashboard:enabled email:disabled inventory:enabled "

cv apply -m m --db sqlite:e.db --auto-approve
expect_in "apply again: no changes" out.txt "No changes"
expect_eq "apply again: no run recorded" "$(last_run e.db)" "$run1"
cv plan -m m --db sqlite:e.db --detailed-exitcode
expect_rc "plan --detailed-exitcode: 0 after apply" 0

# --- a plan's list changes: every org on it ---------------------------------

sed -i 's/^    pro: \[crm, inventory\]$/    pro: [crm, billing]/' m/catalogue.yaml
cv plan -m m --db sqlite:e.db --detailed-exitcode
expect_rc "a changed plan: exit 2" 2
expect_eq "the plan's step, then one step per org on it" \
	"$(grep '^  [-+~]' out.txt | tr '\n' '|')" \
	"  ~ entitlement plan pro: +billing, -inventory|  ~ entitlement org acme: +billing, +billing.invoices, -inventory|  ~ entitlement org hooli: +billing, +billing.invoices, -inventory|"
cv apply -m m --db sqlite:e.db --auto-approve
expect_rc "apply the plan change" 0
run2=$(last_run e.db)
expect_eq "acme after the plan change" "$(effective e.db acme)" "billing billing.invoices crm crm.leads dashboard email"
expect_eq "events of the change: old and new status" \
	"$(q e.db "SELECT org || ' ' || module || ' ' || coalesce(old_status, '-') || ' ' || coalesce(new_status, '-') FROM ent_events WHERE run_id = '$run2' ORDER BY org, module" | tr '\n' '|')" \
	"acme billing - enabled|acme billing.invoices - enabled|acme inventory enabled -|hooli billing - enabled|hooli billing.invoices - enabled|hooli inventory enabled -|"
expect_eq "globex (on starter) untouched" "$(q e.db "SELECT count(*) FROM ent_events WHERE run_id = '$run2' AND org = 'globex'")" 0

# --- rollback -----------------------------------------------------------------

cv rollback --db sqlite:e.db --auto-approve
expect_rc "rollback exits 0" 0
run3=$(last_run e.db)
expect_eq "rollback: acme as before" "$(rows e.db acme)" \
	"acme crm enabled plan|acme crm.campaigns disabled override|acme crm.leads enabled plan|acme dashboard enabled always_on|acme email enabled always_on|acme inventory enabled plan|"
expect_eq "rollback: the plan lists what it listed" \
	"$(q e.db "SELECT group_concat(module, ' ') FROM (SELECT module FROM ent_plan_modules WHERE plan = 'pro' ORDER BY module)")" "crm inventory"
expect_eq "rollback writes the reverse events, with its own run id" \
	"$(q e.db "SELECT org || ' ' || module || ' ' || coalesce(old_status, '-') || ' ' || coalesce(new_status, '-') FROM ent_events WHERE run_id = '$run3' ORDER BY org, module" | tr '\n' '|')" \
	"acme billing enabled -|acme billing.invoices enabled -|acme inventory - enabled|hooli billing enabled -|hooli billing.invoices enabled -|hooli inventory - enabled|"
expect_eq "the event log only grows" "$(q e.db "SELECT count(*) FROM ent_events")" 40

# A rollback checks the rows its run touched, not the org's other rows.
cv apply -m m --db sqlite:e.db --auto-approve -q
q e.db "UPDATE ent_org_modules SET source = 'override' WHERE org = 'acme' AND module = 'email'"
cv rollback --db sqlite:e.db --auto-approve -q
expect_rc "rollback goes ahead when only rows it did not touch changed" 0
q e.db "UPDATE ent_org_modules SET source = 'always_on' WHERE org = 'acme' AND module = 'email'"
cv apply -m m --db sqlite:e.db --auto-approve -q
q e.db "DELETE FROM ent_org_modules WHERE org = 'hooli' AND module = 'billing'"
cv rollback --db sqlite:e.db --auto-approve
expect_rc "rollback refuses when a row it touched changed" 1
expect_in "and names the org" err.txt "entitlements org hooli: the run left"
q e.db "INSERT INTO ent_org_modules VALUES ('hooli', 'billing', 'enabled', 'plan')"
cv rollback --db sqlite:e.db --auto-approve -q
expect_rc "once put back, the rollback goes ahead" 0
sed -i 's/^    pro: \[crm, billing\]$/    pro: [crm, inventory]/' m/catalogue.yaml
cv plan -m m --db sqlite:e.db --detailed-exitcode
expect_rc "after the rollbacks the database matches the first manifests" 0

# --- ownership: what the manifests no longer say is removed -----------------

cp e.db owned.db
manifest own/all.yaml <<'Y'
version: 1
entitlements:
  modules:
    email: {always_on: true}
    crm: {submodules: [leads]}
  plans:
    starter: [crm]
  orgs:
    globex: {plan: starter}
Y
cv plan -m own --db sqlite:owned.db
expect_eq "removals come first, orgs before plans before modules" \
	"$(grep '^  [-+~]' out.txt | sed 's/:.*//' | tr '\n' '|')" \
	"  - entitlement org acme|  - entitlement org hooli|  - entitlement org initech|  - entitlement org o'brien & co|  - entitlement org stark|  - entitlement plan pro|  - entitlement plan solo|  - entitlement module billing|  - entitlement module dashboard|  - entitlement module inventory|  ~ entitlement module crm|  ~ entitlement org globex|"
cv apply -m own --db sqlite:owned.db --auto-approve
expect_rc "apply the smaller manifests" 0
expect_eq "only globex is left" "$(rows owned.db)" \
	"globex crm enabled plan|globex crm.leads enabled plan|globex email enabled always_on|"
expect_eq "its org row only" "$(q owned.db "SELECT group_concat(org) FROM ent_orgs")" "globex"
expect_eq "removed orgs' rows went with events to nothing" \
	"$(q owned.db "SELECT count(*) FROM ent_events WHERE run_id = '$(last_run owned.db)' AND org = 'stark' AND new_status IS NULL")" 2
cv rollback --db sqlite:owned.db --auto-approve -q
expect_rc "rollback of the removals" 0
expect_eq "everything is back" "$(rows owned.db)" "$(rows e.db)"
expect_eq "org rows are back" "$(q owned.db "SELECT count(*) FROM ent_orgs")" 6

# A manifest set without the entitlements section leaves them alone.
manifest noent/flags.yaml <<'Y'
version: 1
flags:
  beta: {enabled: false}
Y
cv apply -m noent --db sqlite:owned.db --auto-approve -q
expect_eq "no entitlements section: nothing removed" "$(q owned.db "SELECT count(*) FROM ent_org_modules")" 28

# --- saved plans carry the run id and time as parameters --------------------

cp e.db saved.db
sed -i 's/^    solo: \[crm.leads\]$/    solo: [crm.leads, inventory]/' m/catalogue.yaml
cv plan -m m --db sqlite:saved.db -o saved.yaml
expect_in "the plan file marks the run id parameter" saved.yaml "run_id_param: 5"
expect_in "and the time parameter" saved.yaml "now_param: 6"
cv apply saved.yaml --db sqlite:saved.db --auto-approve -q
expect_rc "apply the saved plan" 0
expect_eq "its event has the run's id" \
	"$(q saved.db "SELECT run_id FROM ent_events WHERE org = 'initech' AND module = 'inventory' ORDER BY rowid DESC LIMIT 1")" \
	"$(last_run saved.db)"
sed -i 's/^    solo: \[crm.leads, inventory\]$/    solo: [crm.leads]/' m/catalogue.yaml

# --- inspect: the live state as manifests, and back ---------------------------

cv inspect --db sqlite:e.db
expect_rc "inspect exits 0" 0
expect_in "inspect: modules" out.txt "    crm: {submodules: [campaigns, leads]}"
expect_in "inspect: always-on" out.txt "    email: {always_on: true}"
expect_in "inspect: plans" out.txt "    solo: [crm.leads]"
expect_in "inspect: an org's overrides" out.txt "    acme: {plan: pro, modules: {crm.campaigns: disabled}}"
expect_in "inspect: a disabled module, not its submodules" out.txt "    hooli: {plan: pro, modules: {crm: disabled, email: disabled}}"
expect_in "inspect: an enabled module, not its submodules" out.txt "    initech: {plan: solo, modules: {billing: enabled}}"
expect_in "inspect: names that need quotes" out.txt "o'brien & co"
mkdir -p ins && cp out.txt ins/live.yaml
cv plan -m ins --db sqlite:e.db --detailed-exitcode
expect_rc "inspect's output plans as no changes" 0

# --- adoption: --orgs-from ------------------------------------------------------

sqlite3 app.db "CREATE TABLE organizations (slug TEXT, plan TEXT, enabled_modules TEXT);
INSERT INTO organizations VALUES
  ('a1', 'pro', '[\"email\", \"dashboard\", \"crm\", \"crm.leads\", \"inventory\"]'),
  ('a2', 'starter', '[\"email\", \"dashboard\", \"crm\", \"crm.leads\", \"crm.campaigns\", \"billing\"]'),
  ('a3', NULL, '[\"email\", \"crm.leads\"]'),
  ('a4', 'pro', '[]');"
two="SELECT o.slug, j.value FROM organizations o, json_each(o.enabled_modules) j"
three="SELECT o.slug, j.value, o.plan FROM organizations o LEFT JOIN json_each(o.enabled_modules) j"
cv inspect --db sqlite:app.db --orgs-from "$two"
expect_rc "--orgs-from with (org, module) rows" 0
expect_eq "without definitions, every module and submodule listed is an override" \
	"$(grep -v '^#' out.txt)" "version: 1
entitlements:
  orgs:
    a1: {modules: {crm: enabled, crm.leads: enabled, dashboard: enabled, email: enabled, inventory: enabled}}
    a2: {modules: {billing: enabled, crm: enabled, crm.campaigns: enabled, crm.leads: enabled, dashboard: enabled, email: enabled}}
    a3: {modules: {crm.leads: enabled, email: enabled}}"
expect_eq "without definitions, no warning" "$(cat err.txt)" ""
mkdir -p early && cp m/catalogue.yaml early/ && grep -v '^#' out.txt >early/orgs.yaml
cv validate -m early
expect_rc "the submodules kept without definitions validate with the catalogue" 0
cv apply -m m/catalogue.yaml --db sqlite:app.db --auto-approve -q
expect_rc "publish the catalogue in the application's database" 0
cv inspect --db sqlite:app.db --orgs-from "$three"
expect_rc "--orgs-from with (org, module, plan) rows" 0
expect_eq "with definitions, orgs are their plan and the overrides that make the difference" \
	"$(grep -v '^#' out.txt)" "version: 1
entitlements:
  orgs:
    a1: {plan: pro, modules: {crm.campaigns: disabled}}
    a2: {plan: starter, modules: {billing: enabled, billing.invoices: disabled}}
    a3: {modules: {crm.leads: enabled, dashboard: disabled}}
    a4: {plan: pro, modules: {crm: disabled, dashboard: disabled, email: disabled, inventory: disabled}}"
mkdir -p adopt && cp m/catalogue.yaml adopt/ && grep -v '^#' out.txt >adopt/orgs.yaml
cv apply -m adopt --db sqlite:app.db --auto-approve -q
expect_rc "apply the adopted orgs" 0
expect_eq "converge's view is what the application's arrays said" \
	"$(q app.db "SELECT count(*) FROM (SELECT org, module FROM ent_effective_modules EXCEPT $two)") $(q app.db "SELECT count(*) FROM ($two EXCEPT SELECT org, module FROM ent_effective_modules)")" "0 0"
cv inspect --db sqlite:app.db --orgs-from "SELECT 'half', 'crm.leads', 'pro'
  UNION ALL SELECT 'odd', 'crm', NULL UNION ALL SELECT 'odd', 'crm.leads', NULL
  UNION ALL SELECT 'odd', 'crm.nope', NULL"
expect_rc "--orgs-from with rows it cannot keep as they are: exit 0" 0
expect_in "a submodule without its module: the warning names the submodule lost" err.txt \
	"converge: warning: org 'half': 'crm.leads' is listed without its module 'crm', which its plan brings; disabling 'crm' disables 'crm.leads' too"
expect_in "a submodule converge does not define: a warning" err.txt \
	"converge: warning: org 'odd': module 'crm.nope' is not defined in the database"
expect_in "... and an enabled override that validate reports, even under its module's" out.txt \
	"odd: {modules: {crm: enabled, crm.campaigns: disabled, crm.nope: enabled, dashboard: disabled, email: disabled}}"
cv inspect --db sqlite:app.db --orgs-from "SELECT slug FROM organizations"
expect_rc "--orgs-from with one column: usage error" 64
expect_in "it says what the query must return" err.txt "must return (org, module) or (org, module, plan) rows"
cv inspect --db sqlite:app.db --orgs-from "SELECT nope FROM nowhere"
expect_rc "--orgs-from with a broken query: exit 1" 1
expect_in "the database's message" err.txt "no such table: nowhere"
cv plan -m m --db sqlite:app.db --orgs-from "SELECT 1, 2"
expect_rc "--orgs-from on another verb: usage error" 64
# A row no manifest could hold is refused, not dropped: an org left out
# would be deleted by the next apply.
cv inspect --db sqlite:app.db --orgs-from "SELECT 'acme', 'crm', 'pro' UNION ALL SELECT NULL, 'inventory', 'pro'"
expect_rc "--orgs-from with a NULL org: exit 1" 1
expect_in "it names the row" err.txt "--orgs-from: row 2 has no org (NULL)"
expect_eq "and prints nothing" "$(cat out.txt)" ""
cv inspect --db sqlite:app.db --orgs-from "SELECT 'acme', '', 'pro'"
expect_rc "--orgs-from with an empty module: exit 1" 1
expect_in "it says which" err.txt "--orgs-from: row 1: the module is empty"
cv inspect --db sqlite:app.db --orgs-from "SELECT 'ac' || char(10) || 'me', 'crm', 'pro'"
expect_rc "--orgs-from with a control character: exit 1" 1
expect_in "it says so" err.txt "--orgs-from: row 1: the org contains a control character"

# --- bad input: every error placed, nothing changed ---------------------------

manifest bad/a.yaml <<'Y'
version: 1
entitlements:
  modules:
    email: {always_on: yes}
    crm: {submodules: [leads, campaigns, leads]}
    bad.name: {}
    inventory: {submodule: [x]}
  plans:
    starter: [crm, crm.leads]
    pro: [crm, inventry, crm]
  orgs:
    acme: {plan: enterprise, modules: {crm.campaign: disabled, inventory: on}}
    globex: {plan: pro, modules: {crm: disabled, crm.leads: enabled}}
    initech: {plan: starter, moduls: {}}
Y
manifest bad/b.yaml <<'Y'
entitlements:
  modules:
    crm: {}
  plans:
    pro: []
  orgs:
    acme: {}
Y
cv plan -m bad --db sqlite:bad.db
expect_rc "bad manifests: exit 1" 1
# Every error, in the order of the files and of the places in them.
expect_eq "every error, with its place" "$(grep ': error: ' err.txt)" \
"bad/a.yaml:4:24: error: expected true or false for 'always_on', got 'yes'
bad/a.yaml:5:42: error: module 'crm' lists submodule 'leads' twice
bad/a.yaml:6:5: error: module name 'bad.name' must not contain '.' (a submodule is listed in its module's 'submodules' and named 'module.sub')
bad/a.yaml:7:17: error: unknown key 'submodule' in a module (did you mean 'submodules'?)
bad/a.yaml:9:20: error: plan 'starter' lists submodule 'crm.leads' and its module 'crm', which brings it already
bad/a.yaml:10:16: error: plan 'pro' names undefined module 'inventry' (did you mean 'inventory'?)
bad/a.yaml:10:26: error: plan 'pro' lists 'crm' twice (first at bad/a.yaml:10:11)
bad/a.yaml:12:18: error: org 'acme' names undefined plan 'enterprise'
bad/a.yaml:12:40: error: org 'acme' names undefined module 'crm.campaign' (did you mean 'crm.campaigns'?)
bad/a.yaml:12:75: error: org 'acme': 'inventory' must be 'enabled' or 'disabled', not 'on'
bad/a.yaml:13:50: error: org 'globex' enables 'crm.leads' but disables its module 'crm' (disabling a module disables its submodules)
bad/a.yaml:14:30: error: unknown key 'moduls' in an org (did you mean 'modules'?)
bad/b.yaml:3:5: error: module 'crm' is defined twice (first at bad/a.yaml:5:5)
bad/b.yaml:5:5: error: plan 'pro' is defined twice (first at bad/a.yaml:10:5)
bad/b.yaml:7:5: error: org 'acme' is defined twice (first at bad/a.yaml:12:5)"
expect_in "and the count" err.txt "converge: 15 errors in the manifests; nothing was changed"
[ -f bad.db ] && fail "bad input created a database" || pass "bad input created no database"

manifest bad2/a.yaml <<'Y'
version: 1
entitlements:
  modules: [email]
  plans: {pro: crm}
  orgs: {acme: {plan: pro, modules: [crm]}, globex: x}
  extra: {}
Y
cp e.db untouched.db
cv apply -m bad2 --db sqlite:untouched.db --auto-approve
expect_rc "wrong types: exit 1" 1
# Plan 'pro' is defined, if with a list of the wrong type: acme does not
# name an undefined plan (and with the modules unreadable, no name is
# reported undefined).
expect_eq "wrong types, placed" "$(grep ': error: ' err.txt)" \
"bad2/a.yaml:3:12: error: expected a mapping for 'modules', got a list
bad2/a.yaml:4:16: error: expected a list for 'pro', got 'crm'
bad2/a.yaml:5:37: error: expected a mapping for 'modules', got a list
bad2/a.yaml:5:53: error: expected a mapping for 'globex', got 'x'
bad2/a.yaml:6:3: error: unknown key 'extra' in entitlements"
expect_same "the database is untouched" untouched.db e.db

# --- 2,000 orgs: one read per table, a no-op plan ------------------------------

{
	sed -n '1,/^  plans:/p' m/catalogue.yaml | sed '$d'
	echo "  plans:"
	echo "    pro: [crm, inventory]"
	echo "  orgs:"
	i=0
	while [ $i -lt 2000 ]; do
		echo "    org$i: {plan: pro}"
		i=$((i + 1))
	done
} >big.yaml
mkdir -p bigm && mv big.yaml bigm/
cv apply -m bigm --db sqlite:big.db --auto-approve -q --no-snapshot
expect_rc "2,000 orgs applied" 0
expect_eq "2,000 orgs x 6 rows" "$(q big.db "SELECT count(*) FROM ent_org_modules")" 12000
cv plan -m bigm --db sqlite:big.db --detailed-exitcode
expect_rc "and planned again: no changes" 0

# --- the same on PostgreSQL (the server of tests/pg/harness.sh) -------------

pgdb=ent_$$
if pg_db "$pgdb"; then
	PG=$DB
	pgrows() {
		pq "$PG" "SELECT org || ' ' || module || ' ' || status || ' ' || source
		          FROM ent_org_modules ORDER BY org COLLATE \"C\", module COLLATE \"C\"" |
			tr '\n' '|'
	}
	cv apply -m m --db "$PG" --auto-approve --no-snapshot -q
	expect_rc "postgres: apply" 0
	expect_eq "postgres: the same rows as SQLite" "$(pgrows)" "$(rows e.db)"
	expect_eq "postgres: the view" \
		"$(pq "$PG" "SELECT string_agg(module, ' ' ORDER BY module COLLATE \"C\") FROM ent_effective_modules WHERE org = 'hooli'")" \
		"dashboard inventory"
	pgrun=$(pq "$PG" "SELECT max(id) FROM converge_runs")
	expect_eq "postgres: one event per row, with the run id" \
		"$(pq "$PG" "SELECT count(*) FROM ent_events WHERE run_id = '$pgrun' AND old_status IS NULL")" 28
	cv plan -m m --db "$PG" --detailed-exitcode
	expect_rc "postgres: planned again, no changes" 0
	sed -i 's/^    pro: \[crm, inventory\]$/    pro: [crm, billing]/' m/catalogue.yaml
	cv apply -m m --db "$PG" --auto-approve --no-snapshot -q
	expect_rc "postgres: a plan change" 0
	pgrun2=$(pq "$PG" "SELECT max(id) FROM converge_runs")
	expect_eq "postgres: its events" \
		"$(pq "$PG" "SELECT count(*) FROM ent_events WHERE run_id = '$pgrun2'")" 6
	cv rollback --db "$PG" --auto-approve --no-snapshot -q
	expect_rc "postgres: rollback" 0
	expect_eq "postgres: rows as before" "$(pgrows)" "$(rows e.db)"
	sed -i 's/^    pro: \[crm, billing\]$/    pro: [crm, inventory]/' m/catalogue.yaml
	cv plan -m m --db "$PG" --detailed-exitcode
	expect_rc "postgres: back where the manifests are" 0
	cv inspect --db "$PG"
	mkdir -p pgins && cp out.txt pgins/live.yaml
	cv plan -m pgins --db "$PG" --detailed-exitcode
	expect_rc "postgres: inspect's output plans as no changes" 0
	pq "$PG" "CREATE TABLE organizations (slug TEXT, plan TEXT, enabled_modules JSONB);
	          INSERT INTO organizations VALUES
	            ('acme', 'pro', '[\"email\", \"dashboard\", \"crm\", \"crm.leads\", \"crm.campaigns\", \"inventory\"]'),
	            ('zeta', 'starter', '[\"email\", \"dashboard\", \"crm\", \"crm.leads\"]')"
	cv inspect --db "$PG" --orgs-from "SELECT o.slug, j.value, o.plan FROM organizations o, jsonb_array_elements_text(o.enabled_modules) j(value)"
	expect_eq "postgres: --orgs-from over a JSONB column" "$(grep -v '^#' out.txt)" "version: 1
entitlements:
  orgs:
    acme: {plan: pro}
    zeta: {plan: starter, modules: {crm.campaigns: disabled}}"
	pq "$CONVERGE_TEST_PG_URL" "DROP DATABASE $pgdb"
fi

# --- the v1.6 example, as its README says to run it --------------------------

WORK=$TESTDIR/v16 sh "$TOP/examples/entitlements-v16/run.sh" >v16.out 2>&1
RC=$?
expect_rc "examples/entitlements-v16/run.sh runs to the end" 0
expect_in "it adopted the orgs" v16.out "Same as the reviewed manifests/orgs.yaml in the example folder: yes"
expect_in "it rolled the plan change back" v16.out "Entitlements as before the plan change, org by org: yes"

# A run that changes an org's plan and none of its rows (the new plan
# gives what the override already decides) rolls back like any other.
manifest planonly/a.yaml <<'Y'
version: 1
entitlements:
  modules: {crm: {submodules: [leads]}}
  plans: {solo: [crm.leads], starter: [crm]}
  orgs: {c: {plan: solo, modules: {crm: disabled}}}
Y
sed 's/plan: solo/plan: starter/' planonly/a.yaml >planonly/b.yaml
cv apply -m planonly/a.yaml --db sqlite:planonly.db --auto-approve -q
cv apply -m planonly/b.yaml --db sqlite:planonly.db --auto-approve
expect_in "only the plan changes" out.txt "~ entitlement org c: plan solo -> starter"
cv rollback --db sqlite:planonly.db --auto-approve -q
expect_rc "and the run rolls back" 0
expect_eq "to the plan before" "$(q planonly.db "SELECT plan FROM ent_orgs WHERE org = 'c'")" solo

# A review line names every module: a removal after the eighth change was
# cut off as "… and 2 more", in text, markdown and JSON alike.
manifest many/a.yaml <<'Y'
version: 1
entitlements:
  modules: {a: {}, b: {}, c: {}, d: {}, e: {}, f: {}, g: {}, h: {}, i: {}, zbilling: {}}
  plans:
    p: [zbilling]
  orgs:
    acme: {plan: p}
Y
cv apply -m many/a.yaml --db sqlite:many.db --auto-approve -q
sed -i 's/p: \[zbilling\]/p: [a, b, c, d, e, f, g, h, i]/' many/a.yaml
cv plan -m many/a.yaml --db sqlite:many.db
expect_in "the plan line names every module, the removal too" out.txt \
	"~ entitlement plan p: +a, +b, +c, +d, +e, +f, +g, +h, +i, -zbilling"
expect_in "so does the org's" out.txt \
	"~ entitlement org acme: +a, +b, +c, +d, +e, +f, +g, +h, +i, -zbilling"
expect_not_in "nothing is cut off" out.txt "more"

# Undoing an org's removal brings its rows back: the line says it reverts
# the removal, not the removal's "-crm" as if it happened again.
manifest rmorg/a.yaml <<'Y'
version: 1
entitlements:
  modules: {crm: {}, email: {always_on: true}}
  plans: {p: [crm]}
  orgs: {acme: {plan: p, modules: {email: disabled}}, zeta: {}}
Y
cv apply -m rmorg/a.yaml --db sqlite:rmorg.db --auto-approve -q
sed -i 's/acme: {plan: p, modules: {email: disabled}}, //' rmorg/a.yaml
cv apply -m rmorg/a.yaml --db sqlite:rmorg.db --auto-approve
expect_in "the org's removal" out.txt "- entitlement org acme: plan p; -crm, email no longer disabled"
cv rollback --db sqlite:rmorg.db --auto-approve
expect_in "its undoing says it reverts it" out.txt \
	"+ entitlement org acme: reverts plan p; -crm, email no longer disabled"
expect_eq "the rows are back" "$(rows rmorg.db acme)" "acme crm enabled plan|acme email disabled override|"

# An optional key set to null is the key left out (docs/manifest.md):
# always_on: null is a module that is not always on.
manifest nullkeys/a.yaml <<'Y'
version: 1
entitlements:
  modules: {crm: {always_on: null}, email: {always_on: true}}
  orgs: {acme: {}}
Y
cv validate -m nullkeys
expect_rc "always_on: null is valid" 0
cv apply -m nullkeys --db sqlite:nullkeys.db --auto-approve -q
expect_eq "and is not always on" "$(q nullkeys.db "SELECT key || '=' || always_on FROM ent_modules ORDER BY key" | tr '\n' ' ')" "crm=0 email=1 "
