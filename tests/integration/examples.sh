# The runnable examples, as their READMEs say to run them.
. "$TOP/tests/integration/lib.sh"

sh "$TOP/examples/ops-emergency-access/run.sh" >out.txt 2>err.txt
RC=$?
expect_rc "ops-emergency-access runs to the end" 0
expect_in "the emergency grant expired by itself" out.txt "bob's production grant after expiry: revoked"
expect_in "the guard refused the change" err.txt "plan refused by guard: role 'admin' would have 0 grants"
expect_in "one rollback restored the admin" out.txt "admins after rollback: alice@example.com"
rm -rf "$TOP/examples/ops-emergency-access/.demo"

sh "$TOP/examples/gitops-pipeline/run.sh" >out.txt 2>err.txt
RC=$?
expect_rc "gitops-pipeline runs to the end" 0
expect_in "the pull request's plan is a markdown comment" out.txt '```diff'
expect_in "the stale saved plan was refused" err.txt "the saved plan is stale"
expect_in "the un-rebased branch would revoke the hotfix's grant" out.txt "- grant admin to bob@example.com"
expect_in "the retried apply changed nothing" out.txt "No changes. The database matches the manifests."
expect_in "history shows the rollback with its steps" out.txt "    + grant editor to ci-bot on tenant:acme"
rm -rf "$TOP/examples/gitops-pipeline/.demo"

# The RLS go-live runs on the test server when there is one (its own
# throwaway server otherwise).
EXAMPLE_PG_URL=${CONVERGE_TEST_PG_URL:-} sh "$TOP/examples/rls-go-live/run.sh" >out.txt 2>err.txt
RC=$?
expect_rc "rls-go-live runs to the end" 0
expect_eq "the flag is planned last, after the check" \
	"$(sed -n '/^=== 1/,/^Plan:/p' out.txt | grep '^  [-+~?]' | tail -n 2 | cut -c3-)" \
	"$(printf '? check rls_fail_closed: expect 0\n+ flag rls_enabled: on')"
expect_in "fail closed, then the tenant's rows" out.txt "app_user without a tenant sees 0 customers; as tenant acme, 2"
expect_in "the open policy was refused by the check" err.txt "check 'rls_fail_closed' failed: expected 0, got 3"
expect_eq "the rollback switches the flag off first" \
	"$(sed -n '/^=== 5/,/^Plan:/p' out.txt | grep '^  [-+~?]' | head -n 1 | cut -c3-)" \
	"- flag rls_enabled: on"
expect_in "rolled back, the data untouched" out.txt "flag off, policy and roles gone, customers untouched: 3 rows"
