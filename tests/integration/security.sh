# Safety (SPEC §1, §4, §6, §7): passwords never printed or recorded,
# snapshots private, planning strictly read-only (rollback-journal and WAL
# databases), bad input refused with nothing changed.
. "$TOP/tests/integration/lib.sh"

manifest m.yaml <<'EOF'
version: 1
roles:
  viewer: {permissions: [license:read]}
grants:
  - {subject: alice, role: viewer}
EOF

# ------------------------------------------------------------ passwords

# Every verb, against URLs and key=value strings that carry a password:
# whatever happens (no server, no backend), no output holds the secret.
# The ports are closed ones so that nothing waits for a server.
leaks=0
checked=0
for url in \
	'postgres://user:s3cr3t@127.0.0.1:1/db' \
	'postgresql://user:s3cr3t@127.0.0.1:1/db?sslmode=disable' \
	'postgres://:s3cr3t@127.0.0.1:1/db' \
	'postgres://user:s3%63r3t@127.0.0.1:1/db' \
	'postgres://user@127.0.0.1:1/db?password=s3cr3t' \
	'host=127.0.0.1 port=1 password=s3cr3t' \
	'password=s3cr3t host=127.0.0.1 port=1 dbname=x' \
	"host=127.0.0.1 port=1 password='s3cr3t s3cr3t'" \
	'host=127.0.0.1 port=1 password = s3cr3t' \
	"host=127.0.0.1 port=1 password='s3cr3t" \
	'host=127.0.0.1 port=1 sslpassword=s3cr3t' \
	'host=127.0.0.1 port=1 sslpassword=s3cr3t bogus=1' \
	'postgres://user@127.0.0.1:1/db?sslpassword=s3cr3t' \
	'postgres://user@127.0.0.1:1/db?sslpassword=s3cr3t&bogus=1' \
	'postgresql://user:s3cr3t@s3cr3t@127.0.0.1:1/db' \
	'postgresql://user:s3cr3t/s3cr3t@127.0.0.1:1/db' \
	'dbname=shop PASSWORD=s3cr3t' \
	'host=127.0.0.1 port=1 passwd=s3cr3t' \
	'postgresql://127.0.0.1:1/shop?Password=s3cr3t'
do
	for verb in plan apply rollback restore status history snapshots inspect; do
		set --
		case $verb in plan | apply) set -- -m m.yaml ;; esac
		case $verb in apply | rollback | restore) set -- "$@" --auto-approve ;; esac
		[ $verb = restore ] && set -- "$@" m.yaml
		vs=""
		case $verb in plan | apply) vs=-v ;; esac
		for v in "" $vs; do
			cv $verb "$@" $v --db "$url" --now 2026-11-23T12:00:00Z
			checked=$((checked + 1))
			if grep -q -e s3cr3t -e 's3%63r3t' out.txt err.txt; then
				leaks=$((leaks + 1))
				fail "no password in the output of $verb $v --db $url"
			fi
			if [ "$RC" -eq 0 ] && [ $verb != snapshots ]; then
				fail "$verb --db $url cannot succeed without a server (exit $RC)"
			fi
		done
		CONVERGE_DATABASE_URL=$url "$CONVERGE" $verb "$@" >out.txt 2>err.txt </dev/null
		checked=$((checked + 1))
		if grep -q -e s3cr3t -e 's3%63r3t' out.txt err.txt; then
			leaks=$((leaks + 1))
			fail "no password in the output of $verb with CONVERGE_DATABASE_URL=$url"
		fi
	done
done
expect_eq "no password in any of $checked outputs" "$leaks" 0

# libpq ends a URL's userinfo at its first '@': a raw '@' in the password
# would make the rest of it the host, quoted in libpq's errors.
cv status --db 'postgresql://u:S3cret@PW@127.0.0.1:1/db'
expect_rc "a raw '@' in a URL's password: usage error" 64
expect_in "says to percent-encode it" err.txt \
	"invalid database URL 'postgresql://u@127.0.0.1:1/db': a '@' or '/' in the user name or password must be percent-encoded (%40, %2F)"
expect_not_in "no part of the password" err.txt "PW"

cv status --db 'postgres://user:s3cr3t@127.0.0.1:1/db'
expect_rc "status against a closed port: exit 1" 1
expect_in "the error still names the database, without the password" err.txt "postgres://user@127.0.0.1:1/db"
cv status --db 'host=127.0.0.1 port=1 password=s3cr3t'
expect_in "key=value: the error names it without the password" err.txt "host=127.0.0.1 port=1"
expect_not_in "key=value: no password" err.txt "s3cr3t"
expect_eq "nothing created by the failed connections" "$(ls -A | grep -v -e '\.txt$' -e '\.yaml$')" ""

# SQLite: the plan file and the journal record the URL as given, and
# nothing else of the connection.
cv plan -m m.yaml --db sqlite:app.db -o app.plan.yaml -q
expect_rc "plan -o exits 0" 0
expect_eq "the plan file's database is the URL as given" "$(sed -n 's/^database: //p' app.plan.yaml)" '"sqlite:app.db"'
cv apply app.plan.yaml --db sqlite:app.db --auto-approve -q
expect_rc "the saved plan applies" 0
expect_eq "the journal's database is the URL as given" "$(q app.db "SELECT database FROM converge_runs")" "sqlite:app.db"
cv apply -m m.yaml --db "sqlite://$PWD/abs.db" --auto-approve -q
expect_eq "an absolute URL is recorded as given" "$(q abs.db "SELECT database FROM converge_runs")" "sqlite://$PWD/abs.db"

# ------------------------------------------------------------ snapshots

mkdir umask0
(
	cd umask0 || exit 1
	umask 000
	"$CONVERGE" apply -m ../m.yaml --db u.db --auto-approve -q &&
	"$CONVERGE" rollback --db u.db --auto-approve -q &&
	"$CONVERGE" restore --db u.db "$(ls .converge/snapshots/u-*.db | head -n 1)" --auto-approve -q &&
	"$CONVERGE" apply -m ../m.yaml --db u.db --auto-approve -q --snapshot-dir private/snaps
) >out.txt 2>err.txt
expect_eq "apply, rollback, restore, apply under umask 000" "$?" 0
expect_eq "four snapshots" "$(find umask0 -name 'u-*.db' | wc -l)" 4
expect_eq "every snapshot is 0600 even with umask 000" "$(find umask0 -name 'u-*.db' ! -perm 600 | wc -l)" 0
expect_eq "snapshot directories are 0700" \
	"$(stat -c %a umask0/.converge umask0/.converge/snapshots umask0/private umask0/private/snaps | tr '\n' ' ')" "700 700 700 700 "

# ------------------------------------------------- plan is read-only

cv apply -m m.yaml --db sqlite:ro.db --auto-approve -q
manifest m2.yaml <<'EOF'
version: 1
roles:
  viewer: {permissions: [license:read, license:write]}
grants:
  - {subject: bob, role: viewer}
EOF
cp ro.db ro.orig
chmod 444 ro.db
cv plan -m m2.yaml --db sqlite:ro.db
expect_rc "plan of a read-only file works" 0
expect_in "and sees its content" out.txt "- grant viewer to alice"
chmod 644 ro.db
cv plan -m m2.yaml --db sqlite:ro.db -o ro.plan.yaml
cv status --db sqlite:ro.db -m m2.yaml
cv history --db sqlite:ro.db
cv inspect --db sqlite:ro.db
cv snapshots --db sqlite:ro.db
expect_same "plan, status, history, inspect, snapshots leave the file byte-identical" ro.db ro.orig
expect_eq "no -journal, -wal or -shm left" "$(ls -A | grep -c -e '-journal$' -e '-wal$' -e '-shm$')" 0

# A WAL-mode database.
q ro.db "PRAGMA journal_mode = WAL" >/dev/null
cp ro.db wal.orig
expect_eq "the database is in WAL mode" "$(q ro.db "PRAGMA journal_mode")" wal
cv plan -m m2.yaml --db sqlite:ro.db
expect_rc "plan of a WAL database works" 0
expect_in "and sees its content" out.txt "+ grant viewer to bob"
cv status --db sqlite:ro.db
cv history --db sqlite:ro.db
cv inspect --db sqlite:ro.db
expect_same "WAL: the file is byte-identical" ro.db wal.orig
expect_eq "WAL: no -wal or -shm left" "$(ls -A | grep -c -e '-wal$' -e '-shm$')" 0

# A WAL database with committed rows still in the -wal file of another
# open connection: plan reads them, and leaves that connection's files.
rm -f ready
python3 -c '
import sqlite3, time
c = sqlite3.connect("ro.db", isolation_level=None)
c.execute("PRAGMA wal_autocheckpoint = 0")
c.execute("INSERT INTO rbac_grants (subject, role, scope) VALUES (?, ?, ?)", ("bob", "viewer", ""))
open("ready", "w").close()
time.sleep(3)' &
holder=$!
i=0
while [ ! -f ready ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
cp ro.db wal2.orig
cp ro.db-wal wal2.wal
cv plan -m m2.yaml --db sqlite:ro.db
expect_rc "plan next to an open writer" 0
expect_not_in "it sees the row in the -wal file" out.txt "+ grant viewer to bob"
expect_in "and the rest of the plan" out.txt "- grant viewer to alice"
expect_same "the main file is untouched" ro.db wal2.orig
expect_same "the other connection's -wal is untouched" ro.db-wal wal2.wal
kill $holder 2>/dev/null
wait $holder 2>/dev/null
rm -f ready

# A missing file: plan creates nothing, not even the folder for snapshots.
cv plan -m m.yaml --db sqlite:nowhere/new.db
expect_rc "plan of a file in a missing folder: planned as empty" 0
expect_eq "the folder is not created" "$(ls -d nowhere 2>/dev/null)" ""

# ---------------------------------------------------------- bad input

cp app.db app.orig
python3 -c '
import random
r = random.Random(42)
open("garbage.yaml", "wb").write(bytes(r.randrange(256) for _ in range(4096)))'
cv apply -m garbage.yaml --db sqlite:app.db --auto-approve
expect_rc "binary garbage: exit 1" 1
expect_in "a clear error, placed" err.txt "garbage.yaml:1:"
expect_in "says nothing changed" err.txt "nothing was changed"
printf 'version: 1\n\0roles: {}\n' >nul.yaml
cv apply -m nul.yaml --db sqlite:app.db --auto-approve
expect_rc "a NUL byte: exit 1" 1
expect_in "names it" err.txt "nul.yaml:2:1: error: control characters are not allowed (0x00)"
truncate -s 300M huge.yaml
cv apply -m huge.yaml --db sqlite:app.db --auto-approve
expect_rc "a huge file: exit 1" 1
expect_in "says it is too large" err.txt "'huge.yaml' is too large (the limit is 256 MiB)"
rm -f huge.yaml
manifest types.yaml <<'EOF'
version: 1
roles: [viewer]
grants:
  - {subject: [a, b], role: viewer}
guards:
  min_grants: {viewer: yes}
EOF
cv apply -m types.yaml --db sqlite:app.db --auto-approve
expect_rc "wrong types: exit 1" 1
expect_eq "every wrong type is reported" "$(grep -c ': error: ' err.txt)" 3
head -c 20000 /dev/zero | tr '\0' '[' >deep.yaml
cv apply -m deep.yaml --db sqlite:app.db --auto-approve
expect_rc "20,000 nested brackets: exit 1, no crash" 1
expect_same "none of the bad inputs changed the database" app.db app.orig
head -c 4096 /dev/urandom >notadb.db
cp notadb.db notadb.orig
cv plan -m m.yaml --db sqlite:notadb.db
expect_rc "a file that is not a database: exit 1" 1
cv apply -m m.yaml --db sqlite:notadb.db --auto-approve
expect_rc "apply to it: exit 1" 1
expect_same "and it is left as it was" notadb.db notadb.orig
cv restore --db sqlite:app.db notadb.db --auto-approve
expect_rc "restoring a file that is not a database: exit 1" 1
expect_in "says so" err.txt "is not a usable sqlite database"
expect_same "restore left the database as it was" app.db app.orig

# A live name that is not UTF-8 (another tool wrote bytes into a TEXT
# column): inspect cannot write it as YAML and says so, instead of
# handing libyaml an event it never made (found by fuzz_emit).
manifest bytes.yaml <<'EOF2'
version: 1
roles:
  viewer: {permissions: [license:read]}
grants:
  - {subject: alice, role: viewer}
EOF2
cv apply -m bytes.yaml --db sqlite:bytes.db --auto-approve
q bytes.db "INSERT INTO rbac_roles (name) VALUES (CAST(X'6162FF' AS TEXT))"
cv inspect --db sqlite:bytes.db
expect_rc "inspect of a name that is not UTF-8: exit 1" 1
expect_in "says the text is not UTF-8" err.txt "cannot write YAML: text is not valid UTF-8"

# A live subject holding a surrogate (bytes SQLite keeps as TEXT): libyaml
# would write it as "\uD800", which no YAML parser reads, so a saved plan
# would not load at apply.  plan -o refuses to write it, and says why.
q bytes.db "INSERT INTO rbac_grants (subject, role, scope) VALUES (CAST(X'61EDA080' AS TEXT), 'viewer', '')"
q bytes.db "DELETE FROM rbac_roles WHERE name <> 'viewer'"
cv plan -m bytes.yaml --db sqlite:bytes.db -o bytes.plan.yaml
expect_rc "plan -o of a subject that is not UTF-8: exit 1" 1
expect_in "says the text is not UTF-8" err.txt "cannot write plan: text is not valid UTF-8"
cv inspect --db sqlite:bytes.db
expect_rc "inspect of it: exit 1" 1
expect_in "says the text is not UTF-8" err.txt "cannot write YAML: text is not valid UTF-8"

# ------------------------------------------------------- plan -o files

# plan -o writes beside its target first; that name must be made afresh
# (O_EXCL), never opened through a symlink someone planted there: in a
# shared directory that would overwrite any file the user can write.
echo "not a plan" >victim.txt
cp victim.txt victim.orig
sh -c 'for i in 0 1 2 3 4 5 6 7 8 9; do ln -s victim.txt "tmp.plan.yaml.tmp.$(($$ + i))"; done
	exec "$0" plan -m m.yaml --db sqlite:app.db -o tmp.plan.yaml -q' "$CONVERGE" \
	>out.txt 2>err.txt </dev/null
expect_eq "plan -o beside planted symlinks: exit 0" "$?" 0
expect_same "a symlink at the temporary name is not written through" victim.txt victim.orig
expect_eq "the plan is a file of its own" "$(test -f tmp.plan.yaml && ! test -L tmp.plan.yaml && sed -n 1p tmp.plan.yaml)" "format: converge-plan/1"
expect_eq "no temporary file left" "$(ls -A | grep -c '^tmp\.plan\.yaml\.' )" 10
rm -f tmp.plan.yaml.*
(umask 027 && "$CONVERGE" plan -m m.yaml --db sqlite:app.db -o mode.plan.yaml -q)
expect_eq "the plan file's mode follows the umask" "$(stat -c %a mode.plan.yaml)" 640
ln -s victim.txt link.plan.yaml
cv plan -m m.yaml --db sqlite:app.db -o link.plan.yaml -q
expect_same "-o onto a symlink replaces the link, not its target" victim.txt victim.orig
expect_eq "the link is now the plan" "$(test -L link.plan.yaml || sed -n 1p link.plan.yaml)" "format: converge-plan/1"
mkdir dir.plan.yaml
cv plan -m m.yaml --db sqlite:app.db -o dir.plan.yaml -q
expect_rc "-o onto a directory: exit 1" 1
expect_in "says so" err.txt "cannot write 'dir.plan.yaml': Is a directory"
expect_eq "and leaves no temporary file" "$(ls -A | grep -c '^dir\.plan\.yaml\.')" 0

# ------------------------------------------------- JSON of any bytes

# Journal text that is not UTF-8 (another tool wrote it): JSON output
# still lists every run and step, the bad bytes as U+FFFD, instead of
# leaving them out (jansson refuses such a string and makes nothing).
cv apply -m m.yaml --db sqlite:jbytes.db --auto-approve -q
q jbytes.db "UPDATE converge_runs SET actor = CAST(X'6162FF' AS TEXT)"
q jbytes.db "UPDATE converge_steps SET object = CAST(X'6162FF' AS TEXT) WHERE seq = 1"
run=$(q jbytes.db "SELECT id FROM converge_runs")
# jf EXPR: EXPR of the JSON in out.txt (as j), printed.
jf() { python3 -c "import json; j = json.load(open('out.txt')); print($1)" 2>&1; }
cv history --db sqlite:jbytes.db --format json
expect_eq "history --format json keeps a run whose actor is not UTF-8" \
	"$(jf 'j[0]["actor"] == "ab\ufffd"')" True
cv status --db sqlite:jbytes.db --format json
expect_eq "status --format json keeps it too" "$(jf 'len(j["runs"])')" 1
cv history "$run" --db sqlite:jbytes.db --format json
expect_eq "history RUN_ID --format json keeps every step" "$(jf 'len(j["steps_applied"])')" 2
expect_eq "and the run" "$(jf 'j["id"]')" "$run"
cp jbytes.db "$(printf 'j\377.db')"
cv status --db "sqlite:$(printf 'j\377.db')" --format json
expect_eq "a database name that is not UTF-8 is still in status JSON" \
	"$(jf 'j["database"] == "sqlite:j\ufffd.db"')" True

# ------------------------------------------- terminal escapes in output

# Names and journal text written by another tool reach the reviewer's
# terminal escaped: C0 controls, C1 controls (U+009B is CSI to xterm in
# UTF-8) and bytes that are not UTF-8 (CSI, 0x9b, to a Latin-1 terminal).
cv apply -m m.yaml --db sqlite:esc.db --auto-approve -q
q esc.db "INSERT INTO rbac_roles (name) VALUES (CAST(X'61C29B33316D62' AS TEXT))"
q esc.db "INSERT INTO rbac_grants (subject, role, scope) VALUES (CAST(X'639B33316D64' AS TEXT), 'viewer', '')"
cv plan -m m.yaml --db sqlite:esc.db
expect_in "plan shows a C1 control escaped" out.txt "- role a\u{009b}31mb"
expect_in "and a byte that is not UTF-8" out.txt "- grant viewer to c\x9b31md"
expect_eq "no C1 or stray byte reaches the terminal" \
	"$(LC_ALL=C grep -c "$(printf '\302\233\|\233')" out.txt)" 0
cv plan -m m.yaml --db sqlite:esc.db --format markdown
expect_in "markdown too" out.txt "- role a\u{009b}31mb"
run=$(q esc.db "SELECT id FROM converge_runs")
q esc.db "UPDATE converge_runs SET snapshot = '/tmp/s' || char(27) || ']0;x' || char(7),
	undoes = 'u' || char(27) || '[2J', undone_by = 'b' || char(13) || 'x',
	error = 'boom' || char(27) || '[31m' || char(10) || 'sql: x' || char(13)"
cv history --db sqlite:esc.db -v
expect_in "history -v escapes the snapshot" out.txt "    snapshot: /tmp/s\x1b]0;x\x07"
expect_in "and what the run undoes" out.txt "    undoes u\x1b[2J"
expect_in "and what undid it" out.txt "    undone by b\x0dx"
expect_in "and its error, line by line" out.txt "    error: boom\x1b[31m"
expect_in "to the last" out.txt "           sql: x\x0d"
expect_eq "no escape character at all" "$(grep -c "$(printf '\033\|\r\|\007')" out.txt)" 0
q esc.db "UPDATE converge_runs SET error = 'a' || char(10) || '\`\`\`' || char(10) || '# forged'"
cv history --db sqlite:esc.db --format markdown
expect_in "markdown: an error holding a fence gets a longer one" out.txt '      ````'
expect_eq "so it cannot close it early" "$(grep -cxF '      ```' out.txt)" 1

# status: the schema version another tool wrote, and the journal's text.
cp esc.db esc2.db
q esc2.db "CREATE TABLE alembic_version (version_num TEXT);
	INSERT INTO alembic_version VALUES ('r' || char(27) || '[2J|**b**')"
cv status --db sqlite:esc2.db
expect_in "status escapes the schema version" out.txt "schema:   r\x1b[2J|**b** (alembic_version)"
expect_in "and the journal's text" out.txt ", undoes u\x1b[2J, undone by b\x0dx"
expect_eq "no escape character at all" "$(grep -c "$(printf '\033\|\r')" out.txt)" 0
cv status --db sqlite:esc2.db --format markdown
expect_in "markdown: escaped for markdown too" out.txt "- schema:   r\x1b\[2J\|\*\*b\*\* (alembic\_version)"

# A manifest line holding a C1 control (or bytes that are not UTF-8) is
# not echoed under its error, as one holding a C0 control is not.
printf 'version: 1\nroles:\n  v: {} \302\23331m\n' >c1.yaml
cv validate -m c1.yaml
expect_in "a C1 control: placed and named" err.txt "c1.yaml:3:9: error: control characters are not allowed (0x9b)"
expect_eq "its line is not echoed" "$(LC_ALL=C grep -c "$(printf '\233')" err.txt)" 0
printf 'version: 1\nrolez:\n  v: {} # \377\233\n' >bytes8.yaml
cv validate -m bytes8.yaml
expect_eq "a line that is not UTF-8 is echoed with U+FFFD for each stray byte" \
	"$(sed -n 2p err.txt)" "$(printf '      v: {} # \357\277\275\357\277\275')"

# ---- a manifests folder's symbolic links stay below it -----------------
# Whoever can add a file to a manifests folder (a pull request) must not
# make the pipeline read, and echo in its errors, a file of the machine it
# runs on: a link found by walking a folder must lead below that folder.
mkdir -p linked/m linked/m/inner
printf 'TOPSECRET: hunter2\n' >linked/secret.yaml
printf 'version: 1\nroles: {viewer: {}}\n' >linked/m/a.yaml
ln -s ../secret.yaml linked/m/leak.yaml
cv validate -m linked/m
expect_rc "a link out of the folder: exit 1" 1
expect_in "names the link, where it leads, and what to do" err.txt \
	"'linked/m/leak.yaml' is a symbolic link to '$(cd linked && pwd)/secret.yaml', outside '$(cd linked/m && pwd)': converge reads only what is below a folder it is given"
expect_not_in "and echoes nothing of the file" err.txt "hunter2"
ln -s .. linked/m/inner/up
rm linked/m/leak.yaml
ln -s /etc linked/m/etc
cv validate -m linked/m
expect_rc "a link to a folder outside: exit 1 too" 1
expect_in "named" err.txt "'linked/m/etc' is a symbolic link to '/etc', outside"
rm linked/m/etc
ln -s a.yaml linked/m/b.yml
cv validate -m linked/m -m linked/secret.yaml
expect_rc "links below the folder are read, and a file outside given with -m of its own" 1
expect_in "which is read (and fails on its own terms)" err.txt "unknown key 'TOPSECRET'"
expect_not_in "no link is refused" err.txt "is a symbolic link"
