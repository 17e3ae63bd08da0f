# Feature flags: switched off first and on last, in `requires` order;
# per-tenant overrides; rollback in the reverse order; bad input.
. "$TOP/tests/integration/lib.sh"

manifest m/flags.yaml <<'Y'
version: 1
flags:
  catalog_v2_columns: {enabled: true}
  catalog_api_v2: {enabled: true, requires: [catalog_v2_columns], description: "API v2"}
  rls_enabled: {enabled: false, tenants: {acme: true}}
Y
cv validate -m m
expect_eq "validate counts the flags" "$OUT" "ok: 1 file valid (0 roles, 0 grants, 0 revisions, 3 flags)"
cv plan -m m --db sqlite:f.db
expect_rc "plan exits 0" 0
expect_eq "flags that turn on come last, required ones first" \
	"$(grep -n 'flag' out.txt | sed 's/^\([0-9]*\):  \(.\) flag \([^:]*\).*/\2 \3/' | tr '\n' '|')" \
	"+ rls_enabled|+ catalog_v2_columns|+ rls_enabled for acme|+ catalog_api_v2|"
cv apply -m m --db sqlite:f.db --auto-approve
expect_rc "apply exits 0" 0
expect_eq "flags stored" "$(q f.db "SELECT name || '=' || enabled FROM feature_flags ORDER BY name" | tr '\n' ' ')" \
	"catalog_api_v2=1 catalog_v2_columns=1 rls_enabled=0 "
expect_eq "description stored" "$(q f.db "SELECT description FROM feature_flags WHERE name = 'catalog_api_v2'")" "API v2"
expect_eq "tenant override stored" "$(q f.db "SELECT flag || ' ' || tenant || ' ' || enabled FROM feature_flag_tenants")" "rls_enabled acme 1"
# docs/storage.md: keyed tables are WITHOUT ROWID on SQLite, as the
# other kinds' tables are.
expect_eq "both flag tables are WITHOUT ROWID" \
	"$(q f.db "SELECT name FROM sqlite_master WHERE name LIKE 'feature_flag%' AND sql LIKE '%WITHOUT ROWID' ORDER BY name" | tr '\n' ' ')" \
	"feature_flag_tenants feature_flags "
cv apply -m m --db sqlite:f.db --auto-approve
expect_in "re-apply changes nothing" out.txt "No changes"

manifest m/flags.yaml <<'Y'
version: 1
flags:
  catalog_v2_columns: {enabled: false}
  catalog_api_v2: {enabled: false, requires: [catalog_v2_columns], description: "API v2"}
  rls_enabled: {enabled: false, tenants: {acme: false, globex: true}}
Y
cv plan -m m --db sqlite:f.db
expect_eq "flags that turn off come first, dependents before what they require" \
	"$(grep 'flag' out.txt | sed 's/^  \(.\) flag \([^:]*\).*/\1 \2/' | tr '\n' '|')" \
	"~ catalog_api_v2|~ catalog_v2_columns|~ rls_enabled for acme|+ rls_enabled for globex|"
# Switching a flag or an override that exists is a change (~); an override
# the tenant did not have is an add.
expect_in "switching existing flags is counted as change" out.txt \
	"Plan: 1 to add, 3 to change, 0 to remove."
expect_eq "disabling is phase 1, enabling phase 7" \
	"$("$CONVERGE" plan -m m --db sqlite:f.db --format json | python3 -c 'import json,sys; print(" ".join("%d%s" % (s["phase"], s["action"][0]) for s in json.load(sys.stdin)["steps"]))')" \
	"1u 1u 1u 7c"
expect_eq "the JSON summary counts them the same" \
	"$("$CONVERGE" plan -m m --db sqlite:f.db --format json | python3 -c 'import json,sys; s=json.load(sys.stdin)["summary"]; print(s["add"], s["change"], s["remove"])')" \
	"1 3 0"
cv apply -m m --db sqlite:f.db --auto-approve
expect_rc "second apply exits 0" 0
expect_eq "all off" "$(q f.db "SELECT sum(enabled) FROM feature_flags")" 0
cv rollback --db sqlite:f.db --auto-approve
expect_rc "rollback exits 0" 0
expect_eq "rollback switches off what the run switched on, first" \
	"$(grep '^  . flag ' out.txt | sed 's/^  \(.\) flag \([^:]*\).*/\1 \2/' | tr '\n' '|')" \
	"- rls_enabled for globex|~ rls_enabled for acme|~ catalog_v2_columns|~ catalog_api_v2|"
expect_eq "flags back as the first run left them" "$(q f.db "SELECT name || '=' || enabled FROM feature_flags ORDER BY name" | tr '\n' ' ')" \
	"catalog_api_v2=1 catalog_v2_columns=1 rls_enabled=0 "
expect_eq "overrides back" "$(q f.db "SELECT tenant || '=' || enabled FROM feature_flag_tenants ORDER BY tenant" | tr '\n' ' ')" "acme=1 "

cv inspect --db sqlite:f.db
expect_in "inspect prints the flags" out.txt "catalog_api_v2: {enabled: true, description: API v2}"
expect_not_in "requires is not stored, so not printed" out.txt "requires"
mkdir -p ins && cp out.txt ins/live.yaml
cv plan -m ins --db sqlite:f.db --detailed-exitcode
expect_rc "inspect's output plans as no changes" 0

# A flag removed from the manifests is deleted, in phase 1, with its overrides.
manifest m/flags.yaml <<'Y'
version: 1
flags:
  catalog_v2_columns: {enabled: true}
Y
cv apply -m m --db sqlite:f.db --auto-approve
expect_eq "removed flags deleted" "$(q f.db "SELECT group_concat(name) FROM feature_flags")" "catalog_v2_columns"
expect_eq "their overrides deleted" "$(q f.db "SELECT count(*) FROM feature_flag_tenants")" 0

# A description is shown where it changes, with or without a switch.
manifest m/flags.yaml <<'Y'
version: 1
flags:
  catalog_v2_columns: {enabled: false, description: "Columns of v2"}
Y
cv plan -m m --db sqlite:f.db
expect_in "a switch and a new description on one line" out.txt \
	"~ flag catalog_v2_columns: off; description 'Columns of v2'"
expect_in "counted once, as a change" out.txt "Plan: 0 to add, 1 to change, 0 to remove."
cv apply -m m --db sqlite:f.db --auto-approve
manifest m/flags.yaml <<'Y'
version: 1
flags:
  catalog_v2_columns: {enabled: false}
Y
cv plan -m m --db sqlite:f.db
expect_in "a description removed" out.txt \
	"~ flag catalog_v2_columns: description removed"

# `enabled` may be left out or null: the flag is off.
manifest m/flags.yaml <<'Y'
version: 1
flags:
  catalog_v2_columns: {}
  quiet: {enabled: null, description: "declared, not shipped"}
Y
cv apply -m m --db sqlite:f.db --auto-approve
expect_rc "flags without enabled apply" 0
expect_eq "and are off" "$(q f.db "SELECT name || '=' || enabled FROM feature_flags ORDER BY name" | tr '\n' ' ')" \
	"catalog_v2_columns=0 quiet=0 "
cv plan -m m --db sqlite:f.db --detailed-exitcode
expect_rc "and stay as they are" 0

# A tenant override that switches off a required flag, while the flag
# that requires it is on for that tenant by its own value.
manifest tn/a.yaml <<'Y'
version: 1
flags:
  h: {enabled: true, requires: [i]}
  i: {enabled: true, tenants: {t1: true, t3: false}}
  j: {enabled: true, requires: [i], tenants: {t3: false}}
Y
cv validate -m tn
expect_rc "a required flag off for a tenant: exit 1" 1
expect_eq "one located error, at the override" "$(cat err.txt)" \
	"tn/a.yaml:4:42: error: flag 'h' is enabled for tenant 't3' but requires 'i', which is not enabled for it
      i: {enabled: true, tenants: {t1: true, t3: false}}
                                             ^
converge: 1 error in the manifests; nothing was changed"

# Bad input: each a located error, nothing created.
manifest bad/a.yaml <<'Y'
version: 1
flags:
  a: {enabled: true, requires: [b]}
  b: {enabled: false}
  c: {enabled: yes}
  d: {enabled: true, requires: [nope]}
  e: {enabled: true, requires: [f]}
  f: {enabled: true, requires: [e]}
  g: {description: no enabled, requires: [a, a], checks: [x, x]}
  h: {enabled: false, tenants: {acme: true}, requires: [b]}
  i: {enabled: true, checks: [rls_fail_closed]}
Y
cv plan -m bad --db sqlite:bad.db
expect_rc "bad flags: exit 1" 1
expect_in "enabled flag requiring a disabled one" err.txt "bad/a.yaml:3:3: error: flag 'a' is enabled but requires 'b', which is not enabled"
expect_in "booleans are true/false only" err.txt "bad/a.yaml:5:16: error: expected true or false for 'enabled', got 'yes'"
expect_in "unknown required flag, at its place in the list" err.txt "bad/a.yaml:6:33: error: flag 'd' requires undefined flag 'nope'"
expect_in "cycle" err.txt "flag 'e' is part of a cycle of 'requires'"
expect_not_in "enabled is not required" err.txt "flag 'g' has no 'enabled'"
expect_in "a flag listed twice in requires" err.txt "bad/a.yaml:9:46: error: flag 'a' is listed twice in requires"
expect_in "and a check listed twice, on the same flag" err.txt "bad/a.yaml:9:62: error: check 'x' is listed twice in checks"
expect_in "tenant override requiring a disabled flag" err.txt "flag 'h' is enabled for tenant 'acme' but requires 'b', which is not enabled for it"
expect_in "undefined check" err.txt "flag 'i' names check 'rls_fail_closed', but no manifest defines checks"
expect_eq "no database created" "$(test -e bad.db && echo yes || echo no)" no

# Every key of a flag is loaded whatever the others gave.
manifest bad2/a.yaml <<'Y'
version: 1
flags:
  f: {enabled: true, requires: 3, tenants: [a]}
Y
cv validate -m bad2
expect_in "a bad requires" err.txt "bad2/a.yaml:3:32: error: expected a list for 'requires', got '3'"
expect_in "and bad tenants, in one run" err.txt "bad2/a.yaml:3:44: error: expected a mapping for 'tenants'"

# A rollback's flag line says where the flag ends: undoing a switch off
# switches it on ("reverts off" read as the opposite).
manifest rb/on.yaml <<'Y'
version: 1
flags:
  gate: {enabled: true, tenants: {acme: false}}
Y
manifest rb/off.yaml <<'Y'
version: 1
flags:
  gate: {enabled: false, tenants: {acme: true}}
Y
cv apply -m rb/on.yaml --db sqlite:rbw.db --auto-approve -q
cv apply -m rb/off.yaml --db sqlite:rbw.db --auto-approve -q
cv rollback --db sqlite:rbw.db --auto-approve
expect_in "a flag switched back on says on" out.txt "~ flag gate: on (undoes: off)"
expect_in "an override switched back off says off" out.txt "~ flag gate for acme: off (undoes: on)"

# Undoing the removal of an override puts it back: the line says where
# the tenant ends, not the removal it undoes as if it happened again.
manifest rb2/off.yaml <<'Y'
version: 1
flags:
  gate: {enabled: true}
Y
cv apply -m rb/on.yaml --db sqlite:rb2.db --auto-approve -q
cv apply -m rb2/off.yaml --db sqlite:rb2.db --auto-approve
expect_in "the removal of an override" out.txt "- flag gate for acme: override removed (back to on)"
cv rollback --db sqlite:rb2.db --auto-approve
expect_in "its undoing puts it back, off" out.txt \
	"+ flag gate for acme: off (undoes: override removed (back to on))"
expect_eq "and it is off again" "$(q rb2.db "SELECT enabled FROM feature_flag_tenants WHERE tenant = 'acme'")" 0

# A flag with a null body is a flag with nothing said: off, as `{}` is
# (a module, an org or a role with a null body is accepted the same way).
manifest nullflag/a.yaml <<'Y'
version: 1
flags:
  quiet:
  other: null
Y
cv validate -m nullflag
expect_rc "a flag with a null body is valid" 0
cv apply -m nullflag --db sqlite:nullflag.db --auto-approve -q
expect_eq "and is off" "$(q nullflag.db "SELECT name || '=' || enabled FROM feature_flags ORDER BY name" | tr '\n' ' ')" "other=0 quiet=0 "
