/*
 * bench_seed: the helper of bench/run.sh.  It generates the inputs of the
 * benchmarks (migration chains, grant manifests, seeded databases) and
 * measures the raw-SQL lower bounds the converge figures are compared to,
 * in-process, with a monotonic clock.
 *
 *   bench_seed time [-i IN] [-o OUT] [-e ERR] -- CMD ARGS...
 *        runs CMD, prints "WALL_SECONDS PEAK_RSS_KB EXIT_CODE CPU_SECONDS"
 *        (wait4 rusage of that child; exit code 128+N on signal N;
 *        CPU is user + system time)
 *   bench_seed chain DIR N UP.sql DOWN.sql
 *        writes N linked revision files into DIR, and the same up SQL
 *        (in chain order) and down SQL (in reverse order) as plain scripts
 *   bench_seed sqlrun DB SCRIPT
 *        opens DB, runs SCRIPT inside BEGIN/COMMIT, prints seconds
 *   bench_seed manifest OUT base|changed N
 *        writes the grant manifest (roles, N grants or the changed set)
 *   bench_seed roles-manifest OUT
 *        the roles and the first grant only (to let converge create its
 *        storage tables before `seed` fills rbac_grants)
 *   bench_seed seed DB N
 *        inserts the N base grants into rbac_grants, prints seconds
 *   bench_seed read DB
 *        the raw read lower bound of a plan: a prepared SELECT of every
 *        row of rbac_grants in key order, prints "seconds rows bytes"
 *   bench_seed backup SRC DST
 *        copies SRC to DST with SQLite's online backup API
 *   bench_seed digest DB
 *        prints "rows hash" of the content of rbac_grants
 *   bench_seed yaml FILE
 *        libyaml's bare event parse of FILE, prints "seconds events"
 *   bench_seed raw-apply DB N
 *        the raw batched writes of the change set, prepared DELETEs and
 *        INSERTs in one transaction, prints "seconds deletes inserts"
 *   bench_seed raw-sql OUT N
 *        the same writes as a SQL script for the sqlite3 shell, batched:
 *        the revoked keys into a temporary table 500 rows an INSERT, one
 *        DELETE of all of them, then the new grants 500 rows an INSERT,
 *        in one transaction
 *   bench_seed grants-tsv OUT base|revoked|added N
 *        the grants of the base set, or the changed set's revoked and
 *        added ones, as COPY's text format reads them (benchmark 5's raw
 *        SQL on PostgreSQL loads them with psql's \copy)
 *   bench_seed ent-manifest OUT base|changed N
 *        writes the entitlements manifest: 30 modules, 10 plans, N orgs
 *        of 20 rows each (see "The entitlements set" below)
 *   bench_seed ent-raw-apply DB N
 *        the raw batched writes of the entitlements change: the plan row,
 *        then per org on plan p3 one ent_org_modules row and one
 *        ent_events row, prepared INSERTs in one transaction, prints
 *        "seconds orgs"
 *   bench_seed ent-read DB
 *        the raw read lower bound of the entitlements plan: a prepared
 *        SELECT of every ent_org_modules row in key order, prints
 *        "seconds rows bytes"
 *   bench_seed ent-digest DB
 *        prints three "rows hash" pairs: ent_plan_modules with ent_orgs,
 *        ent_org_modules, and ent_events without its
 *        run_id and at columns
 *
 * The grant set (N = 1,000,000 in run.sh), for i = 1..N:
 *   subject user%07d(i), role viewer/editor/admin by i % 3,
 *   scope "tenant:tNN" when i % 1000 == 0 (1,000 scoped grants),
 *   an expiry in 2027 and a reason when i % 5000 == 1 (200 of them).
 * The changed set: every grant with i % 10 == 3 is revoked (N/10), and
 * every subject with i % 10 == 7 gains a second, tenant-scoped editor
 * grant (N/10): 20% of the table churns, spread evenly over the key space.
 *
 * The entitlements set (N = 100,000 orgs in run.sh): modules m00..m29,
 * m00 and m01 always on, m02 with submodules m02.a and m02.b; plans p0..p9,
 * plan k lists m02 and the 15 modules m03..m29 whose (index - 3 - k) mod 27
 * is below 15, so every org has 20 rows (2 always on, 3 from m02, 15).
 * Org i (org%07d, i = 1..N) is on plan p(i % 10); when i % 100 == 13 it
 * disables m06 (on p3), when i % 100 == 50 it disables m02.b (on p0): an
 * override row in place of a plan row, still 20 rows.  The changed set:
 * plan p3 also lists m21 (window of 16), so each of its N/10 orgs gains
 * one row and one event.
 */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>
#include <yaml.h>

static const char *const role_names[] = { "viewer", "editor", "admin" };

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *fmt, const char *arg)
{
	fprintf(stderr, "bench_seed: ");
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	exit(1);
}

static void sql_die(sqlite3 *db, const char *what)
{
	fprintf(stderr, "bench_seed: %s: %s\n", what, sqlite3_errmsg(db));
	exit(1);
}

static long parse_n(const char *s)
{
	char *end;
	long n = strtol(s, &end, 10);

	if (*end || n < 1)
		die("bad count '%s'", s);
	return n;
}

/* ---- time ------------------------------------------------------------ */

static int cmd_time(int argc, char **argv)
{
	const char *out = NULL, *errf = NULL, *in = NULL;
	struct rusage ru;
	double t0, t1;
	pid_t pid;
	int i = 0, st, code;

	while (i < argc && strcmp(argv[i], "--") != 0) {
		if (strcmp(argv[i], "-o") == 0 && i + 1 < argc)
			out = argv[++i];
		else if (strcmp(argv[i], "-e") == 0 && i + 1 < argc)
			errf = argv[++i];
		else if (strcmp(argv[i], "-i") == 0 && i + 1 < argc)
			in = argv[++i];
		else
			die("time: unknown option '%s'", argv[i]);
		i++;
	}
	if (i + 1 >= argc)
		die("time: no command%s", "");
	argv += i + 1;
	fflush(stdout);
	t0 = now_s();
	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		int fd;

		if (in) {
			fd = open(in, O_RDONLY);
			if (fd < 0 || dup2(fd, 0) < 0)
				_exit(126);
			close(fd);
		}
		if (out) {
			fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
			if (fd < 0 || dup2(fd, 1) < 0)
				_exit(126);
			close(fd);
		}
		if (errf) {
			fd = open(errf, O_WRONLY | O_CREAT | O_TRUNC, 0644);
			if (fd < 0 || dup2(fd, 2) < 0)
				_exit(126);
			close(fd);
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	if (wait4(pid, &st, 0, &ru) < 0)
		die("wait4: %s", strerror(errno));
	t1 = now_s();
	code = WIFEXITED(st) ? WEXITSTATUS(st) :
	       WIFSIGNALED(st) ? 128 + WTERMSIG(st) : 255;
	printf("%.3f %ld %d %.3f\n", t1 - t0, ru.ru_maxrss, code,
	       (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6);
	return 0;
}

/* ---- schema chain ---------------------------------------------------- */

/* A stable, alembic-looking 12-hex-digit id for revision i. */
static void rev_id(int i, char *buf)
{
	unsigned long long h = 1469598103934665603ULL ^ (unsigned long long)i;

	h *= 1099511628211ULL;
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 32;
	snprintf(buf, 16, "%012llx", h & 0xffffffffffffULL);
}

static void chain_up(FILE *f, int i, const char *indent)
{
	fprintf(f, "%sCREATE TABLE t_%03d (\n", indent, i);
	fprintf(f, "%s    id INTEGER PRIMARY KEY,\n", indent);
	fprintf(f, "%s    name TEXT NOT NULL,\n", indent);
	fprintf(f, "%s    owner TEXT,\n", indent);
	fprintf(f, "%s    score INTEGER NOT NULL DEFAULT 0,\n", indent);
	if (i > 0)
		fprintf(f, "%s    prev_id INTEGER REFERENCES t_%03d (id),\n",
			indent, i - 1);
	fprintf(f, "%s    created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP\n",
		indent);
	fprintf(f, "%s);\n", indent);
	fprintf(f, "%sCREATE INDEX ix_t_%03d_name ON t_%03d (name);\n", indent,
		i, i);
}

static void chain_down(FILE *f, int i, const char *indent)
{
	fprintf(f, "%sDROP INDEX ix_t_%03d_name;\n", indent, i);
	fprintf(f, "%sDROP TABLE t_%03d;\n", indent, i);
}

static int cmd_chain(int argc, char **argv)
{
	const char *dir;
	FILE *up, *down;
	long n;
	int i;

	if (argc != 4)
		die("usage: chain DIR N UP.sql DOWN.sql%s", "");
	dir = argv[0];
	n = parse_n(argv[1]);
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		die("mkdir: %s", strerror(errno));
	up = fopen(argv[2], "w");
	down = fopen(argv[3], "w");
	if (!up || !down)
		die("cannot write the SQL scripts%s", "");
	for (i = 0; i < n; i++) {
		char id[16], parent[16], path[4096];
		FILE *f;

		rev_id(i, id);
		snprintf(path, sizeof(path), "%s/%s.yaml", dir, id);
		f = fopen(path, "w");
		if (!f)
			die("cannot write '%s'", path);
		fprintf(f, "# benchmark revision %d of %ld\n", i + 1, n);
		fprintf(f, "id: \"%s\"\n", id);
		if (i > 0) {
			rev_id(i - 1, parent);
			fprintf(f, "parent: \"%s\"\n", parent);
		}
		fprintf(f, "description: Create t_%03d and its name index\n", i);
		fprintf(f, "up: |\n");
		chain_up(f, i, "  ");
		fprintf(f, "down: |\n");
		chain_down(f, i, "  ");
		if (fclose(f))
			die("cannot write '%s'", path);
		chain_up(up, i, "");
	}
	for (i = (int)n - 1; i >= 0; i--)
		chain_down(down, i, "");
	if (fclose(up) || fclose(down))
		die("cannot write the SQL scripts%s", "");
	return 0;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long len;

	if (!f || fseek(f, 0, SEEK_END) || (len = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET))
		die("cannot read '%s'", path);
	buf = malloc((size_t)len + 1);
	if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len)
		die("cannot read '%s'", path);
	buf[len] = '\0';
	fclose(f);
	return buf;
}

static sqlite3 *open_db(const char *path)
{
	sqlite3 *db;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE |
			    SQLITE_OPEN_CREATE, NULL) != SQLITE_OK)
		sql_die(db, path);
	return db;
}

static void exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		fprintf(stderr, "bench_seed: %s: %s\n", sql, msg);
		exit(1);
	}
}

static int cmd_sqlrun(int argc, char **argv)
{
	char *script;
	sqlite3 *db;
	double t0;

	if (argc != 2)
		die("usage: sqlrun DB SCRIPT%s", "");
	script = slurp(argv[1]);
	t0 = now_s();
	db = open_db(argv[0]);
	exec(db, "BEGIN");
	exec(db, script);
	exec(db, "COMMIT");
	sqlite3_close(db);
	printf("%.4f\n", now_s() - t0);
	free(script);
	return 0;
}

/* ---- grants ---------------------------------------------------------- */

struct grant {
	char subject[32];
	const char *role;
	char scope[32];
	char expires[32];	/* empty: NULL */
	char reason[32];	/* empty: NULL */
};

static void base_grant(long i, struct grant *g)
{
	snprintf(g->subject, sizeof(g->subject), "user%07ld", i);
	g->role = role_names[i % 3];
	g->scope[0] = g->expires[0] = g->reason[0] = '\0';
	if (i % 1000 == 0)
		snprintf(g->scope, sizeof(g->scope), "tenant:t%02ld",
			 (i / 1000) % 50);
	if (i % 5000 == 1) {
		snprintf(g->expires, sizeof(g->expires),
			 "2027-%02ld-01T00:00:00Z", 1 + (i / 5000) % 12);
		snprintf(g->reason, sizeof(g->reason), "INC-%ld", i);
	}
}

/* The grant that subject i gains in the changed set (i % 10 == 7). */
static void extra_grant(long i, struct grant *g)
{
	snprintf(g->subject, sizeof(g->subject), "user%07ld", i);
	g->role = "editor";
	snprintf(g->scope, sizeof(g->scope), "tenant:t%02ld", i % 50);
	g->expires[0] = g->reason[0] = '\0';
}

static void write_grant(FILE *f, const struct grant *g)
{
	fprintf(f, "  - {subject: %s, role: %s", g->subject, g->role);
	if (g->scope[0])
		fprintf(f, ", scope: \"%s\"", g->scope);
	if (g->expires[0])
		fprintf(f, ", expires: \"%s\"", g->expires);
	if (g->reason[0])
		fprintf(f, ", reason: \"%s\"", g->reason);
	fputs("}\n", f);
}

static void write_roles(FILE *f)
{
	fputs("version: 1\n"
	      "roles:\n"
	      "  viewer:\n"
	      "    description: Read licenses and their usage\n"
	      "    permissions: [license:validate, license:read, license:usage:read]\n"
	      "  editor:\n"
	      "    description: Everything a viewer may do, and issue keys\n"
	      "    inherits: [viewer]\n"
	      "    permissions: [license:generate]\n"
	      "  admin:\n"
	      "    description: Everything an editor may do, and revoke keys\n"
	      "    inherits: [editor]\n"
	      "    permissions: [license:revoke, license:admin, system:audit]\n"
	      "grants:\n", f);
}

/* The arguments of `manifest` and `ent-manifest`: OUT base|changed N.
 * Returns OUT opened for writing. */
static FILE *manifest_args(int argc, char **argv, const char *cmd,
			   bool *changed, long *n)
{
	FILE *f;

	if (argc != 3)
		die("usage: %s OUT base|changed N", cmd);
	*changed = strcmp(argv[1], "changed") == 0;
	if (!*changed && strcmp(argv[1], "base") != 0)
		die("unknown manifest '%s'", argv[1]);
	*n = parse_n(argv[2]);
	f = fopen(argv[0], "w");
	if (!f)
		die("cannot write '%s'", argv[0]);
	setvbuf(f, NULL, _IOFBF, 1 << 20);
	return f;
}

static int cmd_manifest(int argc, char **argv)
{
	struct grant g;
	bool changed;
	FILE *f;
	long n, i;

	f = manifest_args(argc, argv, "manifest", &changed, &n);
	write_roles(f);
	for (i = 1; i <= n; i++) {
		if (!changed || i % 10 != 3) {
			base_grant(i, &g);
			write_grant(f, &g);
		}
		if (changed && i % 10 == 7) {
			extra_grant(i, &g);
			write_grant(f, &g);
		}
	}
	if (fclose(f))
		die("cannot write '%s'", argv[0]);
	return 0;
}

/* A grant as a line of COPY's text format (no value needs escaping). */
static void write_tsv(FILE *f, const struct grant *g)
{
	fprintf(f, "%s\t%s\t%s\t%s\t%s\n", g->subject, g->role, g->scope,
		g->expires[0] ? g->expires : "\\N",
		g->reason[0] ? g->reason : "\\N");
}

static int cmd_grants_tsv(int argc, char **argv)
{
	struct grant g;
	bool base, revoked;
	FILE *f;
	long n, i;

	if (argc != 3)
		die("usage: grants-tsv OUT base|revoked|added N%s", "");
	base = strcmp(argv[1], "base") == 0;
	revoked = strcmp(argv[1], "revoked") == 0;
	if (!base && !revoked && strcmp(argv[1], "added") != 0)
		die("unknown set '%s'", argv[1]);
	n = parse_n(argv[2]);
	f = fopen(argv[0], "w");
	if (!f)
		die("cannot write '%s'", argv[0]);
	for (i = 1; i <= n; i++) {
		if (base || (revoked && i % 10 == 3))
			base_grant(i, &g);
		else if (!revoked && i % 10 == 7)
			extra_grant(i, &g);
		else
			continue;
		write_tsv(f, &g);
	}
	if (fclose(f))
		die("cannot write '%s'", argv[0]);
	return 0;
}

/* s as an SQL string literal, or NULL for an empty s. */
static void sql_literal(FILE *f, const char *s)
{
	if (!*s) {
		fputs("NULL", f);
		return;
	}
	fputc('\'', f);
	for (; *s; s++) {
		if (*s == '\'')
			fputc('\'', f);
		fputc(*s, f);
	}
	fputc('\'', f);
}

/* Rows of a multi-row INSERT in raw-sql's script. */
#define SQL_BATCH 500

/* One row of a multi-row VALUES list: the key, or the whole grant. */
static void sql_row(FILE *f, const struct grant *g, bool key_only, long nth)
{
	fputs(nth % SQL_BATCH == 0 ? "\n  (" : ", (", f);
	fprintf(f, "'%s', '%s', '%s'", g->subject, g->role, g->scope);
	if (!key_only) {
		fputs(", ", f);
		sql_literal(f, g->expires);
		fputs(", ", f);
		sql_literal(f, g->reason);
	}
	fputc(')', f);
}

static int cmd_raw_sql(int argc, char **argv)
{
	struct grant g;
	FILE *f;
	long n, i, k = 0;

	if (argc != 2)
		die("usage: raw-sql OUT N%s", "");
	n = parse_n(argv[1]);
	f = fopen(argv[0], "w");
	if (!f)
		die("cannot write '%s'", argv[0]);
	setvbuf(f, NULL, _IOFBF, 1 << 20);
	fputs("BEGIN IMMEDIATE;\n"
	      "CREATE TEMP TABLE gone (subject TEXT, role TEXT, scope TEXT);\n", f);
	for (i = 3; i <= n; i += 10, k++) {
		if (k % SQL_BATCH == 0)
			fputs(k ? ";\nINSERT INTO temp.gone VALUES" :
				  "INSERT INTO temp.gone VALUES", f);
		base_grant(i, &g);
		sql_row(f, &g, true, k);
	}
	fputs(k ? ";\n" : "", f);
	fputs("DELETE FROM rbac_grants WHERE (subject, role, scope) IN\n"
	      "  (SELECT subject, role, scope FROM temp.gone);\n", f);
	for (i = 7, k = 0; i <= n; i += 10, k++) {
		if (k % SQL_BATCH == 0)
			fputs(k ? ";\nINSERT INTO rbac_grants VALUES" :
				  "INSERT INTO rbac_grants VALUES", f);
		extra_grant(i, &g);
		sql_row(f, &g, false, k);
	}
	fputs(k ? ";\n" : "", f);
	fputs("COMMIT;\n", f);
	if (fclose(f))
		die("cannot write '%s'", argv[0]);
	return 0;
}

static int cmd_roles_manifest(int argc, char **argv)
{
	struct grant g;
	FILE *f;

	if (argc != 1)
		die("usage: roles-manifest OUT%s", "");
	f = fopen(argv[0], "w");
	if (!f)
		die("cannot write '%s'", argv[0]);
	write_roles(f);
	base_grant(1, &g);
	write_grant(f, &g);
	if (fclose(f))
		die("cannot write '%s'", argv[0]);
	return 0;
}

static sqlite3_stmt *prepare(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;

	if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st,
			       NULL) != SQLITE_OK)
		sql_die(db, sql);
	return st;
}

static void bind_text(sqlite3_stmt *st, int col, const char *s, bool null)
{
	if (null)
		sqlite3_bind_null(st, col);
	else
		sqlite3_bind_text(st, col, s, -1, SQLITE_STATIC);
}

static void step_done(sqlite3 *db, sqlite3_stmt *st)
{
	if (sqlite3_step(st) != SQLITE_DONE)
		sql_die(db, sqlite3_sql(st));
	sqlite3_reset(st);
}

static const char INSERT_SQL[] =
	"INSERT INTO rbac_grants (subject, role, scope, expires_at, reason) "
	"VALUES (?1, ?2, ?3, ?4, ?5)";
static const char DELETE_SQL[] =
	"DELETE FROM rbac_grants WHERE subject = ?1 AND role = ?2 AND scope = ?3";

static void insert_grant(sqlite3 *db, sqlite3_stmt *st, const struct grant *g)
{
	bind_text(st, 1, g->subject, false);
	bind_text(st, 2, g->role, false);
	bind_text(st, 3, g->scope, false);
	bind_text(st, 4, g->expires, !g->expires[0]);
	bind_text(st, 5, g->reason, !g->reason[0]);
	step_done(db, st);
}

static int cmd_seed(int argc, char **argv)
{
	sqlite3_stmt *ins;
	struct grant g;
	sqlite3 *db;
	double t0;
	long n, i;

	if (argc != 2)
		die("usage: seed DB N%s", "");
	n = parse_n(argv[1]);
	t0 = now_s();
	db = open_db(argv[0]);
	exec(db, "BEGIN");
	/* The first grant came with converge's own apply. */
	ins = prepare(db, "INSERT OR IGNORE INTO rbac_grants "
			  "(subject, role, scope, expires_at, reason) "
			  "VALUES (?1, ?2, ?3, ?4, ?5)");
	for (i = 1; i <= n; i++) {
		base_grant(i, &g);
		insert_grant(db, ins, &g);
	}
	sqlite3_finalize(ins);
	exec(db, "COMMIT");
	sqlite3_close(db);
	printf("%.3f\n", now_s() - t0);
	return 0;
}

/* Steps SQL over DB, touching every column as text; prints
 * "seconds rows bytes". */
static int read_all(const char *path, const char *sql)
{
	sqlite3_stmt *st;
	sqlite3 *db;
	size_t bytes = 0;
	long rows = 0;
	double t0;
	int rc, c, ncols;

	t0 = now_s();
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) !=
	    SQLITE_OK)
		sql_die(db, path);
	st = prepare(db, sql);
	ncols = sqlite3_column_count(st);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		for (c = 0; c < ncols; c++) {
			if (sqlite3_column_text(st, c))
				bytes += (size_t)sqlite3_column_bytes(st, c);
		}
		rows++;
	}
	if (rc != SQLITE_DONE)
		sql_die(db, "read");
	sqlite3_finalize(st);
	sqlite3_close(db);
	printf("%.4f %ld %zu\n", now_s() - t0, rows, bytes);
	return 0;
}

static int cmd_read(int argc, char **argv)
{
	if (argc != 1)
		die("usage: read DB%s", "");
	return read_all(argv[0], "SELECT subject, role, scope, expires_at, reason "
				 "FROM rbac_grants ORDER BY subject, role, scope");
}

static int cmd_ent_read(int argc, char **argv)
{
	if (argc != 1)
		die("usage: ent-read DB%s", "");
	return read_all(argv[0], "SELECT org, module, status, source "
				 "FROM ent_org_modules ORDER BY org, module");
}

/* Copies SRC to DST with the online backup API, as converge's snapshot
 * does: the lower bound of the snapshot's cost. */
static int cmd_backup(int argc, char **argv)
{
	sqlite3 *src, *dst;
	sqlite3_backup *b;

	if (argc != 2)
		die("usage: backup SRC DST%s", "");
	if (sqlite3_open_v2(argv[0], &src, SQLITE_OPEN_READONLY, NULL) !=
	    SQLITE_OK)
		sql_die(src, argv[0]);
	dst = open_db(argv[1]);
	b = sqlite3_backup_init(dst, "main", src, "main");
	if (!b)
		sql_die(dst, "backup");
	if (sqlite3_backup_step(b, -1) != SQLITE_DONE)
		sql_die(dst, "backup");
	if (sqlite3_backup_finish(b) != SQLITE_OK)
		sql_die(dst, "backup");
	sqlite3_close(dst);
	sqlite3_close(src);
	return 0;
}

/* A content digest of rbac_grants, to check two databases hold the same. */
static int cmd_digest(int argc, char **argv)
{
	unsigned long long h = 1469598103934665603ULL;
	sqlite3_stmt *st;
	sqlite3 *db;
	long rows = 0;
	int rc, c;

	if (argc != 1)
		die("usage: digest DB%s", "");
	if (sqlite3_open_v2(argv[0], &db, SQLITE_OPEN_READONLY, NULL) !=
	    SQLITE_OK)
		sql_die(db, argv[0]);
	st = prepare(db, "SELECT subject, role, scope, expires_at, reason "
			 "FROM rbac_grants ORDER BY subject, role, scope");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		for (c = 0; c < 5; c++) {
			const unsigned char *t = sqlite3_column_text(st, c);
			int n = sqlite3_column_bytes(st, c), k;

			h = (h ^ (t ? 0x01U : 0x02U)) * 1099511628211ULL;
			for (k = 0; t && k < n; k++)
				h = (h ^ t[k]) * 1099511628211ULL;
		}
		rows++;
	}
	if (rc != SQLITE_DONE)
		sql_die(db, "digest");
	sqlite3_finalize(st);
	sqlite3_close(db);
	printf("%ld %016llx\n", rows, h);
	return 0;
}

static int cmd_yaml(int argc, char **argv)
{
	yaml_parser_t p;
	yaml_event_t ev;
	long events = 0;
	double t0;
	FILE *f;
	int done = 0;

	if (argc != 1)
		die("usage: yaml FILE%s", "");
	t0 = now_s();
	f = fopen(argv[0], "rb");
	if (!f || !yaml_parser_initialize(&p))
		die("cannot read '%s'", argv[0]);
	yaml_parser_set_input_file(&p, f);
	while (!done) {
		if (!yaml_parser_parse(&p, &ev))
			die("yaml error: %s", p.problem ? p.problem : "?");
		done = ev.type == YAML_STREAM_END_EVENT;
		yaml_event_delete(&ev);
		events++;
	}
	yaml_parser_delete(&p);
	fclose(f);
	printf("%.4f %ld\n", now_s() - t0, events);
	return 0;
}

static int cmd_raw_apply(int argc, char **argv)
{
	sqlite3_stmt *ins, *del;
	struct grant g;
	sqlite3 *db;
	long n, i, nd = 0, ni = 0;
	double t0;

	if (argc != 2)
		die("usage: raw-apply DB N%s", "");
	n = parse_n(argv[1]);
	t0 = now_s();
	db = open_db(argv[0]);
	exec(db, "BEGIN IMMEDIATE");
	del = prepare(db, DELETE_SQL);
	ins = prepare(db, INSERT_SQL);
	/* Removals first, then additions, as converge's phases order them. */
	for (i = 3; i <= n; i += 10) {
		base_grant(i, &g);
		bind_text(del, 1, g.subject, false);
		bind_text(del, 2, g.role, false);
		bind_text(del, 3, g.scope, false);
		step_done(db, del);
		if (sqlite3_changes(db) != 1)
			die("raw-apply: %s was not there", g.subject);
		nd++;
	}
	for (i = 7; i <= n; i += 10) {
		extra_grant(i, &g);
		insert_grant(db, ins, &g);
		ni++;
	}
	sqlite3_finalize(del);
	sqlite3_finalize(ins);
	exec(db, "COMMIT");
	sqlite3_close(db);
	printf("%.3f %ld %ld\n", now_s() - t0, nd, ni);
	return 0;
}

/* ---- entitlements ---------------------------------------------------- */

#define ENT_MODULES 30
#define ENT_PLANS 10
#define ENT_CHANGED_PLAN 3
#define ENT_NEW_MODULE 21

/* Whether plan k lists module m (3..29), in the base or changed set. */
static bool ent_plan_has(int k, int m, bool changed)
{
	int width = changed && k == ENT_CHANGED_PLAN ? 16 : 15;

	return ((m - 3 - k) % 27 + 27) % 27 < width;
}

static int cmd_ent_manifest(int argc, char **argv)
{
	bool changed;
	FILE *f;
	long n, i;
	int k, m;

	f = manifest_args(argc, argv, "ent-manifest", &changed, &n);
	fputs("version: 1\n"
	      "entitlements:\n"
	      "  modules:\n"
	      "    m00: {always_on: true}\n"
	      "    m01: {always_on: true}\n"
	      "    m02: {submodules: [a, b]}\n", f);
	for (m = 3; m < ENT_MODULES; m++)
		fprintf(f, "    m%02d: {}\n", m);
	fputs("  plans:\n", f);
	for (k = 0; k < ENT_PLANS; k++) {
		fprintf(f, "    p%d: [m02", k);
		for (m = 3; m < ENT_MODULES; m++)
			if (ent_plan_has(k, m, changed))
				fprintf(f, ", m%02d", m);
		fputs("]\n", f);
	}
	fputs("  orgs:\n", f);
	for (i = 1; i <= n; i++) {
		fprintf(f, "    org%07ld: {plan: p%ld", i, i % ENT_PLANS);
		if (i % 100 == 13)
			fputs(", modules: {m06: disabled}", f);
		else if (i % 100 == 50)
			fputs(", modules: {m02.b: disabled}", f);
		fputs("}\n", f);
	}
	if (fclose(f))
		die("cannot write '%s'", argv[0]);
	return 0;
}

static int cmd_ent_raw_apply(int argc, char **argv)
{
	const char *now = getenv("CONVERGE_NOW");
	sqlite3_stmt *pm, *row, *ev;
	char org[32], mod[8];
	sqlite3 *db;
	long n, i, norgs = 0;
	double t0;

	if (argc != 2)
		die("usage: ent-raw-apply DB N%s", "");
	n = parse_n(argv[1]);
	if (!now)
		now = "2026-11-23T12:00:00Z";
	snprintf(mod, sizeof(mod), "m%02d", ENT_NEW_MODULE);
	t0 = now_s();
	db = open_db(argv[0]);
	exec(db, "BEGIN IMMEDIATE");
	pm = prepare(db, "INSERT INTO ent_plan_modules (plan, module) "
			 "VALUES (?1, ?2)");
	row = prepare(db, "INSERT INTO ent_org_modules "
			  "(org, module, status, source) "
			  "VALUES (?1, ?2, 'enabled', 'plan')");
	ev = prepare(db, "INSERT INTO ent_events "
			 "(org, module, old_status, new_status, run_id, at) "
			 "VALUES (?1, ?2, NULL, 'enabled', ?3, ?4)");
	bind_text(pm, 1, "p3", false);
	bind_text(pm, 2, mod, false);
	step_done(db, pm);
	bind_text(row, 2, mod, false);
	bind_text(ev, 2, mod, false);
	bind_text(ev, 3, "raw", false);
	bind_text(ev, 4, now, false);
	for (i = ENT_CHANGED_PLAN; i <= n; i += ENT_PLANS) {
		snprintf(org, sizeof(org), "org%07ld", i);
		sqlite3_bind_text(row, 1, org, -1, SQLITE_TRANSIENT);
		step_done(db, row);
		sqlite3_bind_text(ev, 1, org, -1, SQLITE_TRANSIENT);
		step_done(db, ev);
		norgs++;
	}
	sqlite3_finalize(pm);
	sqlite3_finalize(row);
	sqlite3_finalize(ev);
	exec(db, "COMMIT");
	sqlite3_close(db);
	printf("%.3f %ld\n", now_s() - t0, norgs);
	return 0;
}

/* Prints "rows hash" of the rows of SQL, all its columns, in its order. */
static void digest_query(sqlite3 *db, const char *sql, const char *sep)
{
	unsigned long long h = 1469598103934665603ULL;
	sqlite3_stmt *st = prepare(db, sql);
	long rows = 0;
	int rc, c, nc = sqlite3_column_count(st);

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		for (c = 0; c < nc; c++) {
			const unsigned char *t = sqlite3_column_text(st, c);
			int len = sqlite3_column_bytes(st, c), k;

			h = (h ^ (t ? 0x01U : 0x02U)) * 1099511628211ULL;
			for (k = 0; t && k < len; k++)
				h = (h ^ t[k]) * 1099511628211ULL;
		}
		rows++;
	}
	if (rc != SQLITE_DONE)
		sql_die(db, sql);
	sqlite3_finalize(st);
	printf("%ld %016llx%s", rows, h, sep);
}

static int cmd_ent_digest(int argc, char **argv)
{
	sqlite3 *db;

	if (argc != 1)
		die("usage: ent-digest DB%s", "");
	if (sqlite3_open_v2(argv[0], &db, SQLITE_OPEN_READONLY, NULL) !=
	    SQLITE_OK)
		sql_die(db, argv[0]);
	digest_query(db, "SELECT 'pm', plan, module FROM ent_plan_modules "
			 "UNION ALL SELECT 'o', org, plan FROM ent_orgs "
			 "ORDER BY 1, 2, 3", " ");
	digest_query(db, "SELECT org, module, status, source "
			 "FROM ent_org_modules ORDER BY org, module", " ");
	digest_query(db, "SELECT org, module, old_status, new_status "
			 "FROM ent_events ORDER BY 1, 2, 3, 4", "\n");
	sqlite3_close(db);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} cmds[] = {
		{ "time", cmd_time },
		{ "chain", cmd_chain },
		{ "sqlrun", cmd_sqlrun },
		{ "manifest", cmd_manifest },
		{ "roles-manifest", cmd_roles_manifest },
		{ "grants-tsv", cmd_grants_tsv },
		{ "seed", cmd_seed },
		{ "read", cmd_read },
		{ "yaml", cmd_yaml },
		{ "digest", cmd_digest },
		{ "backup", cmd_backup },
		{ "raw-apply", cmd_raw_apply },
		{ "raw-sql", cmd_raw_sql },
		{ "ent-manifest", cmd_ent_manifest },
		{ "ent-raw-apply", cmd_ent_raw_apply },
		{ "ent-read", cmd_ent_read },
		{ "ent-digest", cmd_ent_digest },
	};
	size_t i;

	if (argc < 2) {
		fprintf(stderr, "usage: bench_seed COMMAND ARGS... (see bench/bench_seed.c)\n");
		return 64;
	}
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(argv[1], cmds[i].name) == 0)
			return cmds[i].fn(argc - 2, argv + 2);
	fprintf(stderr, "bench_seed: unknown command '%s'\n", argv[1]);
	return 64;
}
