# The TMWS scenario end to end: the golden plan, read-only planning, a
# saved plan applied exactly, an idempotent re-run, stale plans, status,
# history, rollback to the Alembic revision with the data intact.
. "$TOP/tests/integration/lib.sh"
M="$TOP/manifests"

seed_tmws tmws.db
appdata tmws.db >before.sql
cp tmws.db pristine.db

cv plan -m "$M" --db sqlite:tmws.db
expect_rc "plan exits 0" 0
expect_same "plan text matches the golden file" out.txt "$TOP/plans/tmws.plan.txt"
expect_same "plan leaves the database byte-for-byte unchanged" tmws.db pristine.db
expect_eq "plan creates no file beside the database" "$(ls | sort | tr '\n' ' ')" \
	"before.sql err.txt out.txt pristine.db tmws.db "

cv plan -m "$M" --db sqlite:tmws.db --detailed-exitcode
expect_rc "--detailed-exitcode is 2 when there are changes" 2

cv plan -m "$M" --db sqlite:tmws.db -o tmws.plan.yaml -q
expect_rc "plan -o exits 0" 0
expect_same "saved plan matches the golden file" tmws.plan.yaml "$TOP/plans/tmws.plan.yaml"

cv plan -m "$M" --db sqlite:tmws.db --format json
expect_rc "json plan exits 0" 0
expect_eq "json plan has 9 steps" "$(python3 -c 'import json,sys; print(len(json.load(open("out.txt"))["steps"]))')" 9
expect_eq "json plan has the format field" "$(python3 -c 'import json; print(json.load(open("out.txt"))["format"])')" "converge-plan/1"

cv plan -m "$M" --db sqlite:tmws.db --format markdown
expect_in "markdown plan has a diff block" out.txt '```diff'

cv apply tmws.plan.yaml --db sqlite:tmws.db
expect_rc "apply without a terminal and without --auto-approve is refused" 1
expect_in "the refusal says why" err.txt "--auto-approve"
expect_same "a refused apply leaves the database untouched" tmws.db pristine.db

cv apply tmws.plan.yaml --db sqlite:tmws.db --auto-approve --actor tester
expect_rc "the saved plan applies" 0
expect_eq "schema is at 571948cc671b" "$(q tmws.db 'SELECT version_num FROM alembic_version')" 571948cc671b
expect_eq "agents got the role column with its default" \
	"$(q tmws.db "SELECT count(*) FROM agents WHERE role = 'viewer'")" \
	"$(q tmws.db 'SELECT count(*) FROM agents')"
expect_eq "index ix_agents_role exists" "$(q tmws.db "SELECT count(*) FROM sqlite_master WHERE name = 'ix_agents_role'")" 1
expect_eq "effective permissions of admin include inherited ones" \
	"$(q tmws.db "SELECT group_concat(permission, ' ') FROM (SELECT permission FROM rbac_effective_permissions WHERE role = 'admin' ORDER BY permission)")" \
	"agent:update:tier license:admin license:generate license:read license:revoke license:usage:read license:validate system:audit"
expect_eq "grants stored verbatim" "$(q tmws.db "SELECT subject FROM rbac_grants WHERE role = 'viewer'")" "o'brien@example.com"
expect_eq "scope stored" "$(q tmws.db "SELECT scope FROM rbac_grants WHERE subject = 'ci-bot'")" "tenant:acme"
expect_eq "expiry and reason stored" "$(q tmws.db "SELECT expires_at || '|' || reason FROM rbac_grants WHERE subject = 'oncall-dana'")" \
	"2026-11-24T02:00:00Z|INC-4411 emergency access"
expect_eq "one run recorded, by the actor" "$(q tmws.db "SELECT count(*) || ' ' || actor || ' ' || kind || ' ' || status FROM converge_runs")" "1 tester apply applied"
expect_eq "nine steps journaled" "$(q tmws.db 'SELECT count(*) FROM converge_steps')" 9
expect_eq "checksums of both applied revisions" "$(q tmws.db "SELECT count(*) FROM converge_migrations WHERE checksum LIKE 'sha256:%'")" 2
snap=$(q tmws.db 'SELECT snapshot FROM converge_runs')
expect_eq "the snapshot exists" "$(test -f "$snap" && echo yes)" yes
expect_eq "the snapshot is mode 0600" "$(stat -c %a "$snap")" 600
expect_eq "the snapshot holds the state before the run" "$(q "$snap" 'SELECT version_num FROM alembic_version')" e674ec434eeb
expect_eq "no foreign key violations" "$(q tmws.db 'PRAGMA foreign_key_check')" ""

cv apply tmws.plan.yaml --db sqlite:tmws.db --auto-approve
expect_rc "the same saved plan again is stale (exit 3)" 3
expect_in "stale is explained" err.txt "stale"

cp tmws.db applied.db
cv apply -m "$M" --db sqlite:tmws.db --auto-approve
expect_rc "a second apply succeeds" 0
expect_in "a second apply changes nothing" out.txt "No changes"
expect_eq "a no-op apply records no run" "$(q tmws.db 'SELECT count(*) FROM converge_runs')" 1
expect_same "a no-op apply leaves the file unchanged" tmws.db applied.db

cv status --db sqlite:tmws.db -m "$M"
expect_rc "status exits 0" 0
expect_in "status shows the version" out.txt "571948cc671b (alembic_version)"
expect_in "status shows no drift" out.txt "drift:    none"

cv status --db sqlite:tmws.db --format json
expect_eq "status json has the schema version" "$(python3 -c 'import json; print(json.load(open("out.txt"))["schema"]["version"])')" 571948cc671b

cv history --db sqlite:tmws.db
expect_in "history lists the run" out.txt "apply    applied   9 steps  by tester"

cv plan -m "$M" --db sqlite:tmws.db --now 2026-11-24T02:00:00Z
expect_in "a grant whose expiry equals --now is revoked" out.txt "- grant admin to oncall-dana: expired 2026-11-24T02:00:00Z"
cv plan -m "$M" --db sqlite:tmws.db --now 2026-11-24T01:59:59Z
expect_in "one second earlier it is still held" out.txt "No changes"

cv rollback --db sqlite:tmws.db --auto-approve
expect_rc "rollback exits 0" 0
expect_in "rollback names the column it drops that holds rows" err.txt "drops column agents.role"
expect_in "rollback's review says the snapshot keeps what it drops" out.txt "1 step drops data; the snapshot taken first keeps it."
expect_not_in "rollback needs no --allow-data-loss" out.txt "apply needs --allow-data-loss"
expect_eq "back at e674ec434eeb" "$(q tmws.db 'SELECT version_num FROM alembic_version')" e674ec434eeb
appdata tmws.db >after.sql
expect_same "application data identical after rollback" after.sql before.sql
expect_eq "grants gone" "$(q tmws.db 'SELECT count(*) FROM rbac_grants')" 0
expect_eq "roles gone" "$(q tmws.db 'SELECT count(*) FROM rbac_roles')" 0
expect_eq "the rollback is a run that undoes the apply" \
	"$(q tmws.db "SELECT r.kind || ' ' || (r.undoes = a.id) || ' ' || (a.undone_by = r.id) FROM converge_runs r, converge_runs a WHERE r.kind = 'rollback' AND a.kind = 'apply'")" "rollback 1 1"
expect_eq "revision checksums removed with the revisions" "$(q tmws.db 'SELECT count(*) FROM converge_migrations')" 0
rsnap=$(q tmws.db "SELECT snapshot FROM converge_runs WHERE kind = 'rollback'")
expect_eq "the rollback's snapshot keeps the dropped column" "$(q "$rsnap" "SELECT count(role) FROM agents")" 5

cv rollback --db sqlite:tmws.db --auto-approve
expect_rc "nothing left to roll back: exit 1" 1
expect_in "says nothing to roll back" err.txt "nothing to roll back"

cv snapshots --db sqlite:tmws.db
expect_eq "two snapshots listed" "$(grep -c '\.db ' out.txt)" 2
cv snapshots --db sqlite:tmws.db --prune 1
expect_rc "prune exits 0" 0
expect_eq "one snapshot kept" "$(ls .converge/snapshots | wc -l)" 1

cv restore --db sqlite:tmws.db "$snap" --auto-approve
expect_rc "restoring a pruned snapshot fails" 1
cv restore --db sqlite:tmws.db "$rsnap" --auto-approve
expect_rc "restore exits 0" 0
expect_eq "restored: back at 571948cc671b" "$(q tmws.db 'SELECT version_num FROM alembic_version')" 571948cc671b
expect_eq "restore recorded in the restored journal" "$(q tmws.db "SELECT count(*) FROM converge_runs WHERE kind = 'restore'")" 1
expect_eq "the state before the restore was snapshotted" "$(ls .converge/snapshots | wc -l)" 2
