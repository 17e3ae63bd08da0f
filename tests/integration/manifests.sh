# Manifest loading and validation (SPEC §2, §6, §7): the exact error text
# for each kind of bad input (tests/fixtures/errors/*.txt), every error in
# one run, directories, several -m and standard input, ${NAME}, anchors
# and merge keys, YAML typing, exit codes; and that neither `plan` nor a
# refused `apply` creates or touches a database.
. "$TOP/tests/integration/lib.sh"
INVALID="$FIX/manifests/invalid"
ERRORS="$FIX/errors"
unset CONVERGE_TEST_UNSET_VAR

# The bad manifests are copied here so that the paths in the messages are
# the short relative ones of the golden files.
cp -R "$INVALID/." .

# run ARGS...: like cv, but with standard input from $STDIN (default
# /dev/null).
run() {
	"$CONVERGE" "$@" >out.txt 2>err.txt <"${STDIN:-/dev/null}"
	RC=$?
}

# golden NAME ARGS...: `validate ARGS` and `plan ARGS --db` both exit 1,
# print nothing on stdout, and print exactly errors/NAME.txt on stderr;
# neither creates the database, nor does `apply`.
golden() {
	name=$1
	shift
	run validate "$@"
	expect_rc "$name: validate exits 1" 1
	expect_eq "$name: validate prints nothing on stdout" "$(cat out.txt)" ""
	expect_same "$name: validate's errors are errors/$name.txt" err.txt "$ERRORS/$name.txt"
	run plan "$@" --db sqlite:never.db
	expect_rc "$name: plan exits 1" 1
	expect_same "$name: plan's errors are the same" err.txt "$ERRORS/$name.txt"
	run apply "$@" --db sqlite:never.db --auto-approve
	expect_rc "$name: apply exits 1" 1
	expect_same "$name: apply's errors are the same" err.txt "$ERRORS/$name.txt"
	expect_eq "$name: no database file was created" "$(ls never.db* 2>/dev/null)" ""
}

# ------------------------------------------------------ golden error texts

golden unknown-key -m unknown-key.yaml
golden unknown-section -m unknown-section.yaml
golden role-twice -m role-twice
golden grant-twice -m grant-twice
golden undefined-role -m undefined-role.yaml
golden cycle -m cycle.yaml
golden wrong-types -m wrong-types.yaml
golden boolean-yes -m boolean-yes/manifest.yaml
golden unset-env -m unset-env.yaml
golden bad-permission -m bad-permission.yaml
golden bad-expires -m bad-expires.yaml
golden control-char -m control-char.yaml
golden syntax -m syntax.yaml
golden two-documents -m two-documents.yaml
golden version-2 -m version-2.yaml
golden no-version -m no-version.yaml

# Every error, not just the first: three problems of three kinds in one
# file (an unknown key, a bad permission, an undefined role).
golden three-errors -m three-errors.yaml
expect_eq "three errors: three located error lines" \
	"$(grep -c '^three-errors\.yaml:[0-9]*:[0-9]*: error: ' err.txt)" 3
expect_eq "three errors: the count line" "$(tail -n 1 err.txt)" \
	"converge: 3 errors in the manifests; nothing was changed"

# No error hides another: a missing version next to an unknown key, and a
# grant's unknown key next to its undefined role, in file order.
printf 'roles:\n  a: {permisions: []}\n' >noversion-and-key.yaml
run validate -m noversion-and-key.yaml
expect_eq "a missing version is reported beside other errors" "$(grep ': error: ' err.txt)" \
	"noversion-and-key.yaml: error: no manifest says 'version: 1' (required in at least one file)
noversion-and-key.yaml:2:7: error: unknown key 'permisions' in a role (did you mean 'permissions'?)"
printf 'version: 1\nroles: {a: {}}\ngrants:\n  - {subject: z, role: nobody, scpe: x}\n  - {role: a, scpe: x, sbject: y}\n' >grant-errors.yaml
run validate -m grant-errors.yaml
expect_eq "a grant's every error, in the order of the file" "$(grep ': error: ' err.txt)" \
	"grant-errors.yaml:4:5: error: grant names undefined role 'nobody'
grant-errors.yaml:4:32: error: unknown key 'scpe' in a grant (did you mean 'scope'?)
grant-errors.yaml:5:5: error: grant has no 'subject'
grant-errors.yaml:5:15: error: unknown key 'scpe' in a grant (did you mean 'scope'?)
grant-errors.yaml:5:24: error: unknown key 'sbject' in a grant (did you mean 'subject'?)"

# An unset variable does not hide the errors of other sections, nor does
# an unknown top-level key: every section of every file is loaded and
# reports its own errors.  (The loader reports in the order of the
# sections, not of the file; its errors were once matched against the
# parser's as if in file order, and one was dropped as a repeat.)
manifest hidden.yaml <<'EOF'
version: 1
roles:
  viewer:
    permisions: [license:read]
grants:
  - {subject: "${CONVERGE_TEST_UNSET_VAR}", role: viewer}
schemaa: {}
EOF
run validate -m hidden.yaml
expect_rc "an unset variable and an unknown key: exit 1" 1
expect_eq "they hide no other section's error" "$(cat err.txt)" \
	"hidden.yaml:4:5: error: unknown key 'permisions' in a role (did you mean 'permissions'?)
        permisions: [license:read]
        ^
hidden.yaml:6:15: error: environment variable 'CONVERGE_TEST_UNSET_VAR' is not set
      - {subject: \"\${CONVERGE_TEST_UNSET_VAR}\", role: viewer}
                  ^
hidden.yaml:7:1: error: unknown key 'schemaa' in the manifest (did you mean 'schema'?)
    schemaa: {}
    ^
converge: 3 errors in the manifests; nothing was changed"

# A file that does not parse may define any name: the other files' names
# are not reported undefined (plans 'nope' and 'nope2', module 'zzz' are
# in it), but their errors that stand on their own are; the count is what
# is printed, and a note says why no name was looked up.
manifest unparsed/a.yaml <<'EOF'
version: 1
entitlements:
  modules:
    zzz: {}
    crm: {submodules: [leads, campaigns}
  plans:
    nope: [crm]
    nope2: [zzz]
EOF
manifest unparsed/b.yaml <<'EOF'
entitlements:
  orgs:
    acme: {plan: nope}
    beta: {plan: nope2, modules: {zzz: enabled}}
    gamma: {plan: [nope], modules: {zzz: on}}
grants:
  - {subject: x, role: admin, scpe: y}
EOF
printf 'roles: {viewer: {}}\n' >unparsed/c.yaml
run validate -m unparsed
expect_rc "a file that does not parse: exit 1" 1
expect_eq "names it may define are not reported undefined elsewhere" "$(cat err.txt)" \
	"unparsed/a.yaml:5:40: error: while parsing a flow sequence: did not find expected ',' or ']'
        crm: {submodules: [leads, campaigns}
                                           ^
unparsed/b.yaml:5:19: error: expected a string for 'plan', got a list
        gamma: {plan: [nope], modules: {zzz: on}}
                      ^
unparsed/b.yaml:5:42: error: org 'gamma': 'zzz' must be 'enabled' or 'disabled', not 'on'
        gamma: {plan: [nope], modules: {zzz: on}}
                                             ^
unparsed/b.yaml:7:31: error: unknown key 'scpe' in a grant (did you mean 'scope'?)
      - {subject: x, role: admin, scpe: y}
                                  ^
converge: note: undefined names are not reported: a manifest that could not be read may define them
converge: 4 errors in the manifests; nothing was changed"
sed 's/campaigns}/campaigns]}/; s/nope2:/nope3:/' unparsed/a.yaml >a.tmp &&
	mv a.tmp unparsed/a.yaml
run validate -m unparsed
expect_eq "once it parses, names are looked up in it" "$(grep -e ': error: ' -e 'note:' err.txt)" \
	"unparsed/b.yaml:4:18: error: org 'beta' names undefined plan 'nope2' (did you mean 'nope'?)
unparsed/b.yaml:5:19: error: expected a string for 'plan', got a list
unparsed/b.yaml:5:42: error: org 'gamma': 'zzz' must be 'enabled' or 'disabled', not 'on'
unparsed/b.yaml:7:5: error: grant names undefined role 'admin'
unparsed/b.yaml:7:31: error: unknown key 'scpe' in a grant (did you mean 'scope'?)"

# So with a section that cannot be read: misspelt, of the wrong type, or
# written twice in one file.  A role whose body is of the wrong type is
# still defined, and one that is not defined anywhere is still reported.
printf 'version: 1\nroles: {a: {}}\ngrants: [{subject: x, role: admin}]\nrolez: {admin: {}}\n' >unread1.yaml
printf 'version: 1\nroles: [admin]\ngrants: [{subject: x, role: admin}]\n' >unread2.yaml
printf 'version: 1\nroles: {a: {}}\ngrants: [{subject: x, role: admin}]\nroles: {admin: {}}\n' >unread3.yaml
printf 'version: 1\nroles: {a: {}, admin: [x]}\ngrants: [{subject: x, role: admin}, {subject: x, role: b}]\n' >unread4.yaml
for f in unread1 unread2 unread3; do
	run validate -m $f.yaml
	expect_eq "$f: its one error, and no undefined role" "$(grep -c ': error: ' err.txt) $(grep -c 'undefined role' err.txt)" "1 0"
done
run validate -m unread4.yaml
expect_eq "a role of the wrong type is defined, an absent one is not" "$(grep ': error: ' err.txt)" \
	"unread4.yaml:2:23: error: expected a mapping for 'admin', got a list
unread4.yaml:3:37: error: grant names undefined role 'b'"

# A value whose variable is not set is not the user's text: it is not
# checked any further (no undefined role or plan '${…}', no revision
# '${…}' in '${…}'), and the names written elsewhere still are.
manifest unsetref/m.yaml <<'EOF'
version: 1
roles: {viewer: {}}
grants:
  - {subject: a, role: "${CONVERGE_TEST_UNSET_VAR}"}
  - {subject: b, role: nobody}
entitlements:
  plans: {pro: []}
  orgs:
    a: {plan: "${CONVERGE_TEST_UNSET_VAR}"}
    b: {plan: pr}
schema: {migrations: "${CONVERGE_TEST_UNSET_VAR}", version: "${CONVERGE_TEST_UNSET_VAR}"}
EOF
run validate -m unsetref/m.yaml
expect_eq "an unset value is reported once, other names still are" "$(grep ': error: ' err.txt)" \
	"unsetref/m.yaml:4:24: error: environment variable 'CONVERGE_TEST_UNSET_VAR' is not set
unsetref/m.yaml:5:5: error: grant names undefined role 'nobody'
unsetref/m.yaml:9:15: error: environment variable 'CONVERGE_TEST_UNSET_VAR' is not set
unsetref/m.yaml:10:15: error: org 'b' names undefined plan 'pr' (did you mean 'pro'?)
unsetref/m.yaml:11:22: error: environment variable 'CONVERGE_TEST_UNSET_VAR' is not set
unsetref/m.yaml:11:61: error: environment variable 'CONVERGE_TEST_UNSET_VAR' is not set"
expect_eq "the count is what is printed" "$(tail -n 1 err.txt)" \
	"converge: 6 errors in the manifests; nothing was changed"
manifest unsetrev/m.yaml <<'EOF'
version: 1
schema: {migrations: mig, version: "${CONVERGE_TEST_UNSET_VAR}"}
EOF
manifest unsetrev/mig/r1.yaml <<'EOF'
id: r1
up: SELECT 1
EOF
run validate -m unsetrev/m.yaml
expect_eq "an unset version is not looked up among the revisions" "$(grep -e ': error: ' -e 'note:' err.txt)" \
	"unsetrev/m.yaml:2:36: error: environment variable 'CONVERGE_TEST_UNSET_VAR' is not set"

# An unterminated flow sequence: libyaml places it past the last line;
# it is shown at the end of the last line, with its caret.
printf 'version: 1\nroles: [a,\n  b\n' >mal.yaml
run validate -m mal.yaml
expect_eq "an error at the end of the stream is placed on the last line" "$(cat err.txt)" \
	"mal.yaml:3:4: error: while parsing a flow sequence at line 2, column 8: did not find expected ',' or ']'
      b
       ^
converge: 1 error in the manifests; nothing was changed"

# Bytes that are not a manifest at all.
: >empty.yaml
golden empty -m empty.yaml
printf 'version: 1\nroles:\n  viewer: {}\n  vie\000wer: {}\n' >nul.yaml
golden nul -m nul.yaml
printf 'version: 1\nroles:\n  caf\303\251: {}\n  bad\377name: {}\n' >utf8.yaml
golden utf8 -m utf8.yaml

# A UTF-8 byte order mark (Windows editors write one) is not content: a
# file of several lines reads, and columns and carets count from after it.
printf '\357\273\277version: 1\nroles: {a: {}}\n' >bom.yaml
run validate -m bom.yaml
expect_rc "a byte order mark: the file validates" 0
printf '\357\273\277roles: {a: {permisions: []}}\nversion: 1\n' >bom-error.yaml
run validate -m bom-error.yaml
expect_eq "a byte order mark: the column and caret of line 1 leave it out" \
	"$(cat err.txt)" "bom-error.yaml:1:13: error: unknown key 'permisions' in a role (did you mean 'permissions'?)
    roles: {a: {permisions: []}}
                ^
converge: 1 error in the manifests; nothing was changed"
# A UTF-16 file is named as such, not as an invalid UTF-8 byte.
printf '\377\376v\000:\000' >u16.yaml
run validate -m u16.yaml
expect_rc "a UTF-16 file: exit 1" 1
expect_in "it says UTF-16" err.txt "'u16.yaml' is UTF-16 (it starts with a UTF-16 byte-order mark); converge reads manifests in UTF-8"
# A manifest in a directory that cannot be read is an error, not a file
# that is not there: a symbolic link whose target is gone would drop its
# grants from the whole truth, and the plan would revoke them.
mkdir -p dangling/m
printf 'version: 1\nroles: {admin: {}}\ngrants: [{subject: alice, role: admin}]\n' >dangling/m/a.yaml
ln -s ../gone.yaml dangling/m/oncall.yaml
run validate -m dangling/m
expect_rc "a dangling link to a manifest: exit 1" 1
expect_in "it is named" err.txt "cannot read 'dangling/m/oncall.yaml': No such file or directory (a symbolic link whose target is missing)"
# The first bytes of a gzip file.
printf '\037\213\010\000\000\000\000\000\000\003\313H\315\311\311W(\317/\312I\341\002\000' >garbage.yaml
golden garbage -m garbage.yaml

# Random bytes: one located error and the count, whatever the bytes are.
head -c 4096 /dev/urandom >random.yaml
run validate -m random.yaml
expect_rc "random bytes: exit 1" 1
expect_eq "random bytes: one located error" \
	"$(grep -c '^random\.yaml:[0-9]*:[0-9]*: error: ' err.txt)" 1
expect_eq "random bytes: the count line" "$(tail -n 1 err.txt)" \
	"converge: 1 error in the manifests; nothing was changed"

# Over the 256 MiB limit: refused from its size, without reading it.
truncate -s 300M huge.yaml
start=$(date +%s)
golden huge -m huge.yaml
end=$(date +%s)
expect_eq "huge file: refused within 2 seconds (three runs)" \
	"$([ $((end - start)) -le 2 ] && echo quick || echo "$((end - start)) s")" quick
rm -f huge.yaml

# ------------------------------------------------------------ directories

# -m DIR: every *.yaml and *.yml below it, in sorted path order; hidden
# files and folders, other extensions, and the migrations folder a
# manifest names are not manifests.  The revisions would not be valid
# manifests (unknown keys, an unset ${} in their SQL).
manifest tree/00-version.yaml <<'EOF'
version: 1
schema:
  migrations: db/migrations
EOF
manifest tree/roles.yaml <<'EOF'
roles:
  viewer: {permissions: [license:read]}
  editor: {inherits: [viewer], permissions: [license:generate]}
EOF
manifest tree/people/humans.yml <<'EOF'
grants:
  - {subject: alice, role: viewer}
EOF
manifest tree/people/bots/ci.yaml <<'EOF'
grants:
  - {subject: ci-bot, role: editor, scope: "tenant:acme"}
EOF
manifest tree/db/migrations/0001.yaml <<'EOF'
id: "0001"
description: Templates keep ${NAME} placeholders
up: "CREATE TABLE templates (body TEXT NOT NULL DEFAULT '${CONVERGE_TEST_UNSET_VAR}')"
down: DROP TABLE templates
EOF
manifest tree/.hidden.yaml <<'EOF'
roles: {hidden: {}}
EOF
manifest tree/.drafts/x.yaml <<'EOF'
nonsense: [
EOF
manifest tree/notes.txt <<'EOF'
roles: {notes: {}}
EOF
manifest tree/roles.yaml.orig <<'EOF'
roles: {orig: {}}
EOF

run validate -m tree
expect_rc "a directory validates" 0
expect_eq "only the manifests and the revision are read" "$(cat out.txt)" \
	"ok: 5 files valid (2 roles, 2 grants, 1 revision)"
run plan -m tree --db sqlite:tree.db
expect_rc "a directory plans" 0
cat >expected.txt <<'EOF'
converge plan for sqlite:tree.db
schema: base -> 0001 (converge_schema_version)

  ↑ revision 0001: Templates keep ${NAME} placeholders
  + role editor: inherits viewer; permissions license:generate
  + role viewer: permissions license:read
  + grant viewer to alice
  + grant editor to ci-bot on tenant:acme

Plan: 4 to add, 0 to change, 0 to remove, 1 revision up, 0 down.
EOF
expect_same "sections merge across the files of a directory" out.txt expected.txt
run plan -m tree/ --db sqlite:tree.db
expect_same "a trailing slash reads the same" out.txt expected.txt
expect_eq "plan created no database" "$(ls tree.db 2>/dev/null)" ""

# A symbolic link back up the tree is not followed round and round.
ln -s .. tree/people/up
run validate -m tree
expect_eq "a looping symbolic link reads each file once" "$(cat out.txt)" \
	"ok: 5 files valid (2 roles, 2 grants, 1 revision)"
rm tree/people/up

# The order files are read in shows in the order of their errors.
for f in b.yaml a/z.yml a.yaml C.yaml a-b.yaml; do
	manifest "order/$f" <<EOF
roles: {r: {bogus: 1}}
EOF
done
run validate -m order
expect_eq "files are read in sorted path order" \
	"$(sed -n "s/:[0-9]*:[0-9]*: error: unknown key 'bogus' in a role\$//p" err.txt | tr '\n' ' ')" \
	"order/C.yaml order/a-b.yaml order/a.yaml order/a/z.yml order/b.yaml "
expect_in "a role defined again names where it was first" err.txt \
	"order/a-b.yaml:1:9: error: role 'r' is defined twice (first at order/C.yaml:1:9)"

# A section or a name defined again in another file names the first
# place it was defined at: its key, not a value inside it (the schema
# section took the place of its `version` value), and the first file,
# not the one before, for a third copy.
manifest twice/mig/r1.yaml <<'EOF'
id: r1
up: SELECT 1;
EOF
printf 'version: 1\nschema:\n  migrations: mig\n  version: head\n' >twice/a.yaml
printf 'schema:\n  migrations: mig\n  version: r1\n' >twice/b.yaml
run validate -m twice
expect_eq "a schema section defined twice names the first one's key" "$(cat err.txt)" \
	"twice/b.yaml:1:1: error: section 'schema' is defined twice (first at twice/a.yaml:2:1)
    schema:
    ^
converge: 1 error in the manifests; nothing was changed"
printf 'schema:\n  migrations: mig\n  verison: r1\n' >twice/b.yaml
run validate -m twice
expect_eq "the second is checked all the same" "$(grep ': error: ' err.txt)" \
	"twice/b.yaml:1:1: error: section 'schema' is defined twice (first at twice/a.yaml:2:1)
twice/b.yaml:3:3: error: unknown key 'verison' in schema (did you mean 'version'?)"
rm -r twice
manifest twice/a.yaml <<'EOF'
version: 1
roles: {r: {}}
grants: []
flags: {f: {}}
checks: {c: {sql: SELECT 1, expect: 1}}
entitlements: {modules: {m: {}}, plans: {p: []}, orgs: {o: {}}}
guards: {min_grants: {r: 1}}
store: {grants: {table: t, subject: s, role: r}}
postgres: {roles: {pr: {}}, rls: {public.t: {}}}
EOF
sed 1d twice/a.yaml >twice/b.yaml
sed 1d twice/a.yaml >twice/c.yaml
run validate -m twice
expect_eq "a third copy names the first place, each name once" \
	"$(sed -n 's/^twice\/c\.yaml:\([0-9:]*\): error: \(.*\)/\1 \2/p' err.txt)" \
	"1:9 role 'r' is defined twice (first at twice/a.yaml:2:9)
3:9 flag 'f' is defined twice (first at twice/a.yaml:4:9)
4:10 check 'c' is defined twice (first at twice/a.yaml:5:10)
5:26 module 'm' is defined twice (first at twice/a.yaml:6:26)
5:42 plan 'p' is defined twice (first at twice/a.yaml:6:42)
5:57 org 'o' is defined twice (first at twice/a.yaml:6:57)
6:23 guard min_grants for role 'r' is defined twice (first at twice/a.yaml:7:23)
7:9 store for 'grants' is defined twice (first at twice/a.yaml:8:9)
8:20 PostgreSQL role 'pr' is defined twice (first at twice/a.yaml:9:20)
8:35 rls: table 'public.t' is defined twice (first at twice/a.yaml:9:35)"

mkdir nothing
run validate -m nothing
expect_rc "a directory without manifests: exit 1" 1
expect_eq "it says so, and only that" "$(cat err.txt)" "converge: error: no *.yaml or *.yml files in 'nothing'
converge: 1 error in the manifests; nothing was changed"

run validate -m missing.yaml
expect_rc "a missing file: exit 1" 1
expect_in "it names the file" err.txt "converge: error: cannot read 'missing.yaml': No such file or directory"

# Several -m, and -m - for standard input, merge like files of a folder.
manifest more/admins.yaml <<'EOF'
roles:
  admin: {inherits: [editor]}
grants:
  - {subject: root, role: admin}
EOF
run validate -m tree/00-version.yaml -m tree/roles.yaml -m tree/people -m more
expect_eq "several -m merge" "$(cat out.txt)" "ok: 6 files valid (3 roles, 3 grants, 1 revision)"
STDIN=more/admins.yaml run plan -m tree/roles.yaml -m - -m tree/00-version.yaml --db sqlite:tree.db
expect_rc "-m - reads standard input" 0
expect_in "stdin's role is planned" out.txt "  + role admin: inherits editor"
expect_in "stdin's grant is planned" out.txt "  + grant admin to root"
printf 'grants:\n  - {subject: x, role: nobody}\n' >stdin.yaml
STDIN=stdin.yaml run validate -m tree -m -
expect_rc "an error on standard input: exit 1" 1
expect_in "standard input is named <stdin>" err.txt "<stdin>:2:5: error: grant names undefined role 'nobody'"
STDIN=stdin.yaml run validate -m - -m -
expect_rc "standard input twice is a usage error" 64
expect_in "it says so" err.txt "converge: error: '-' (standard input) given twice"

# version: 1 in one file is enough; in none is an error.
run validate -m tree/roles.yaml -m tree/people
expect_rc "no 'version: 1' anywhere: exit 1" 1
expect_eq "it names the first file" "$(head -n 1 err.txt)" \
	"tree/roles.yaml: error: no manifest says 'version: 1' (required in at least one file)"

# ----------------------------------------------------- ${NAME} and $${

manifest env.yaml <<'EOF'
version: 1
roles:
  viewer: {description: "Owned by ${CONVERGE_TEST_TEAM} (not $${CONVERGE_TEST_TEAM})"}
grants:
  - {subject: "${CONVERGE_TEST_SUBJECT}", role: viewer}
  - {subject: "$${HOME}", role: viewer}
  - {subject: "cost: $5", role: viewer}
EOF
CONVERGE_TEST_SUBJECT="o'brien@example.com" CONVERGE_TEST_TEAM=licensing \
	run apply -m env.yaml --db sqlite:env.db --auto-approve -q
expect_rc "a manifest with variables applies" 0
expect_eq "the subject came from the environment, \$\${ is a literal \${, a lone \$ is kept" \
	"$(q env.db 'SELECT subject FROM rbac_grants ORDER BY subject')" \
	"\${HOME}
cost: \$5
o'brien@example.com"
expect_eq "variables inside a longer string" \
	"$(q env.db "SELECT description FROM rbac_roles WHERE name = 'viewer'")" \
	"Owned by licensing (not \${CONVERGE_TEST_TEAM})"
CONVERGE_TEST_SUBJECT="o'brien@example.com" CONVERGE_TEST_TEAM=licensing \
	run plan -m env.yaml --db sqlite:env.db
expect_in "the same environment: no changes" out.txt "No changes."
CONVERGE_TEST_SUBJECT=someone-else CONVERGE_TEST_TEAM=licensing \
	run plan -m env.yaml --db sqlite:env.db
expect_in "another value: the plan grants it" out.txt "  + grant viewer to someone-else"
expect_in "... and revokes the old one" out.txt "  - grant viewer to o'brien@example.com"
CONVERGE_TEST_SUBJECT="$(printf 'bell\007')" CONVERGE_TEST_TEAM=licensing \
	run validate -m env.yaml
expect_rc "a control character from the environment: exit 1" 1
expect_in "it is reported where the variable is" err.txt \
	"env.yaml:5:15: error: control character in string (U+0007, from the environment)"

# ------------------------------------------ anchors, aliases, merge keys

manifest anchors.yaml <<'EOF'
version: 1
roles:
  reader: &reader
    description: Reads licenses
    permissions: &read [license:read, license:usage:read]
  support:
    <<: *reader
    description: Support desk
  auditor:
    <<: *reader
    permissions: [system:audit]
  writer:
    inherits: [reader]
    permissions: *read
grants:
  - &ci {subject: ci-bot, role: support}
  - {<<: *ci, scope: "tenant:acme"}
EOF
run apply -m anchors.yaml --db sqlite:anchors.db --auto-approve -q
expect_rc "anchors and merge keys apply" 0
expect_eq "a merge key brings the keys not written, the written ones win" \
	"$(q anchors.db "SELECT name || ': ' || description FROM rbac_roles ORDER BY name")" \
	"auditor: Reads licenses
reader: Reads licenses
support: Support desk
writer: "
expect_eq "permissions through the merge key and through an alias" \
	"$(q anchors.db "SELECT role || ' ' || group_concat(permission, ',') FROM (SELECT * FROM rbac_role_permissions ORDER BY role, permission) GROUP BY role")" \
	"auditor system:audit
reader license:read,license:usage:read
support license:read,license:usage:read
writer license:read,license:usage:read"
expect_eq "a merged grant is a grant of its own" \
	"$(q anchors.db "SELECT subject || '|' || role || '|' || scope FROM rbac_grants ORDER BY scope")" \
	"ci-bot|support|
ci-bot|support|tenant:acme"

# --------------------------------------------------------- YAML typing

# Keys are strings: `on`, `yes`, `null` are role names.  Names and ids
# that look like numbers stay the text written: 007, 1e3, 0x1F, 0123.
manifest typing/manifest.yaml <<'EOF'
version: 1
schema:
  migrations: migrations
  version: 0123
roles:
  on: {}
  yes: {inherits: [on]}
  null: {}
  007: {inherits: [yes]}
  1e3: {}
  0x1F: {}
grants:
  - {subject: 12, role: 007}
  - {subject: 1.50, role: on, scope: 010}
EOF
manifest typing/migrations/a.yaml <<'EOF'
id: 0123
up: CREATE TABLE t0123 (x TEXT)
down: DROP TABLE t0123
EOF
manifest typing/migrations/b.yaml <<'EOF'
id: 1.10
parent: 0123
up: CREATE TABLE t110 (x TEXT)
down: DROP TABLE t110
EOF
run plan -m typing/manifest.yaml --db sqlite:typing.db
expect_rc "number-like names plan" 0
cat >expected.txt <<'EOF'
converge plan for sqlite:typing.db
schema: base -> 0123 (converge_schema_version)

  ↑ revision 0123
  + role 007: inherits yes
  + role 0x1F
  + role 1e3
  + role null
  + role on
  + role yes: inherits on
  + grant on to 1.50 on 010
  + grant 007 to 12

Plan: 8 to add, 0 to change, 0 to remove, 1 revision up, 0 down.
EOF
expect_same "names are the text written" out.txt expected.txt
run apply -m typing/manifest.yaml --db sqlite:typing.db --auto-approve -q
expect_rc "number-like names apply" 0
expect_eq "roles stored as text" \
	"$(q typing.db "SELECT group_concat(name || ':' || typeof(name), ' ') FROM (SELECT name FROM rbac_roles ORDER BY name)")" \
	"007:text 0x1F:text 1e3:text null:text on:text yes:text"
expect_eq "the revision id keeps its leading zero" \
	"$(q typing.db 'SELECT version || ":" || typeof(version) FROM converge_schema_version')" "0123:text"
expect_eq "grants stored as text" \
	"$(q typing.db "SELECT group_concat(subject || '|' || role || '|' || scope, ' ') FROM (SELECT * FROM rbac_grants ORDER BY subject)")" \
	"1.50|on|010 12|007|"
sed 's/version: 0123/version: 1.10/' typing/manifest.yaml >typing/up.yaml
run plan -m typing/up.yaml --db sqlite:typing.db
expect_in "1.10 is not 1.1" out.txt "schema: 0123 -> 1.10 (converge_schema_version)"

# A boolean field takes true/false only (the revision's transaction).
for word in yes no on off True 1; do
	manifest "bools/$word/m.yaml" <<'EOF'
version: 1
schema: {migrations: migrations}
EOF
	manifest "bools/$word/migrations/r.yaml" <<EOF
id: r
up: SELECT 1
transaction: $word
EOF
	run validate -m "bools/$word/m.yaml"
	expect_in "transaction: $word is refused" err.txt \
		"bools/$word/migrations/r.yaml:3:14: error: expected true or false for 'transaction', got '$word'"
done

# ---------------------------------------------------------- exit codes

manifest ok.yaml <<'EOF'
version: 1
roles: {viewer: {}}
EOF
run validate
expect_rc "validate without -m: 64" 64
expect_in "says what is missing" err.txt "converge: usage error: no manifests given (use -m PATH)"
run plan --db sqlite:x.db
expect_rc "plan without -m: 64" 64
run validate -m ok.yaml --bogus
expect_rc "unknown option: 64" 64
expect_in "names the option" err.txt "converge: usage error: unknown option '--bogus'"
run frobnicate -m ok.yaml
expect_rc "unknown verb: 64" 64
expect_in "names the verb" err.txt "converge: 'frobnicate' is not a converge verb"
run plan -m ok.yaml --db sqlite:x.db --now yesterday
expect_rc "--now garbage: 64" 64
expect_in "names the value" err.txt "invalid timestamp 'yesterday' for --now/CONVERGE_NOW"
CONVERGE_NOW=garbage run plan -m ok.yaml --db sqlite:x.db
expect_rc "CONVERGE_NOW garbage: 64" 64
run plan -m ok.yaml --db sqlite:x.db --format bogus
expect_rc "--format bogus: 64" 64
expect_in "names the format" err.txt "unknown format 'bogus' (expected text, json or markdown)"
run validate -m
expect_rc "-m without a value: 64" 64
run validate -m ok.yaml extra
expect_rc "an extra argument: 64" 64
run validate -m ok.yaml
expect_rc "a valid manifest: 0" 0
expect_eq "says what it read" "$(cat out.txt)" "ok: 1 file valid (1 role, 0 grants, 0 revisions)"
run validate -m ok.yaml -m unknown-key.yaml
expect_rc "an invalid manifest among valid ones: 1" 1
expect_eq "no database file from any of these" "$(ls x.db 2>/dev/null)" ""

# -------------------------------------------- plan never creates or writes

run plan -m ok.yaml --db sqlite:fresh.db
expect_rc "plan of a missing database: 0" 0
expect_eq "plan does not create it" "$(ls fresh.db* 2>/dev/null)" ""
run apply -m ok.yaml --db sqlite:fresh.db --auto-approve -q
expect_rc "apply creates it" 0
cp fresh.db fresh.before
run plan -m ok.yaml --db sqlite:fresh.db
expect_rc "plan against it: 0" 0
expect_same "plan leaves it byte-for-byte" fresh.db fresh.before
run apply -m ok.yaml -m three-errors.yaml --db sqlite:fresh.db --auto-approve
expect_rc "apply of invalid manifests: 1" 1
expect_same "a refused apply leaves it byte-for-byte" fresh.db fresh.before
expect_eq "and takes no snapshot" "$(ls .converge/snapshots | grep -c '^fresh-')" 1

# Lines end where YAML says they do: a lone CR (old Mac files) or U+2028
# breaks a line for libyaml, so the caret finds the line it names.
printf 'version: 1\rroles:\r  a: {inherits: [zz]}\r' >cr.yaml
run validate -m cr.yaml
expect_rc "a file with CR line ends: its error" 1
expect_eq "is placed and shown with its caret" "$(cat err.txt)" "cr.yaml:3:18: error: role 'a' inherits from undefined role 'zz'
      a: {inherits: [zz]}
                     ^
converge: 1 error in the manifests; nothing was changed"

# ------------------------------------------------- streamed grants
# The entries of `grants:` are loaded as the parser reads them and then
# forgotten (a million grants are not a million subtrees at once); a list
# that is itself anchored stays a tree.  Both must say exactly the same:
# the same errors at the same places, the same plan.  `grants: &all` on
# the key's own line leaves every place unchanged.
mkdir -p stream
cat >stream/base.yaml <<'EOF2'
version: 1
roles:
  viewer: {description: &v viewer}
  editor: {inherits: [viewer]}
GRANTS
  - {subject: alice, role: viewer}
  - {subject: bob, role: editr}
  - {subject: "tab	here", role: viewer}
  - {subject: carol, role: viewer, expires: "not a date"}
  - {subject: dave, role: viewer, colour: blue}
  - {role: editor}
  - just a string
  - {subject: alice, role: viewer}
  - {subject: erin, <<: {role: *v}}
  - {subject: frank, role: viewer, scope: "${CONVERGE_TEST_UNSET_VAR}"}
  - {subject: gina, role: viewer, subject: twice}
  - {subject: hugo, role: editor, reason: "INC-1", expires: "2030-01-01T00:00:00Z"}
  - &later {subject: ivan, role: viewer}
  - {subject: jane, role: viewer, scope: "tenant:a"}
  - *later
EOF2
sed 's/^GRANTS$/grants:/' stream/base.yaml >stream/streamed.yaml
sed 's/^GRANTS$/grants: \&all/' stream/base.yaml >stream/tree.yaml
run validate -m stream/streamed.yaml
expect_rc "a bad list, streamed: exit 1" 1
sed 's|stream/streamed\.yaml|FILE|g' err.txt >stream/streamed.err
run validate -m stream/tree.yaml
expect_rc "a bad list, kept as a tree: exit 1" 1
sed 's|stream/tree\.yaml|FILE|g' err.txt >stream/tree.err
expect_same "streamed grants report exactly what a tree of them does" stream/streamed.err stream/tree.err
expect_in "errors of streamed entries are reported at their place" stream/streamed.err \
	"FILE:7:5: error: grant names undefined role 'editr' (did you mean 'editor'?)"
expect_in "and an alias to a kept entry is still a duplicate" stream/streamed.err \
	"FILE:20:5: error: grant of role 'viewer' to 'ivan' is defined twice (first at FILE:18:5)"
# The same for good lists: the same plan, and several files in order.
for f in streamed tree; do
	grep -v -e editr -e 'tab' -e 'not a date' -e colour -e '{role: editor}' \
		-e 'just a' -e '^  - {subject: alice, role: viewer}$' -e UNSET \
		-e twice -e '^  - \*later' stream/$f.yaml >stream/good-$f.yaml
done
printf 'grants:\n  - {subject: zed, role: editor}\n' >stream/more.yaml
run plan -m stream/good-streamed.yaml -m stream/more.yaml --db sqlite:stream.db
expect_rc "streamed, from two files: planned" 0
cp out.txt stream/streamed.plan
run plan -m stream/good-tree.yaml -m stream/more.yaml --db sqlite:stream.db
expect_same "the same plan as from a tree" out.txt stream/streamed.plan
expect_in "with every grant" out.txt "+ grant viewer to erin"
expect_in "of both files" out.txt "+ grant editor to zed"
