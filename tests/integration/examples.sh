# The runnable examples, as their READMEs say to run them.
. "$TOP/tests/integration/lib.sh"

sh "$TOP/examples/ops-emergency-access/run.sh" >out.txt 2>err.txt
RC=$?
expect_rc "ops-emergency-access runs to the end" 0
expect_in "the emergency grant expired by itself" out.txt "bob's production grant after expiry: revoked"
expect_in "the guard refused the change" err.txt "plan refused by guard: role 'admin' would have 0 grants"
expect_in "one rollback restored the admin" out.txt "admins after rollback: alice@example.com"
rm -rf "$TOP/examples/ops-emergency-access/.demo"
