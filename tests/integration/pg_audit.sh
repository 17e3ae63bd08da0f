# Acceptance audit of the postgres: section (SPEC §2, §7): the corners
# that the other pg_*.sh scripts leave out.  Each block is a finding that
# once planned, applied or rolled back wrongly.
. "$TOP/tests/integration/lib.sh"

s=$$
dbname=audit_$s
pg_db "$dbname" || exit 1
pq "$DB" "CREATE TABLE doc (id int, owner text, tenant int)"

# ---- a policy's `to` with public and other roles ----------------------
# PostgreSQL keeps PUBLIC alone ("ignoring specified roles other than
# PUBLIC"): such a manifest never converged, and its rollback was refused
# as "changed since the run".
manifest pub/m.yaml <<EOF
version: 1
postgres:
  roles: {reader_$s: {}}
  rls:
    doc:
      policies:
        p: {to: [reader_$s, PUBLIC], using: "tenant > 0"}
EOF
cv plan -m pub --db "$DB"
expect_rc "a policy to public and another role is refused" 1
expect_in "at its place, saying why" err.txt \
	"pub/m.yaml:7:13: error: policy 'p': 'to' lists public with other roles; public is every role, and PostgreSQL keeps it alone: list public alone, or leave it out"
