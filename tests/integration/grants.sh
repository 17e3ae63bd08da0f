# Roles and grants (SPEC §2, §6, §7): transitive inheritance, wildcards,
# one change step per role, deletion with its rows, references from grants,
# the (subject, role, scope) key, ownership, expiry at --now, UTC
# normalisation, guards.min_grants, hostile names stored verbatim, and
# idempotency at 10,000 grants.
. "$TOP/tests/integration/lib.sh"
DB=sqlite:rbac.db

# steps: "seq phase kind action object" lines of the JSON plan in out.txt.
steps() {
	python3 -c 'import json
for s in json.load(open("out.txt"))["steps"]:
    print(s["seq"], s["phase"], s["kind"], s["action"], s["object"])'
}

# ---------------------------------------------------------------- roles

manifest base.yaml <<'EOF'
version: 1
roles:
  viewer:
    description: Read licenses
    permissions: [license:read, license:validate]
  editor:
    inherits: [viewer]
    permissions: [license:generate]
  admin:
    inherits: [editor]
    permissions: ["license:*", system:audit]
  auditor:
    inherits: [viewer]
    permissions: [system:audit]
grants:
  - {subject: alice, role: admin}
  - {subject: bob, role: editor, scope: "tenant:a"}
  - {subject: bob, role: editor, scope: "tenant:b"}
  - {subject: carol, role: viewer, expires: "2026-12-01T00:00:00Z", reason: INC-1}
  - {subject: dave, role: auditor}
EOF

cv plan -m base.yaml --db $DB
expect_rc "plan of a new database exits 0" 0
expect_in "wildcard permission accepted" out.txt "+ role admin: inherits editor; permissions license:*, system:audit"
expect_in "two scopes are two grants (a)" out.txt "+ grant editor to bob on tenant:a"
expect_in "two scopes are two grants (b)" out.txt "+ grant editor to bob on tenant:b"
expect_in "plan summary" out.txt "Plan: 9 to add, 0 to change, 0 to remove."
expect_eq "plan does not create the database" "$(ls rbac.db 2>/dev/null)" ""

cv apply -m base.yaml --db $DB --auto-approve --actor t
expect_rc "apply exits 0" 0
expect_eq "admin's effective permissions are transitive" \
	"$(q rbac.db "SELECT group_concat(permission, ' ') FROM (SELECT permission FROM rbac_effective_permissions WHERE role = 'admin' ORDER BY permission)")" \
	"license:* license:generate license:read license:validate system:audit"
expect_eq "editor's effective permissions" \
	"$(q rbac.db "SELECT group_concat(permission, ' ') FROM (SELECT permission FROM rbac_effective_permissions WHERE role = 'editor' ORDER BY permission)")" \
	"license:generate license:read license:validate"
expect_eq "direct permissions of admin only in rbac_role_permissions" \
	"$(q rbac.db "SELECT group_concat(permission, ' ') FROM (SELECT permission FROM rbac_role_permissions WHERE role = 'admin' ORDER BY permission)")" \
	"license:* system:audit"
expect_eq "parents stored" "$(q rbac.db "SELECT group_concat(role || '<' || parent, ' ') FROM (SELECT * FROM rbac_role_parents ORDER BY role)")" \
	"admin<editor auditor<viewer editor<viewer"
expect_eq "description stored, '' when none" "$(q rbac.db "SELECT group_concat(name || '=' || description, ',') FROM (SELECT * FROM rbac_roles ORDER BY name)")" \
	"admin=,auditor=,editor=,viewer=Read licenses"
expect_eq "bob holds editor on two scopes" "$(q rbac.db "SELECT group_concat(scope, ' ') FROM (SELECT scope FROM rbac_grants WHERE subject = 'bob' AND role = 'editor' ORDER BY scope)")" \
	"tenant:a tenant:b"
expect_eq "unscoped grant has scope ''" "$(q rbac.db "SELECT quote(scope) || ' ' || quote(expires_at) || ' ' || quote(reason) FROM rbac_grants WHERE subject = 'alice'")" \
	"'' NULL NULL"
expect_eq "expiry and reason stored" "$(q rbac.db "SELECT expires_at || '|' || reason FROM rbac_grants WHERE subject = 'carol'")" \
	"2026-12-01T00:00:00Z|INC-1"
expect_eq "one run recorded" "$(q rbac.db "SELECT count(*) FROM converge_runs")" 1

cp rbac.db applied.db
cv apply -m base.yaml --db $DB --auto-approve
expect_rc "second apply exits 0" 0
expect_in "second apply has no changes" out.txt "No changes"
expect_eq "second apply records no run" "$(q rbac.db "SELECT count(*) FROM converge_runs")" 1
expect_same "second apply leaves the file byte-identical" rbac.db applied.db

# Permission, parent and description changes: one '~ role' step per role,
# naming what it adds and removes.
manifest change.yaml <<'EOF'
version: 1
roles:
  viewer:
    description: Read and validate licenses
    permissions: [license:read, license:validate]
  editor:
    inherits: [auditor]
    permissions: [license:generate, license:usage:read]
  admin:
    inherits: [editor]
    permissions: ["license:*", system:audit]
  auditor:
    inherits: [viewer]
    permissions: [system:audit]
grants:
  - {subject: alice, role: admin}
  - {subject: bob, role: editor, scope: "tenant:a"}
  - {subject: bob, role: editor, scope: "tenant:b"}
  - {subject: carol, role: viewer, expires: "2026-12-01T00:00:00Z", reason: INC-1}
  - {subject: dave, role: auditor}
EOF
cv plan -m change.yaml --db $DB
expect_eq "role changes: exactly two '~ role' lines" "$(grep -c '^  ~ role' out.txt)" 2
expect_in "parent and permission change in one step" out.txt \
	"~ role editor: + inherits auditor; - inherits viewer; + permissions license:usage:read"
expect_in "description change" out.txt "~ role viewer: description 'Read and validate licenses'"
expect_in "change summary" out.txt "Plan: 0 to add, 2 to change, 0 to remove."

manifest perms.yaml <<'EOF'
version: 1
roles:
  viewer:
    description: Read licenses
    permissions: [license:read, license:validate]
  editor:
    inherits: [viewer]
    permissions: [license:generate]
  admin:
    inherits: [editor]
    permissions: ["license:*", "agent:*"]
  auditor:
    inherits: [viewer]
    permissions: [system:audit]
EOF
cv plan -m perms.yaml --db $DB
expect_in "permissions added and removed in one step" out.txt \
	"~ role admin: + permissions agent:*; - permissions system:audit"
expect_eq "and nothing else" "$(grep -c '^  [-+~]' out.txt)" 1

cv apply -m change.yaml --db $DB --auto-approve
expect_rc "role changes apply" 0
expect_eq "editor's parents changed" "$(q rbac.db "SELECT group_concat(parent) FROM rbac_role_parents WHERE role = 'editor'")" auditor
expect_eq "admin now inherits usage:read through editor" \
	"$(q rbac.db "SELECT count(*) FROM rbac_effective_permissions WHERE role = 'admin' AND permission IN ('license:usage:read', 'system:audit', 'license:read')")" 3
expect_eq "description changed" "$(q rbac.db "SELECT description FROM rbac_roles WHERE name = 'viewer'")" "Read and validate licenses"
expect_eq "one change step per role journaled" \
	"$(q rbac.db "SELECT group_concat(action || ' ' || object, ',') FROM (SELECT * FROM converge_steps WHERE run_id = (SELECT max(id) FROM converge_runs) ORDER BY seq)")" \
	"update editor,update viewer"

# A role that live grants reference, removed while the manifests have no
# grants section: an error naming the grants, nothing changed.
manifest norole.yaml <<'EOF'
version: 1
roles:
  viewer:
    description: Read and validate licenses
    permissions: [license:read, license:validate]
  editor:
    permissions: [license:generate, license:usage:read]
  admin:
    inherits: [editor]
    permissions: ["license:*", system:audit]
EOF
cp rbac.db before.db
cv plan -m norole.yaml --db $DB
expect_rc "removing a referenced role without grants section: exit 1" 1
expect_in "the error names the role and its grants" err.txt \
	"cannot remove role 'auditor': 1 grant still references it (dave); revoke them in the manifests' grants section"
cv apply -m norole.yaml --db $DB --auto-approve
expect_rc "apply refuses it too" 1
expect_same "the database is unchanged" rbac.db before.db

# With a grants section the same plan revokes them first.
manifest norole-grants.yaml <<'EOF'
version: 1
roles:
  viewer:
    description: Read and validate licenses
    permissions: [license:read, license:validate]
  editor:
    permissions: [license:generate, license:usage:read]
  admin:
    inherits: [editor]
    permissions: ["license:*", system:audit]
grants:
  - {subject: alice, role: admin}
  - {subject: bob, role: editor, scope: "tenant:a"}
  - {subject: bob, role: editor, scope: "tenant:b"}
  - {subject: carol, role: viewer, expires: "2026-12-01T00:00:00Z", reason: INC-1}
EOF
cv plan -m norole-grants.yaml --db $DB --format json
expect_rc "with a grants section the plan is accepted" 0
expect_eq "grant revoked before the role is removed, parent change after" "$(steps)" \
"1 2 grants delete auditor to dave
2 2 roles delete auditor
3 5 roles update editor"
cv apply -m norole-grants.yaml --db $DB --auto-approve
expect_rc "role removal applies" 0
expect_eq "the role is gone" "$(q rbac.db "SELECT count(*) FROM rbac_roles WHERE name = 'auditor'")" 0
expect_eq "its permissions are gone" "$(q rbac.db "SELECT count(*) FROM rbac_role_permissions WHERE role = 'auditor'")" 0
expect_eq "its parents are gone" "$(q rbac.db "SELECT count(*) FROM rbac_role_parents WHERE role = 'auditor' OR parent = 'auditor'")" 0
expect_eq "its grants are gone" "$(q rbac.db "SELECT count(*) FROM rbac_grants WHERE role = 'auditor'")" 0
expect_eq "other roles stay" "$(q rbac.db "SELECT group_concat(name) FROM (SELECT name FROM rbac_roles ORDER BY name)")" "admin,editor,viewer"
expect_eq "the run's steps in order" \
	"$(q rbac.db "SELECT group_concat(phase || ' ' || kind || ' ' || action || ' ' || object, ',') FROM (SELECT * FROM converge_steps WHERE run_id = (SELECT max(id) FROM converge_runs) ORDER BY seq)")" \
	"2 grants delete auditor to dave,2 roles delete auditor,5 roles update editor"

# --------------------------------------------------------------- grants

manifest g2.yaml <<'EOF'
version: 1
roles:
  viewer:
    description: Read and validate licenses
    permissions: [license:read, license:validate]
  editor:
    permissions: [license:generate, license:usage:read]
  admin:
    inherits: [editor]
    permissions: ["license:*", system:audit]
grants:
  - {subject: alice, role: admin}
  - {subject: bob, role: editor, scope: "tenant:a"}
  - {subject: carol, role: viewer, expires: "2026-12-02T00:00:00+02:00", reason: INC-2}
  - {subject: erin, role: viewer, reason: "on call"}
EOF
cv plan -m g2.yaml --db $DB
expect_in "grant not in the manifests is revoked" out.txt "- grant editor to bob on tenant:b"
expect_in "expires/reason change is one update, offset normalised" out.txt \
	"~ grant viewer to carol: expires 2026-12-01T00:00:00Z -> 2026-12-01T22:00:00Z; reason 'INC-2'"
expect_in "new grant" out.txt "+ grant viewer to erin: reason: on call"
expect_in "grant summary" out.txt "Plan: 1 to add, 1 to change, 1 to remove."
cv apply -m g2.yaml --db $DB --auto-approve
expect_rc "grant changes apply" 0
expect_eq "grants after the change" \
	"$(q rbac.db "SELECT group_concat(subject || '/' || role || '/' || scope || '/' || ifnull(expires_at, '-') || '/' || ifnull(reason, '-'), ' ') FROM (SELECT * FROM rbac_grants ORDER BY subject, role, scope)")" \
	"alice/admin//-/- bob/editor/tenant:a/-/- carol/viewer//2026-12-01T22:00:00Z/INC-2 erin/viewer//-/on call"
expect_eq "the update is journaled as one update step" \
	"$(q rbac.db "SELECT count(*) FROM converge_steps WHERE run_id = (SELECT max(id) FROM converge_runs) AND action = 'update' AND object = 'viewer to carol'")" 1

# A section absent from every manifest is not touched.
sqlite3 rbac.db "INSERT INTO rbac_grants (subject, role, scope) VALUES ('hand-made', 'viewer', '')"
manifest rolesonly.yaml <<'EOF'
version: 1
roles:
  viewer:
    description: Read and validate licenses
    permissions: [license:read, license:validate]
  editor:
    permissions: [license:generate, license:usage:read]
  admin:
    inherits: [editor]
    permissions: ["license:*", system:audit]
EOF
q rbac.db "SELECT * FROM rbac_grants ORDER BY 1, 2, 3" >grants-before.txt
cv plan -m rolesonly.yaml --db $DB --detailed-exitcode
expect_rc "no grants section: no changes" 0
cv apply -m rolesonly.yaml --db $DB --auto-approve
q rbac.db "SELECT * FROM rbac_grants ORDER BY 1, 2, 3" >grants-after.txt
expect_same "no grants section: rbac_grants rows untouched" grants-after.txt grants-before.txt
cv plan -m g2.yaml --db $DB
expect_in "with the section, the hand-made grant is revoked" out.txt "- grant viewer to hand-made"
expect_eq "and only that" "$(grep -c '^  [-+~]' out.txt)" 1
cv apply -m g2.yaml --db $DB --auto-approve -q
expect_rc "revoking the hand-made grant applies" 0

# An empty grants section owns the grants: it revokes them all.
manifest empty-grants.yaml <<'EOF'
version: 1
grants: []
EOF
cv plan -m empty-grants.yaml --db $DB
expect_in "grants: [] revokes every grant" out.txt "Plan: 0 to add, 0 to change, 4 to remove."

# Expiry: at or before --now is absent, one second after is present.
manifest exp.yaml <<'EOF'
version: 1
roles:
  viewer: {}
grants:
  - {subject: dana, role: viewer, expires: "2026-11-24T04:00:00+02:00"}
  - {subject: erin, role: viewer, expires: "2026-11-24T02:00:00Z"}
EOF
cv plan -m exp.yaml --db sqlite:exp.db --now 2026-11-24T02:00:00Z
expect_eq "expires == --now: not granted" "$(grep -c 'grant' out.txt)" 0
cv plan -m exp.yaml --db sqlite:exp.db --now 2026-11-24T01:59:59Z
expect_in "one second before expiry: granted (offset normalised to Z)" out.txt \
	"+ grant viewer to dana: expires 2026-11-24T02:00:00Z"
expect_in "one second before expiry: granted" out.txt "+ grant viewer to erin: expires 2026-11-24T02:00:00Z"
CONVERGE_NOW=2026-11-24T02:00:00Z cv plan -m exp.yaml --db sqlite:exp.db
expect_eq "CONVERGE_NOW == expiry: not granted" "$(grep -c 'grant' out.txt)" 0
CONVERGE_NOW=2026-11-24T03:59:59+02:00 cv apply -m exp.yaml --db sqlite:exp.db --auto-approve -q
expect_rc "apply one second before expiry (CONVERGE_NOW with an offset)" 0
expect_eq "stored in UTC" "$(q exp.db "SELECT group_concat(subject || ' ' || expires_at, ',') FROM (SELECT * FROM rbac_grants ORDER BY subject)")" \
	"dana 2026-11-24T02:00:00Z,erin 2026-11-24T02:00:00Z"
cv plan -m exp.yaml --db sqlite:exp.db --now 2026-11-24T01:59:59Z --detailed-exitcode
expect_rc "one second before expiry: still held" 0
cv plan -m exp.yaml --db sqlite:exp.db --now 2026-11-24T02:00:00Z
expect_in "at expiry the held grant is revoked" out.txt "- grant viewer to dana: expired 2026-11-24T02:00:00Z"
expect_in "summary of the expiry" out.txt "Plan: 0 to add, 0 to change, 2 to remove."
CONVERGE_NOW=2026-11-24T04:00:00+02:00 cv apply -m exp.yaml --db sqlite:exp.db --auto-approve -q
expect_rc "apply at expiry" 0
expect_eq "expired grants revoked" "$(q exp.db "SELECT count(*) FROM rbac_grants")" 0

# Fractions of a second: an expiry at or before --now is absent even when
# both have fractions; the expiry is stored rounded down to the second.
manifest frac.yaml <<'EOF'
version: 1
roles:
  viewer: {}
grants:
  - {subject: fay, role: viewer, expires: "2027-01-01T00:00:00.001Z"}
EOF
cv plan -m frac.yaml --db sqlite:frac.db --now 2027-01-01T00:00:00.9999Z
expect_eq "expires .001 before --now .9999: not granted" "$(grep -c 'grant' out.txt)" 0
cv apply -m frac.yaml --db sqlite:frac.db --now 2026-12-31T23:59:59.5Z --auto-approve -q
expect_rc "apply before the expiry" 0
expect_eq "the expiry is stored rounded down" "$(q frac.db "SELECT expires_at FROM rbac_grants")" \
	"2027-01-01T00:00:00Z"
cv plan -m frac.yaml --db sqlite:frac.db --now 2027-01-01T00:00:00.0005Z
expect_in "within its last second the grant is revoked, never kept late" out.txt \
	"- grant viewer to fay: expired 2027-01-01T00:00:00Z"

# A grant of the manifests that has expired is absent, and says so on
# stderr, once, where it is written: here the database never held it, so
# no plan line shows it.  A date alone is midnight UTC.
manifest expired.yaml <<'EOF'
version: 1
roles:
  developer: {}
grants:
  - {subject: ann, role: developer}
  - {subject: bob, role: developer, scope: production, expires: "2026-11-24", reason: "INC-1"}
EOF
cv plan -m expired.yaml --db sqlite:expired.db --now 2026-11-24T03:00:00Z
expect_rc "a plan with an expired grant: exit 0" 0
expect_in "the expired grant is a warning, placed" err.txt \
	"expired.yaml:6:5: warning: grant of role 'developer' to 'bob' on 'production' expired at 2026-11-24T00:00:00Z and is absent: an expired grant is revoked, never granted"
expect_in "with its line" err.txt '      - {subject: bob, role: developer'
expect_eq "said once" "$(grep -c 'warning:' err.txt)" 1
expect_not_in "the plan has no line for it" out.txt "bob"
cv plan -m expired.yaml --db sqlite:expired.db --now 2026-11-24T03:00:00Z --format json
expect_eq "JSON on stdout stays clean" \
	"$(python3 -c 'import json; print(len(json.load(open("out.txt"))["steps"]))')" 2
expect_eq "the warning goes to stderr" "$(grep -c 'warning:' err.txt)" 1
cv plan -m expired.yaml --db sqlite:expired.db --now 2026-11-24T03:00:00Z -q
expect_eq "-q prints errors only" "$ERR" ""
cv apply -m expired.yaml --db sqlite:expired.db --now 2026-11-24T03:00:00Z --auto-approve
expect_rc "apply with an expired grant" 0
expect_eq "apply says it once too" "$(grep -c "warning: grant of role 'developer' to 'bob'" err.txt)" 1
expect_eq "and does not grant it" "$(q expired.db "SELECT group_concat(subject) FROM rbac_grants")" ann
cv plan -m expired.yaml --db sqlite:expired.db --now 2026-11-23T23:59:59Z
expect_in "the second before midnight it is granted" out.txt \
	"+ grant developer to bob on production: expires 2026-11-24T00:00:00Z (INC-1)"
expect_not_in "and nothing is said" err.txt "warning"
# A manifest may hold thousands: the first ten are named, the rest counted.
{
	printf 'version: 1\nroles: {developer: {}}\ngrants:\n'
	i=0
	while [ $i -lt 25 ]; do
		printf '  - {subject: s%02d, role: developer, expires: "2026-01-01T00:00:00Z"}\n' $i
		i=$((i + 1))
	done
} >many-expired.yaml
cv plan -m many-expired.yaml --db sqlite:expired.db --now 2026-11-24T03:00:00Z
expect_eq "ten named" "$(grep -c "^many-expired.yaml:[0-9]*:5: warning: grant of role 'developer'" err.txt)" 10
expect_in "the tenth is s09" err.txt "to 's09' expired at 2026-01-01T00:00:00Z"
expect_in "the rest counted" err.txt "converge: warning: … and 15 more expired grants in the manifests"

# ---------------------------------------------------- guards.min_grants

manifest guard.yaml <<'EOF'
version: 1
roles:
  viewer: {}
  admin: {}
grants:
  - {subject: erin, role: viewer}
guards:
  min_grants:
    admin: 1
EOF
cp rbac.db before.db
cv plan -m guard.yaml --db $DB
expect_rc "plan that breaks a guard: exit 1" 1
expect_in "the plan is still printed" out.txt "- grant admin to alice"
expect_in "the refusal names the role and the guard's place" err.txt \
	"role 'admin' would have 0 grants, fewer than the 1 that guards.min_grants requires (guard.yaml:9:5)"
cv apply -m guard.yaml --db $DB --auto-approve
expect_rc "apply that breaks a guard: exit 1" 1
expect_in "apply names the guard too" err.txt "guards.min_grants"
expect_same "the refused apply leaves the database byte-identical" rbac.db before.db
expect_eq "no snapshot for a refused apply" "$(ls .converge/snapshots/rbac-* | wc -l)" "$(q rbac.db 'SELECT count(*) FROM converge_runs')"

# Lockout recovery: an earlier apply without the guard revoked the last
# admin; a guarded apply cannot fix it by removing more, but rollback can.
manifest noadmin.yaml <<'EOF'
version: 1
roles:
  viewer: {}
  admin: {}
grants:
  - {subject: erin, role: viewer}
EOF
cv apply -m noadmin.yaml --db $DB --auto-approve -q
expect_rc "without the guard the last admin can be revoked" 0
expect_eq "no admin left" "$(q rbac.db "SELECT count(*) FROM rbac_grants WHERE role = 'admin'")" 0
cv plan -m guard.yaml --db $DB
expect_rc "the guard now refuses even a plan that removes nothing of admin" 1
cv rollback --db $DB --auto-approve
expect_rc "rollback is not subject to guards" 0
expect_eq "the admin is back" "$(q rbac.db "SELECT subject FROM rbac_grants WHERE role = 'admin'")" alice
manifest guard-ok.yaml <<'EOF'
version: 1
roles:
  viewer: {}
  admin: {}
grants:
  - {subject: alice, role: admin}
  - {subject: erin, role: viewer}
guards:
  min_grants: {admin: 1}
EOF
cv plan -m guard-ok.yaml --db $DB
expect_rc "a plan keeping one admin passes the guard" 0

# Expired grants do not count as holders.
manifest guard-exp.yaml <<'EOF'
version: 1
roles:
  admin: {}
grants:
  - {subject: alice, role: admin, expires: "2026-11-23T12:00:00Z"}
guards:
  min_grants: {admin: 1}
EOF
cv plan -m guard-exp.yaml --db sqlite:fresh.db
expect_rc "a grant expiring at --now is no holder" 1
expect_in "zero holders" err.txt "role 'admin' would have 0 grants"

# A saved plan records its guards, and apply FILE checks them again at its
# own clock: the grant that kept the guard when the plan was made may have
# expired by the time it is applied.
cp "$FIX/manifests/expiring-admin.yaml" saved-guard.yaml
cv apply -m saved-guard.yaml --db sqlite:sg.db --auto-approve -q --now 2026-11-24T00:00:00Z
expect_rc "saved guards: alice and eve are admins" 0
sed -i '/alice/d' saved-guard.yaml
cv plan -m saved-guard.yaml --db sqlite:sg.db --now 2026-11-24T00:00:00Z -o sg.plan.yaml
expect_rc "saved guards: revoking alice keeps eve, valid then" 0
expect_in "the plan file records the guard" sg.plan.yaml 'min_grants: {"admin": 1}'
cv plan -m saved-guard.yaml --db sqlite:sg.db --now 2026-11-24T00:00:00Z --format json
expect_eq "so does the JSON plan" \
	"$(python3 -c 'import json; print(json.load(open("out.txt")).get("guards"))')" \
	"{'min_grants': {'admin': 1}}"
cp sg.db sg.before
cp sg.db sg-old.db
cv apply sg.plan.yaml --db sqlite:sg.db --auto-approve --now 2026-11-24T10:00:00Z
expect_rc "apply FILE after eve expired: refused by the guard" 1
expect_in "as apply -m refuses, naming the guard's place in the plan file" err.txt \
	"converge: error: plan refused by guard: role 'admin' would have 0 grants, fewer than the 1 that guards.min_grants requires (sg.plan.yaml:10:16)"
expect_in "the refused plan is shown" out.txt "- grant admin to alice"
expect_same "the refused apply FILE leaves the database byte-identical" sg.db sg.before
expect_eq "and takes no snapshot" "$(ls .converge/snapshots/sg-* | wc -l)" "$(q sg.db 'SELECT count(*) FROM converge_runs')"
cv apply sg.plan.yaml --db sqlite:sg.db --now 2026-11-24T10:00:00Z
expect_rc "refused at the review too, before any question" 1
expect_in "by the guard" err.txt "plan refused by guard: role 'admin' would have 0 grants"
expect_not_in "not for want of a terminal" err.txt "--auto-approve"
cv apply sg.plan.yaml --db sqlite:sg.db --auto-approve -q --now 2026-11-24T08:00:00Z
expect_rc "apply FILE while eve is still valid passes the guard" 0
expect_eq "alice revoked, eve kept" "$(q sg.db "SELECT group_concat(subject) FROM rbac_grants")" eve
# A plan file without `guards` (as older ones are) has none to check.
grep -v -e '^guards:' -e '^  min_grants:' sg.plan.yaml >sg-old.plan.yaml
cv apply sg-old.plan.yaml --db sqlite:sg-old.db --auto-approve -q --now 2026-11-24T10:00:00Z
expect_rc "a plan file without guards is read and applied" 0

# ------------------------------------------------------- hostile names

manifest hostile.yaml <<'EOF'
version: 1
roles:
  "x\"; DROP TABLE rbac_grants; --":
    description: "it's; -- \"quoted\""
    permissions: [license:read]
  "Zoë Ünïcode": {}
  "--": {}
  ";": {}
  "a b": {inherits: ["--"]}
grants:
  - {subject: "o'brien@example.com", role: "x\"; DROP TABLE rbac_grants; --", scope: "a b"}
  - {subject: "x\"; DROP TABLE rbac_grants; --", role: "Zoë Ünïcode", scope: "'; DELETE FROM rbac_roles; --"}
  - {subject: "Zoë Ünïcode", role: "--", reason: "it's \"fine\"; --"}
  - {subject: "a b", role: ";", scope: "--"}
  - {subject: "--", role: "a b", scope: ";"}
  - {subject: ";", role: "a b"}
EOF
cv apply -m hostile.yaml --db sqlite:hostile.db --auto-approve
expect_rc "hostile names apply" 0
cat >want-grants.txt <<'EOF'
--|a b|;||
;|a b|||
Zoë Ünïcode|--|||it's "fine"; --
a b|;|--||
o'brien@example.com|x"; DROP TABLE rbac_grants; --|a b||
x"; DROP TABLE rbac_grants; --|Zoë Ünïcode|'; DELETE FROM rbac_roles; --||
EOF
q hostile.db "SELECT * FROM rbac_grants ORDER BY subject, role, scope" >got-grants.txt
expect_same "hostile grants stored verbatim" got-grants.txt want-grants.txt
cat >want-roles.txt <<'EOF'
--|
;|
Zoë Ünïcode|
a b|
x"; DROP TABLE rbac_grants; --|it's; -- "quoted"
EOF
q hostile.db "SELECT name, description FROM rbac_roles ORDER BY name" >got-roles.txt
expect_same "hostile roles stored verbatim" got-roles.txt want-roles.txt
expect_eq "hostile parent stored" "$(q hostile.db "SELECT role || '<' || parent FROM rbac_role_parents")" "a b<--"
expect_eq "every table is still there" \
	"$(q hostile.db "SELECT group_concat(name, ' ') FROM (SELECT name FROM sqlite_master WHERE type IN ('table', 'view') AND name LIKE 'rbac%' ORDER BY name)")" \
	"rbac_effective_permissions rbac_grants rbac_role_parents rbac_role_permissions rbac_roles"
expect_eq "effective permission of the hostile role" \
	"$(q hostile.db "SELECT permission FROM rbac_effective_permissions WHERE role = 'x\"; DROP TABLE rbac_grants; --'")" license:read
cv plan -m hostile.yaml --db sqlite:hostile.db --detailed-exitcode
expect_rc "hostile names re-plan with no changes" 0
cv rollback --db sqlite:hostile.db --auto-approve -q
expect_rc "hostile names roll back" 0
expect_eq "rollback removed every hostile row" "$(q hostile.db "SELECT (SELECT count(*) FROM rbac_grants) + (SELECT count(*) FROM rbac_roles)")" 0

manifest ctl.yaml <<'EOF'
version: 1
roles:
  viewer: {}
grants:
  - {subject: "bad\tname", role: viewer}
  - {subject: "", role: viewer}
EOF
cv plan -m ctl.yaml --db sqlite:ctl.db
expect_rc "control characters and empty names are refused" 1
expect_in "control character reported at its place" err.txt "ctl.yaml:5:15: error: subject 'bad\\x09name' contains a control character"
expect_in "empty subject reported too" err.txt "ctl.yaml:6:15: error: subject must not be empty"
expect_eq "nothing created" "$(ls ctl.db 2>/dev/null)" ""

# ------------------------------------------------------- 10,000 grants

{
	printf 'version: 1\nroles:\n  viewer: {permissions: [license:read]}\ngrants:\n'
	awk 'BEGIN { for (i = 0; i < 10000; i++) printf "  - {subject: \"user-%05d\", role: viewer, scope: \"t%d\"}\n", i, i % 7 }'
} >big.yaml
cv apply -m big.yaml --db sqlite:big.db --auto-approve -q
expect_rc "10,000 grants apply" 0
expect_eq "10,000 rows" "$(q big.db "SELECT count(*) FROM rbac_grants")" 10000
expect_eq "10,001 steps journaled" "$(q big.db "SELECT count(*) FROM converge_steps")" 10001
cv plan -m big.yaml --db sqlite:big.db --detailed-exitcode
expect_rc "re-plan of 10,000 grants: no changes" 0
expect_in "says no changes" out.txt "No changes"
cv apply -m big.yaml --db sqlite:big.db --auto-approve
expect_eq "second apply of 10,000 grants records no run" "$(q big.db "SELECT count(*) FROM converge_runs")" 1

# ------------------------------------------------------------ validation

manifest v/bad.yaml <<'EOF2'
version: 1
roles:
  a: {inherits: [b], permissions: ["license:*:read", "license::x", "has space", "*", "ok:*", "x.y-z_1:read"]}
  b: {inherits: [c]}
  c: {inherits: [a]}
  d: {inherits: [nosuch]}
grants:
  - {subject: y, role: ghost}
  - {subject: z, role: a, expires: "tomorrow"}
  - {role: a}
guards:
  min_grants: {ghost2: 1, a: -1}
EOF2
cv validate -m v/bad.yaml
expect_rc "invalid roles and grants: exit 1" 1
expect_in "wildcard only as the last segment" err.txt "v/bad.yaml:3:36: error: invalid permission 'license:*:read'"
expect_in "empty segment" err.txt "v/bad.yaml:3:54: error: invalid permission 'license::x'"
expect_in "space in a permission" err.txt "v/bad.yaml:3:68: error: invalid permission 'has space'"
expect_not_in "'*', 'ok:*' and 'x.y-z_1:read' are valid" err.txt "invalid permission 'ok:*'"
expect_in "cycle named in full" err.txt "v/bad.yaml:3:3: error: roles inherit in a cycle: a -> b -> c -> a"
expect_in "undefined parent" err.txt "v/bad.yaml:6:18: error: role 'd' inherits from undefined role 'nosuch'"
expect_in "grant of an undefined role" err.txt "v/bad.yaml:8:5: error: grant names undefined role 'ghost'"
expect_in "bad expiry" err.txt "v/bad.yaml:9:36: error: invalid timestamp 'tomorrow' for 'expires'"
expect_in "grant without subject" err.txt "v/bad.yaml:10:5: error: grant has no 'subject'"
expect_in "guard of an undefined role" err.txt "v/bad.yaml:12:16: error: guard names undefined role 'ghost2'"
expect_in "negative guard" err.txt "v/bad.yaml:12:30: error: min_grants for 'a' must not be negative"
expect_in "every error counted" err.txt "converge: 10 errors in the manifests; nothing was changed"

manifest v/d1.yaml <<'EOF2'
version: 1
roles:
  a: {}
grants:
  - {subject: x, role: a}
  - {subject: x, role: a, scope: ""}
EOF2
manifest v/d2.yaml <<'EOF2'
roles:
  a: {}
grants:
  - {subject: x, role: a}
  - {subject: x, role: a, scope: other}
EOF2
manifest v/d3.yaml <<'EOF2'
roles:
  a: {}
EOF2
cv validate -m v/d1.yaml -m v/d2.yaml -m v/d3.yaml
expect_rc "duplicates across files: exit 1" 1
expect_in "a role defined twice names the first place" err.txt "v/d2.yaml:2:3: error: role 'a' is defined twice (first at v/d1.yaml:3:3)"
expect_in "every later copy names the first place" err.txt "v/d3.yaml:2:3: error: role 'a' is defined twice (first at v/d1.yaml:3:3)"
expect_in "scope '' is no scope: a duplicate" err.txt "v/d1.yaml:6:5: error: grant of role 'a' to 'x' is defined twice (first at v/d1.yaml:5:5)"
expect_in "a third copy names the first too" err.txt "v/d2.yaml:4:5: error: grant of role 'a' to 'x' is defined twice (first at v/d1.yaml:5:5)"
expect_not_in "another scope is another grant" err.txt "on 'other'"
expect_in "four errors" err.txt "converge: 4 errors in the manifests"

# A plan refused by a guard is not saved.
cv plan -m guard.yaml --db $DB -o refused.plan.yaml
expect_rc "plan -o refused by a guard: exit 1" 1
expect_eq "no plan file written" "$(ls refused.plan.yaml* 2>/dev/null)" ""

# ---------------------------------------------------------------- inspect

# Names a YAML 1.1 or 1.2 resolver would type (booleans, numbers, nulls,
# timestamps) come out quoted, so that other tools read them as strings
# too: PyYAML would fold roles on, yes and true into one key True.
manifest typed.yaml <<'EOF'
version: 1
roles:
  "on": {permissions: [a:read]}
  "yes": {}
  "true": {}
  "123": {}
  "0x1F": {}
  "1:20": {}
  plain: {}
grants:
  - {subject: "true", role: "true", reason: "yes"}
  - {subject: "12345", role: "123", expires: 2030-01-01T00:00:00Z}
  - {subject: "null", role: "0x1F", scope: "2001-12-14"}
  - {subject: "~", role: "1:20", reason: ".inf"}
flags:
  "off": {enabled: true, tenants: {"NO": true}}
EOF
cv apply -m typed.yaml --db sqlite:typed.db --auto-approve -q
expect_rc "typed names: applied" 0
cv inspect --db sqlite:typed.db
cp out.txt typed.out.yaml
expect_in "inspect quotes a boolean name" typed.out.yaml '  "yes": {}'
expect_in "inspect quotes numbers and booleans in a grant" typed.out.yaml \
	'{subject: "12345", role: "123", expires: "2030-01-01T00:00:00Z"}'
expect_in "inspect leaves a plain name plain" typed.out.yaml '  plain: {}'
expect_eq "PyYAML reads every name and text back as a string" \
	"$(python3 -c 'import yaml
m = yaml.safe_load(open("typed.out.yaml"))
names = list(m["roles"]) + list(m["flags"]) + list(m["flags"]["off"]["tenants"])
for g in m["grants"]:
    names += [v for k, v in g.items()]
print(sorted(set(type(n).__name__ for n in names)), len(m["roles"]), len(m["grants"]))')" \
	"['str'] 7 4"
cv plan -m typed.out.yaml --db sqlite:typed.db --detailed-exitcode
expect_rc "inspect's quoted output plans as no changes" 0

# Invisible characters (zero-width space, right-to-left override) are
# stored verbatim (SPEC §6) but shown escaped in the review: a line that
# removes alice's grant must not read like the line that adds one back.
manifest inv/a.yaml <<'Y'
version: 1
roles: {admin: {}}
grants:
  - {subject: alice, role: admin}
Y
cv apply -m inv/a.yaml --db sqlite:inv.db --auto-approve -q
manifest inv/a.yaml <<'Y'
version: 1
roles: {admin: {}}
grants:
  - {subject: "al\u200Bice", role: admin}
  - {subject: "x\u202Eevil", role: admin}
Y
cv plan -m inv/a.yaml --db sqlite:inv.db
expect_in "the zero-width space is shown" out.txt '+ grant admin to al\u{200b}ice'
expect_in "so is the direction override" out.txt '+ grant admin to x\u{202e}evil'
expect_in "the removal reads differently" out.txt '- grant admin to alice'
cv apply -m inv/a.yaml --db sqlite:inv.db --auto-approve -q
expect_eq "the name is stored as written" "$(q inv.db "SELECT hex(subject) FROM rbac_grants WHERE subject LIKE 'al%'")" "616CE2808B696365"

# inspect writes what reads back as the same text: "${" in a value is
# written "$${" (read back, it is not a variable; keys are not expanded),
# and a grant expired at --now is left out, with a comment (it is absent;
# the next apply revokes it).  Two runs give the same bytes.
printf 'version: 1\nroles: {"${role}": {description: "a $${x} b"}, viewer: {}}\ngrants:\n  - {subject: "$${lit}", role: viewer, reason: "x$${y}"}\n' >lit.yaml
cv apply -m lit.yaml --db sqlite:lit.db --auto-approve -q
q lit.db "INSERT INTO rbac_grants VALUES ('old', 'viewer', '', '2020-01-01T00:00:00Z', 'expired')"
cv inspect --db sqlite:lit.db
cp out.txt lit-inspect.yaml
expect_in "a value with \${ is written \$\${" lit-inspect.yaml "subject: '\$\${lit}'"
expect_in "a key is written as it is" lit-inspect.yaml '  ${role}:'
expect_in "the expired grant is left out, with a comment" lit-inspect.yaml "# 1 grant expired at "
expect_not_in "not printed" lit-inspect.yaml "subject: old"
lit=elsewhere cv plan -m lit-inspect.yaml --db sqlite:lit.db --detailed-exitcode
expect_rc "read back, only the expired grant's revocation is planned" 2
expect_eq "that is the one change" "$(grep -c '^  [-+~]' out.txt) $(grep -c 'grant viewer to old' out.txt)" "1 1"
sleep 1
cv inspect --db sqlite:lit.db
expect_same "two runs at one --now, the same bytes" out.txt lit-inspect.yaml
