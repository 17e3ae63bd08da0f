/*
 * The PostgreSQL backend (backend.h): the only file besides url.c that
 * includes libpq-fe.h, and the only one that talks to a server.
 *
 * Statements run through exec and query are prepared once per connection
 * as named statements (cv_1, cv_2, ...), found again by their SQL text in a
 * small open-addressing hash table, as the SQLite backend does.  Inside a
 * batch (an apply's steps and journal rows) statements are pipelined, a
 * sync every few hundred, the rows of one INSERT ... VALUES run again
 * and again go as one COPY, and the keys of one DELETE ... WHERE "k" = $1
 * run again and again as one DELETE of them all: a plan of many rows
 * costs a few round trips, not one a row.  Parameters and results travel
 * as text.  Every libpq result status is translated to a
 * CV_E* code where it is received, with the server's message and SQLSTATE
 * deciding the code, and every PGresult is cleared on every path.
 *
 * Queries stream in single-row mode, so reading a million rows holds one
 * row at a time, not the whole result (a cursor fetching 10,000 rows at a
 * time was measured too: see tests/unit/test_postgres.c).  The connection
 * is busy until the last row has been read, so a row callback cannot run
 * SQL of its own on the same connection; it gets a clear error if it does.
 *
 * The lock of an apply is a transaction-level advisory lock with one fixed
 * key, taken right after BEGIN and released by COMMIT or ROLLBACK (also
 * when the connection drops).  Snapshots and restores run pg_dump and
 * pg_restore as child processes without a shell; they connect with the
 * PG* environment variables made from the connection, so that the
 * password never appears on a command line.
 *
 * Connection messages never contain the password: the URL is shown in its
 * redacted form, and a libpq message that quotes the password is withheld.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pq.h"

#include "converge/backend.h"
#include "cache.h"

extern char **environ;

/*
 * The descriptor, declared here because backend.h does not (yet) name it:
 * the kinds reach a backend only through url->backend.
 */

/* How long to wait for the lock unless set_lock_timeout says otherwise. */
#define DEFAULT_TIMEOUT_MS 5000L
/*
 * The advisory lock key of converge: FNV-1a of "converge" as a signed
 * 64-bit integer.  Advisory locks are per database, so this is one lock
 * per database, whichever schema converge keeps its tables in.
 */
#define LOCK_KEY "6589463056355933036"
/*
 * Past this many prepared statements the cache starts over (DEALLOCATE
 * ALL): converge's own SQL is a few dozen texts, so reaching it means a
 * caller builds SQL per row, and the server would keep every one.
 */
#define CACHE_MAX 4096
/*
 * Statements a batch sends before it reads their results: few enough that
 * the results the server writes meanwhile never fill the socket buffers,
 * where libpq's pipeline documentation warns that both sides would wait
 * for each other forever.
 */
#define BATCH_MAX 256
/* Rows a batch keeps for one COPY or DELETE at most (rows_send), and
 * bytes of their values: a statement a megabyte, whatever a row holds. */
#define ROWS_MAX 10000
/*
 * Rows fewer than this go into the pipeline one statement each rather
 * than as a COPY: a COPY leaves the pipeline and waits for the server
 * four times (sync, COPY, its end, RELEASE), which a statement in the
 * pipeline costs only once every BATCH_MAX statements.  Short runs
 * (a role's two permissions, a flag then a tenant's value, in turn)
 * would otherwise cost round trips a row.
 */
#define ROWS_COPY_MIN BATCH_MAX
#define ROWS_BYTES (1 << 20)
/* Rows of up to this many columns need no allocation. */
#define ROW_INLINE 32
/* A DELETE with more keys than this goes row by row (keys_of). */
#define KEYS_MAX 64
/* What is kept of a child's (pg_dump's, pg_restore's) error output. */
#define CHILD_MSG_MAX 4000

/* SQLSTATEs that decide a code other than CV_EDB. */
#define SQLSTATE_LOCK_NOT_AVAILABLE "55P03"
#define SQLSTATE_READ_ONLY_SQL_TRANSACTION "25006"

/* The rows of one INSERT ... VALUES, or the keys of one DELETE, kept
 * for one statement (rows_send). */
struct rows {
	char *sql;          /* the one-row statement */
	size_t at;          /* where its row starts (values_at) */
	bool del;           /* a DELETE of keys (keys_of), not an INSERT */
	size_t nparams, nrows;
	struct cv_buf vals; /* the values, each with its NUL */
	size_t *off;        /* where each is in vals; (size_t)-1: NULL */
	size_t off_alloc;
	const char **params;
	size_t params_alloc;
	bool sending;
};

struct pg_db {
	struct cv_db base;  /* first: a struct cv_db * points here */
	PGconn *conn;
	char *display;      /* the URL without its password, for messages */
	long timeout_ms;
	bool readonly;
	bool streaming;     /* a query's rows are still being read */
	/* The server-side names of prepared statements (malloc'd), by SQL. */
	struct cv_stmt_cache cache;
	unsigned long next_name;
	/* By the SQL of a DELETE of one row's keys: the DELETE of many
	 * rows' keys at once (malloc'd, keys_sql), or "" when the types of
	 * its keys do not allow it. */
	struct cv_stmt_cache keys;
	/* converge's schema (quoted; --schema's, else public), the search
	 * paths to set for converge's own SQL and for the application's. */
	char *schema;
	char *schema_name;  /* unquoted */
	char *own_path, *app_path;
	bool app_scope;
	/* A batch (backend.h): exec sends without waiting.  `piped` while
	 * the connection is in pipeline mode, `sent` the names of the
	 * statements whose results are not read yet. */
	bool batching, piped;
	bool batch_rows;    /* INSERT rows may be joined (rows_send) */
	const char **sent;
	size_t nsent, sent_alloc;
	struct rows rows;
	size_t batch_done;  /* statements of the batch that succeeded */
	int batch_rc;       /* its first failure, 0 if none */
	/* Times the connection waited for the server: its round trips,
	 * shown by CONVERGE_TRACE_PERFORMANCE. */
	unsigned long waits;
};

static struct pg_db *to_pg(struct cv_db *db)
{
	return (struct pg_db *)db;
}

static double seconds(long ms)
{
	return (double)ms / 1000.0;
}

/* libpq messages end with a newline, sometimes several lines: trim them. */
static char *trimmed(const char *msg)
{
	size_t n = msg ? strlen(msg) : 0;

	while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' ' ||
		     msg[n - 1] == '\r'))
		n--;
	return cv_strndup(msg ? msg : "", n);
}

/*
 * " (line N of the SQL)" for an error the server placed in a script of
 * several lines (a migration's up, say), or "".  The server counts the
 * position in characters, from 1, in `stmt`, which starts on line
 * `line0` + 1 of `script`.
 */
static const char *where_in(const PGresult *res, const char *stmt,
			    const char *script, long line0)
{
	static char buf[48];
	const char *pos = res ? PQresultErrorField(res,
					PG_DIAG_STATEMENT_POSITION) : NULL;
	long n = pos ? atol(pos) : 0, line = line0 + 1;

	if (!stmt || !script || n <= 0 || !strchr(script, '\n'))
		return "";
	for (const char *p = stmt; *p && n > 1; p++) {
		/* UTF-8 continuation bytes are not characters of their own. */
		if (((unsigned char)*p & 0xc0) != 0x80)
			n--;
		if (*p == '\n')
			line++;
	}
	snprintf(buf, sizeof(buf), " (line %ld of the SQL)", line);
	return buf;
}

/*
 * Translates a failed result for `stmt`, a statement of `script` that
 * starts on its line line0 + 1, into err: the server's primary message
 * with its detail, hint and line, CV_ELOCKED for a lock that could not be
 * had in time, CV_EREADONLY for a write in a read-only transaction and
 * CV_EDB for everything else; err's SQL is the script.
 * `res` may be NULL (the connection failed); it is not cleared here.
 */
static int db_error_in(struct pg_db *c, const PGresult *res,
		       const char *stmt, const char *script, long line0,
		       struct cv_error *err)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) :
			    NULL;
	const char *primary = res ? PQresultErrorField(res,
					PG_DIAG_MESSAGE_PRIMARY) : NULL;
	const char *detail = res ? PQresultErrorField(res,
					PG_DIAG_MESSAGE_DETAIL) : NULL;
	const char *hint = res ? PQresultErrorField(res,
					PG_DIAG_MESSAGE_HINT) : NULL;
	int code = CV_EDB;
	char *msg;

	if (state && strcmp(state, SQLSTATE_LOCK_NOT_AVAILABLE) == 0)
		code = CV_ELOCKED;
	else if (state && strcmp(state, SQLSTATE_READ_ONLY_SQL_TRANSACTION) == 0)
		code = CV_EREADONLY;
	if (primary) {
		msg = cv_strdup(primary);
	} else if (res && *PQresultErrorMessage(res)) {
		msg = trimmed(PQresultErrorMessage(res));
	} else if (res && PQresultStatus(res) != PGRES_FATAL_ERROR &&
		   PQresultStatus(res) != PGRES_NONFATAL_ERROR) {
		msg = cv_asprintf("unexpected result '%s'",
				  PQresStatus(PQresultStatus(res)));
	} else {
		msg = trimmed(PQerrorMessage(c->conn));
	}
	cv_error_set(err, code, "postgres: %s%s%s%s%s%s%s%s", msg,
		     detail ? " (" : "", detail ? detail : "",
		     detail ? ")" : "", hint ? " (hint: " : "",
		     hint ? hint : "", hint ? ")" : "",
		     where_in(res, stmt, script, line0));
	free(msg);
	if (script)
		cv_error_set_sql(err, NULL, script);
	return code;
}

/* The same for a statement run on its own. */
static int db_error(struct pg_db *c, const PGresult *res, const char *sql,
		    struct cv_error *err)
{
	return db_error_in(c, res, sql, sql, 0, err);
}

/* Is res what a successful command or query gives? */
static bool res_ok(const PGresult *res)
{
	switch (PQresultStatus(res)) {
	case PGRES_COMMAND_OK:
	case PGRES_TUPLES_OK:
	case PGRES_EMPTY_QUERY:
		return true;
	default:
		return false;
	}
}

/*
 * COPY ... FROM STDIN / TO STDOUT would leave the connection waiting for
 * data that converge never sends or reads: end it, as an error.
 */
static int end_copy(struct pg_db *c, const PGresult *res, const char *sql,
		    struct cv_error *err)
{
	ExecStatusType st = PQresultStatus(res);
	PGresult *r;
	char *buf;

	if (st == PGRES_COPY_IN)
		PQputCopyEnd(c->conn, "converge does not send COPY data");
	else if (st == PGRES_COPY_OUT)
		while (PQgetCopyData(c->conn, &buf, 0) > 0)
			PQfreemem(buf);
	else
		return 0;
	while ((r = PQgetResult(c->conn)))
		PQclear(r);
	cv_error_set(err, CV_EDB,
		     "postgres: COPY with STDIN or STDOUT is not supported");
	if (sql)
		cv_error_set_sql(err, NULL, sql);
	return CV_EDB;
}

static int pipe_leave(struct pg_db *c, struct cv_error *err);

/* Runs a command without parameters; 0 or a CV_E* code in err. */
static int run_simple(struct pg_db *c, const char *sql, struct cv_error *err)
{
	PGresult *res;
	int rc = pipe_leave(c, err);

	if (rc < 0)
		return rc;
	c->waits++;
	res = PQexec(c->conn, sql);
	if (PQresultStatus(res) == PGRES_COPY_IN ||
	    PQresultStatus(res) == PGRES_COPY_OUT)
		rc = end_copy(c, res, sql, err);
	else if (!res_ok(res))
		rc = db_error(c, res, sql, err);
	PQclear(res);
	return rc;
}

/*
 * Refuses to use the connection while a query's rows are still being
 * read: libpq has one result stream per connection.
 */
static int check_idle(struct pg_db *c, const char *sql, struct cv_error *err)
{
	if (!c->streaming)
		return pipe_leave(c, err);
	cv_error_set(err, CV_EDB,
		     "postgres: cannot run a statement while the rows of "
		     "another query are being read on the same connection");
	if (sql)
		cv_error_set_sql(err, NULL, sql);
	return CV_EDB;
}

/* ---- statement cache ---------------------------------------------- */

/* Forgets the statements on our side only. */
static void cache_clear(struct pg_db *c)
{
	cv_stmt_cache_clear(&c->cache, free);
	/* The types of a statement's keys are learnt again with it. */
	cv_stmt_cache_clear(&c->keys, free);
}

/*
 * Drops every prepared statement on the server and in the cache.  Fails
 * only inside a transaction that an error aborted, and then the cache is
 * kept as it is (the statements are still there).
 */
static int cache_reset(struct pg_db *c)
{
	PGresult *res = PQexec(c->conn, "DEALLOCATE ALL");
	int rc = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : CV_EDB;

	c->waits++;
	PQclear(res);
	if (!rc)
		cache_clear(c);
	return rc;
}

/*
 * Finds or prepares the statement for `sql`.  *out is its name, or ""
 * when the cache is full and could not be emptied: the caller then runs
 * the SQL as the unnamed statement.
 */
static int get_stmt(struct pg_db *c, const char *sql, size_t nparams,
		    const char **out, struct cv_error *err)
{
	uint64_t h;
	const char *cached = cv_stmt_cache_lookup(&c->cache, sql, &h);
	char name[24];
	PGresult *res;

	*out = "";
	if (cached) {
		*out = cached;
		return 0;
	}
	if (c->cache.nused >= CACHE_MAX && cache_reset(c) < 0)
		return 0;
	snprintf(name, sizeof(name), "cv_%lu", ++c->next_name);
	/* Types are left to the server: it infers them from the SQL. */
	c->waits++;
	res = PQprepare(c->conn, name, sql, (int)nparams, NULL);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		int rc = db_error(c, res, sql, err);

		PQclear(res);
		return rc;
	}
	PQclear(res);
	cached = cv_strdup(name);
	cv_stmt_cache_add(&c->cache, sql, h, (void *)cached);
	*out = cached;
	return 0;
}

/* Sends `sql` for execution: the cached statement, or the text itself. */
static int send_stmt(struct pg_db *c, const char *sql,
		     const char *const *params, size_t nparams,
		     struct cv_error *err)
{
	const char *name;
	int ok, rc;

	if (nparams > 65535) {
		cv_error_set(err, CV_EDB,
			     "postgres: %zu parameters given, at most 65535 "
			     "are possible", nparams);
		cv_error_set_sql(err, NULL, sql);
		return CV_EDB;
	}
	rc = get_stmt(c, sql, nparams, &name, err);
	if (rc < 0)
		return rc;
	if (*name)
		ok = PQsendQueryPrepared(c->conn, name, (int)nparams, params,
					 NULL, NULL, 0);
	else
		ok = PQsendQueryParams(c->conn, sql, (int)nparams, NULL,
				       params, NULL, NULL, 0);
	if (!ok)
		return db_error(c, NULL, sql, err);
	return 0;
}

/* ---- batches ------------------------------------------------------ */

/* The SQL of a statement sent in a batch, for an error: found by name in
 * the cache, which still holds it (it is emptied only between batches). */
static const char *sent_sql(const struct pg_db *c, const char *name)
{
	size_t i;

	for (i = 0; name && i < c->cache.nslots; i++)
		if (c->cache.slots[i].sql && c->cache.slots[i].stmt == name)
			return c->cache.slots[i].sql;
	return NULL;
}

/* Takes the result of the statement sent n-th since the last sync. */
static void take_result(struct pg_db *c, const PGresult *res, size_t n,
			struct cv_error *err)
{
	ExecStatusType st = PQresultStatus(res);
	const char *name = n < c->nsent ? c->sent[n] : NULL;

	if (st == PGRES_PIPELINE_ABORTED || c->batch_rc)
		return;
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
		c->batch_done++;
	else
		c->batch_rc = db_error(c, res, sent_sql(c, name), err);
}

static int drain(struct pg_db *c, const char *sql, int rc,
		 struct cv_error *err);
static int pg_query(struct cv_db *db, const char *sql,
		    const char *const *params, size_t nparams,
		    cv_row_fn fn, void *ctx, struct cv_error *err);

/*
 * Sends a sync and reads the results of everything sent before it: one
 * result each (then a NULL), then the sync's own.  The first failure goes
 * to err and stays in c->batch_rc; the server skips what follows it.
 */
static int pipe_sync(struct pg_db *c, struct cv_error *err)
{
	PGresult *res;
	size_t n = 0;
	bool was_null = false;

	if (!c->piped)
		return 0;
	c->waits++;
	if (!PQpipelineSync(c->conn) && !c->batch_rc)
		c->batch_rc = db_error(c, NULL, NULL, err);
	for (;;) {
		res = PQgetResult(c->conn);
		if (!res) {
			/* Two NULLs in a row: nothing more will come. */
			if (was_null || PQstatus(c->conn) == CONNECTION_BAD)
				break;
			was_null = true;
			continue;
		}
		was_null = false;
		if (PQresultStatus(res) == PGRES_PIPELINE_SYNC) {
			PQclear(res);
			break;
		}
		take_result(c, res, n++, err);
		PQclear(res);
	}
	c->nsent = 0;
	return c->batch_rc;
}

static int pipe_enter(struct pg_db *c, const char *sql, struct cv_error *err)
{
	if (c->piped)
		return 0;
	if (!PQenterPipelineMode(c->conn))
		return db_error(c, NULL, sql, err);
	c->piped = true;
	return 0;
}

/* Sends one statement, prepared first (which waits: it is done once). */
static int pipe_send(struct pg_db *c, const char *sql,
		     const char *const *params, size_t nparams,
		     struct cv_error *err)
{
	const char *name;
	uint64_t h;
	int rc = 0;

	name = cv_stmt_cache_lookup(&c->cache, sql, &h);
	if (!name) {
		rc = pipe_leave(c, err);
		if (!rc)
			rc = get_stmt(c, sql, nparams, &name, err);
	}
	if (!rc)
		rc = pipe_enter(c, sql, err);
	if (!rc)
		rc = send_stmt(c, sql, params, nparams, err);
	if (rc < 0)
		return rc;
	CV_GROW(c->sent, c->nsent + 1, c->sent_alloc);
	c->sent[c->nsent++] = *name ? name : NULL;
	return c->nsent < BATCH_MAX ? 0 : pipe_sync(c, err);
}

static int pg_query(struct cv_db *db, const char *sql,
		    const char *const *params, size_t nparams, cv_row_fn fn,
		    void *ctx, struct cv_error *err);

/* ---- rows: one COPY for many INSERTs -------------------------------- */

/*
 * Where the row of `INSERT INTO t (...) VALUES ($1, $2)` starts (at the
 * space before its parenthesis), or 0 when sql is not such a statement:
 * a table, then nothing but tuples of parameters $1 to $nparams after
 * VALUES.  The rows of such a statement run again and again go to the
 * server as one COPY, which fills in the values itself (copy_row): any
 * other placeholder (a saved plan is a file anyone can edit) is left to
 * the server to refuse.
 */
static size_t values_at(const char *sql, size_t nparams)
{
	size_t n = strlen(sql), p = n, k;
	char *end;

	if (strncmp(sql, "INSERT INTO ", 12) != 0 || !n || sql[n - 1] != ')')
		return 0;
	while (p && strchr("$0123456789(), ", sql[p - 1]))
		p--;
	if (p < 20 || strncmp(sql + p - 7, " VALUES", 7) != 0 ||
	    strncmp(sql + p, " (", 2) != 0)
		return 0;
	for (k = p; sql[k]; k++) {
		if (sql[k] != '$')
			continue;
		n = strtoul(sql + k + 1, &end, 10);
		if (end == sql + k + 1 || n < 1 || n > nparams)
			return 0;
	}
	return p;
}

/* Keeps a row (its values copied) for the statement rows_send makes. */
static void rows_add(struct pg_db *c, const char *sql, size_t at, bool del,
		     const char *const *params, size_t nparams)
{
	struct rows *r = &c->rows;
	size_t i;

	if (!r->nrows) {
		free(r->sql);
		r->sql = cv_strdup(sql);
		r->at = at;
		r->del = del;
		r->nparams = nparams;
		cv_buf_reset(&r->vals);
	}
	CV_GROW(r->off, (r->nrows + 1) * nparams, r->off_alloc);
	for (i = 0; i < nparams; i++) {
		r->off[r->nrows * nparams + i] = params[i] ?
						 r->vals.len : (size_t)-1;
		if (params[i])
			cv_buf_add(&r->vals, params[i], strlen(params[i]) + 1);
	}
	r->nrows++;
}

/* The values of row i as libpq takes them (valid until the next call). */
static const char *const *rows_params(struct pg_db *c, size_t i)
{
	struct rows *r = &c->rows;
	size_t k;

	CV_GROW(r->params, r->nparams, r->params_alloc);
	for (k = 0; k < r->nparams; k++) {
		size_t o = r->off[i * r->nparams + k];

		r->params[k] = o == (size_t)-1 ? NULL : r->vals.buf + o;
	}
	return r->params;
}

/* Appends a value as COPY's text format reads it. */
static void copy_value(struct cv_buf *b, const char *v)
{
	if (!v) {
		cv_buf_adds(b, "\\N");
		return;
	}
	for (; *v; v++) {
		const char *esc = *v == '\\' ? "\\\\" : *v == '\n' ? "\\n" :
				  *v == '\r' ? "\\r" : *v == '\t' ? "\\t" : NULL;

		if (esc)
			cv_buf_adds(b, esc);
		else
			cv_buf_addch(b, *v);
	}
}

/* The COPY data of row i: a line per tuple of the statement's VALUES. */
static void copy_row(struct pg_db *c, size_t i, struct cv_buf *b)
{
	const struct rows *r = &c->rows;
	const char *const *v = rows_params(c, i);
	const char *p;
	bool first = true;

	for (p = r->sql + r->at; *p; p++) {
		char *end;

		if (*p == ')') {
			cv_buf_addch(b, '\n');
			first = true;
		} else if (*p == '$') {
			if (!first)
				cv_buf_addch(b, '\t');
			copy_value(b, v[strtoul(p + 1, &end, 10) - 1]);
			p = end - 1;
			first = false;
		}
	}
}

/*
 * After the COPY of many rows failed: back to the savepoint before it,
 * and the rows one by one, so that the failure is the row's own, and the
 * step it belongs to is named.  Rows that all pass alone are kept.
 */
static int rows_retry(struct pg_db *c, struct cv_error *err)
{
	struct rows *r = &c->rows;
	size_t i;
	int rc = run_simple(c, "ROLLBACK TO SAVEPOINT cv_rows", err);

	for (i = 0; i < r->nrows && !rc; i++) {
		c->waits++;
		rc = send_stmt(c, r->sql, rows_params(c, i), r->nparams, err);
		if (!rc)
			rc = drain(c, r->sql, 0, err);
		if (!rc)
			c->batch_done++;
	}
	if (!rc)
		rc = run_simple(c, "RELEASE SAVEPOINT cv_rows", err);
	c->batch_rc = rc;
	return rc;
}

/*
 * COPY of the rows kept, in a savepoint (for rows_retry): "INSERT INTO
 * t (a, b) VALUES" becomes "SAVEPOINT cv_rows; COPY t (a, b) FROM STDIN".
 */
static int rows_copy(struct pg_db *c, struct cv_error *err)
{
	struct rows *r = &c->rows;
	struct cv_buf b = CV_BUF_INIT;
	char *sql = cv_asprintf("SAVEPOINT cv_rows; COPY %.*s FROM STDIN",
				(int)(r->at - 19), r->sql + 12);
	PGresult *res;
	size_t i;
	int rc = 0, ok;

	c->waits += 2;
	res = PQexec(c->conn, sql);
	ok = PQresultStatus(res) == PGRES_COPY_IN;
	PQclear(res);
	for (i = 0; ok && i < r->nrows; i++) {
		copy_row(c, i, &b);
		if (b.len >= 65536 || i + 1 == r->nrows) {
			ok = PQputCopyData(c->conn, b.buf, (int)b.len) == 1;
			cv_buf_reset(&b);
		}
	}
	if (PQputCopyEnd(c->conn, ok ? NULL : "converge: cannot send") != 1)
		ok = 0;
	while ((res = PQgetResult(c->conn))) {
		ok = ok && PQresultStatus(res) == PGRES_COMMAND_OK;
		PQclear(res);
	}
	if (ok) {
		c->batch_done += r->nrows;
		rc = run_simple(c, "RELEASE SAVEPOINT cv_rows", err);
	} else {
		rc = rows_retry(c, err);
	}
	cv_buf_release(&b);
	free(sql);
	return rc;
}

/* Past the table name at p ("t", "s"."t", t): where its columns start. */
static const char *name_end(const char *p)
{
	for (;;) {
		if (*p == '"') {
			for (p++; *p && !(*p == '"' && p[1] != '"'); p++)
				if (*p == '"')
					p++;
			if (*p)
				p++;
		} else {
			while (*p && (isalnum((unsigned char)*p) || *p == '_' ||
				      *p == '$' || (unsigned char)*p >= 0x80))
				p++;
		}
		if (*p != '.')
			return p;
		p++;
	}
}

static int true_row(void *ctx, const char *const *cols, const size_t *lens,
		    int ncols)
{
	(void)lens;
	*(bool *)ctx = ncols > 0 && cols[0] && cols[0][0] == 't';
	return 0;
}

/*
 * Whether the table of the rows kept has rules (a view has one too):
 * COPY applies none of them, so what an INSERT would do there is not
 * what a COPY does.  Its rows are then sent as the INSERTs they are.
 */
static int rows_ruled(struct pg_db *c, bool *out, struct cv_error *err)
{
	const struct rows *r = &c->rows;
	const char *start = r->sql + 12;
	char *table = cv_strndup(start, (size_t)(name_end(start) - start));
	const char *params[1] = { table };
	int rc;

	*out = false;
	rc = pg_query(&c->base,
		      "SELECT c.relhasrules FROM pg_catalog.pg_class c "
		      "WHERE c.oid = pg_catalog.to_regclass($1)",
		      params, 1, true_row, out, err);
	free(table);
	return rc;
}

/* ---- keys: one DELETE for many -------------------------------------- */

/* The keys of `DELETE FROM "t" WHERE "a" = $2 AND "b" = $1` (keys_of). */
struct keys {
	size_t where;       /* where " WHERE " starts */
	size_t n;
	size_t col[KEYS_MAX], len[KEYS_MAX];  /* each key's quoted column */
	unsigned long param[KEYS_MAX];        /* and its parameter */
};

/* The end of the quoted identifier at p ("a""b"), or NULL. */
static const char *quoted_end(const char *p)
{
	if (*p++ != '"' || (*p == '"' && p[1] != '"'))
		return NULL;
	for (; *p; p++) {
		if (*p != '"')
			continue;
		if (p[1] != '"')
			return p + 1;
		p++;
	}
	return NULL;
}

/*
 * Is sql a DELETE of the rows whose columns equal its parameters, and
 * nothing else: `DELETE FROM "t" WHERE "a" = $1 AND "b" = $2`, every
 * name in double quotes (pg_quote_ident), the table perhaps with its
 * schema, each of $1 to $nparams once?  Its keys go to k.  The keys of such a
 * statement run again and again are deleted by one statement (keys_sql);
 * any other DELETE (a saved plan is a file anyone can edit) goes as it is.
 */
static bool keys_of(const char *sql, size_t nparams, struct keys *k)
{
	const char *p, *q;
	uint64_t seen = 0;
	char *end;

	if (!nparams || nparams > KEYS_MAX || strncmp(sql, "DELETE FROM ", 12))
		return false;
	p = quoted_end(sql + 12);
	if (p && *p == '.')
		p = quoted_end(p + 1);
	if (!p || strncmp(p, " WHERE ", 7) != 0)
		return false;
	k->where = (size_t)(p - sql);
	k->n = 0;
	for (p += 7;; p += 5) {
		q = quoted_end(p);
		if (!q || strncmp(q, " = $", 4) != 0 || q[4] < '1' ||
		    q[4] > '9')
			return false;
		k->col[k->n] = (size_t)(p - sql);
		k->len[k->n] = (size_t)(q - p);
		k->param[k->n] = strtoul(q + 4, &end, 10);
		if (k->param[k->n] > nparams ||
		    (seen & (UINT64_C(1) << (k->param[k->n] - 1))))
			return false;
		seen |= UINT64_C(1) << (k->param[k->n] - 1);
		k->n++;
		p = end;
		if (!*p)
			return k->n == nparams;
		if (strncmp(p, " AND ", 5) != 0)
			return false;
	}
}

/*
 * The types of a statement's parameters, by their OIDs, as names that
 * mean the same in any search path, and whether an array of each can
 * carry the values (keys_sql): a base type or an enum, not an array,
 * with an array type whose literal separates elements by commas.
 */
static const char KEY_TYPES_SQL[] =
	"SELECT quote_ident(n.nspname) || '.' || quote_ident(t.typname), "
	"t.typarray <> 0 AND t.typtype IN ('b', 'e') AND "
	"t.typcategory <> 'A' AND t.typdelim = ',' "
	"FROM unnest($1::pg_catalog.oid[]) WITH ORDINALITY AS u(o, i) "
	"JOIN pg_catalog.pg_type t ON t.oid = u.o "
	"JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace "
	"ORDER BY u.i";

struct key_types {
	char *name[KEYS_MAX];
	size_t n;
	bool ok;
};

static int key_type(void *ctx, const char *const *cols, const size_t *lens,
		    int ncols)
{
	struct key_types *kt = ctx;

	(void)lens;
	if (ncols != 2 || kt->n >= KEYS_MAX || !cols[0] || !cols[1]) {
		kt->ok = false;
		return 0;
	}
	kt->ok = kt->ok && strcmp(cols[1], "t") == 0;
	kt->name[kt->n++] = cv_strdup(cols[0]);
	return 0;
}

/*
 * `DELETE FROM "t" WHERE "a" = $1 AND "b" = $2` becomes `DELETE FROM "t"
 * WHERE ("a", "b") IN (SELECT * FROM unnest($1::T1[], $2::T2[]))`, each
 * parameter an array of the rows' values, of the type the server gave
 * the parameter in the one-row statement, so that `=` is the same
 * operator.  A NULL matches no row either way: `a = NULL` is never true,
 * and neither is a row comparison with a NULL in it; a key twice, or one
 * no row has, is no error either way.  As with a COPY, what is checked
 * at the end of a statement (a foreign key's NO ACTION, statement
 * triggers) is checked once for the run, not once a row.
 */
static char *keys_sql(const char *sql, const struct keys *k,
		      char *const *types)
{
	struct cv_buf b = CV_BUF_INIT;
	size_t i;

	cv_buf_add(&b, sql, k->where);
	cv_buf_adds(&b, " WHERE (");
	for (i = 0; i < k->n; i++) {
		if (i)
			cv_buf_adds(&b, ", ");
		cv_buf_add(&b, sql + k->col[i], k->len[i]);
	}
	cv_buf_adds(&b, ") IN (SELECT * FROM unnest(");
	for (i = 0; i < k->n; i++)
		cv_buf_addf(&b, "%s$%lu::%s[]", i ? ", " : "", k->param[i],
			    types[k->param[i] - 1]);
	cv_buf_adds(&b, "))");
	return cv_buf_detach(&b);
}

/*
 * Learns keys_sql's statement for the one-row `sql` (keys_of), once per
 * connection: the types of its parameters, from the server that prepared
 * it.  *out is "" when those types cannot go in arrays.
 */
static int keys_learn(struct pg_db *c, const char *sql, size_t nparams,
		      uint64_t h, const char **out, struct cv_error *err)
{
	struct key_types kt = { { NULL }, 0, true };
	struct cv_buf oids = CV_BUF_INIT;
	struct keys k;
	const char *name, *param;
	char *made = NULL;
	PGresult *res;
	size_t i;
	int rc = get_stmt(c, sql, nparams, &name, err);

	*out = "";
	if (rc < 0 || !*name || !keys_of(sql, nparams, &k))
		return rc;
	c->waits++;
	res = PQdescribePrepared(c->conn, name);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		rc = db_error(c, res, sql, err);
	else if (PQnparams(res) == (int)nparams)
		for (i = 0; i < nparams; i++)
			cv_buf_addf(&oids, "%s%u", i ? "," : "{",
				    (unsigned)PQparamtype(res, (int)i));
	PQclear(res);
	if (!rc && oids.len) {
		cv_buf_addch(&oids, '}');
		param = cv_buf_str(&oids);
		rc = pg_query(&c->base, KEY_TYPES_SQL, &param, 1, key_type,
			      &kt, err);
	}
	if (!rc) {
		made = kt.ok && kt.n == nparams ? keys_sql(sql, &k, kt.name) :
			cv_strdup("");
		cv_stmt_cache_add(&c->keys, sql, h, made);
		*out = made;
	}
	for (i = 0; i < kt.n; i++)
		free(kt.name[i]);
	cv_buf_release(&oids);
	return rc;
}

/*
 * Appends parameter k of every row kept as an array literal: each value
 * quoted, so that an empty string, braces, commas, spaces and the word
 * NULL stay the text they are, with its quotes and backslashes escaped;
 * a NULL is NULL.
 */
static void array_of(const struct rows *r, size_t k, struct cv_buf *b)
{
	size_t i;

	cv_buf_addch(b, '{');
	for (i = 0; i < r->nrows; i++) {
		size_t o = r->off[i * r->nparams + k];

		if (i)
			cv_buf_addch(b, ',');
		if (o == (size_t)-1) {
			cv_buf_adds(b, "NULL");
			continue;
		}
		cv_buf_addch(b, '"');
		for (const char *v = r->vals.buf + o; *v; v++) {
			if (*v == '"' || *v == '\\')
				cv_buf_addch(b, '\\');
			cv_buf_addch(b, *v);
		}
		cv_buf_addch(b, '"');
	}
	cv_buf_addch(b, '}');
}

/* The DELETE of every key kept by keys_sql's statement `sql`. */
static int keys_delete(struct pg_db *c, const char *sql,
		       struct cv_error *err)
{
	struct rows *r = &c->rows;
	struct cv_buf *arrays = cv_calloc(r->nparams, sizeof(*arrays));
	const char **params = cv_calloc(r->nparams, sizeof(*params));
	size_t k;
	int rc;

	for (k = 0; k < r->nparams; k++) {
		array_of(r, k, &arrays[k]);
		params[k] = cv_buf_str(&arrays[k]);
	}
	rc = send_stmt(c, sql, params, r->nparams, err);
	if (!rc) {
		c->waits++;
		rc = drain(c, sql, 0, err);
	}
	for (k = 0; k < r->nparams; k++)
		cv_buf_release(&arrays[k]);
	free(arrays);
	free(params);
	return rc;
}

/* Sends the rows kept one by one, pipelined. */
static int rows_each(struct pg_db *c, struct cv_error *err)
{
	struct rows *r = &c->rows;
	size_t i;
	int rc = 0;

	for (i = 0; i < r->nrows && !rc; i++)
		rc = pipe_send(c, r->sql, rows_params(c, i), r->nparams, err);
	return rc;
}

/*
 * The keys kept, deleted by one statement (keys_sql) in a savepoint:
 * when it fails (a trigger, a foreign key), rows_retry deletes them
 * again one by one, so that the failure is the row's own and names its
 * step.  Keys whose types an array cannot carry go one by one, pipelined.
 */
static int rows_delete(struct pg_db *c, struct cv_error *err)
{
	struct rows *r = &c->rows;
	struct cv_error scratch = CV_ERROR_INIT;
	uint64_t h;
	const char *sql = cv_stmt_cache_lookup(&c->keys, r->sql, &h);
	char *own;
	int rc;

	if (sql && !*sql)
		return rows_each(c, err);
	rc = run_simple(c, "SAVEPOINT cv_rows", err);
	if (rc < 0)
		return c->batch_rc = rc;
	if (!sql)
		rc = keys_learn(c, r->sql, r->nparams, h, &sql, &scratch);
	if (!rc && !*sql) {
		rc = run_simple(c, "RELEASE SAVEPOINT cv_rows", err);
		return rc < 0 ? (c->batch_rc = rc) : rows_each(c, err);
	}
	/* Preparing it may empty the caches, and free their copy. */
	own = rc ? NULL : cv_strdup(sql);
	if (!rc)
		rc = keys_delete(c, own, &scratch);
	free(own);
	cv_error_release(&scratch);
	if (rc)
		return rows_retry(c, err);
	c->batch_done += r->nrows;
	return run_simple(c, "RELEASE SAVEPOINT cv_rows", err);
}

/*
 * Sends the rows kept: a few as the statements they are, in the
 * pipeline; many as one COPY, or one DELETE (after what was sent before
 * them: COPY has no place in a pipeline, and a failure must be caught in
 * a savepoint), unless an INSERT's table has rules.
 */
static int rows_send(struct pg_db *c, struct cv_error *err)
{
	struct rows *r = &c->rows;
	bool copy, ruled = false;
	size_t i;
	int rc = 0;

	if (!r->nrows || r->sending)
		return 0;
	r->sending = true;
	copy = r->nrows >= ROWS_COPY_MIN;
	if (copy) {
		rc = pipe_leave(c, err);
		if (!rc)
			rc = r->del ? rows_delete(c, err) :
				      rows_ruled(c, &ruled, err);
	}
	if (!rc && copy && !r->del && !ruled)
		rc = rows_copy(c, err);
	for (i = 0; !rc && (!copy || (ruled && !r->del)) && i < r->nrows; i++)
		rc = pipe_send(c, r->sql, rows_params(c, i), r->nparams, err);
	r->nrows = 0;
	r->sending = false;
	return rc;
}

static void rows_release(struct rows *r)
{
	free(r->sql);
	free(r->off);
	free(r->params);
	cv_buf_release(&r->vals);
}

/* ---- batch entry points -------------------------------------------- */

/* Reads every result still due and leaves pipeline mode. */
static int pipe_leave(struct pg_db *c, struct cv_error *err)
{
	int rc = rows_send(c, err);

	if (!c->piped)
		return rc;
	rc = pipe_sync(c, err);
	PQexitPipelineMode(c->conn);
	c->piped = false;
	return rc;
}

static void pg_batch_begin(struct cv_db *db)
{
	struct pg_db *c = to_pg(db);

	/* A libpq older than 14 has no pipeline: statements then wait. */
	c->batching = PQenterPipelineMode != NULL && !c->streaming;
	/* Rows are joined only inside a transaction: the savepoint
	 * that makes a failure the row's own needs one. */
	c->batch_rows = PQtransactionStatus(c->conn) == PQTRANS_INTRANS;
	c->batch_done = 0;
	c->batch_rc = 0;
}

static int pg_batch_end(struct cv_db *db, size_t *done, struct cv_error *err)
{
	struct pg_db *c = to_pg(db);

	pipe_leave(c, err);
	c->batching = false;
	*done = c->batch_done;
	return c->batch_rc;
}

/*
 * exec inside a batch: the rows of one INSERT ... VALUES statement, or
 * the keys of one DELETE, run again and again are kept and sent as one;
 * anything else is sent now.
 */
static int batch_send(struct pg_db *c, const char *sql,
		      const char *const *params, size_t nparams,
		      struct cv_error *err)
{
	struct rows *r = &c->rows;
	bool same = r->nrows && strcmp(sql, r->sql) == 0;
	size_t at = same ? r->at : 0;
	bool del = same && r->del;
	struct keys k;
	int rc = c->batch_rc;

	if (!same && nparams && c->batch_rows) {
		at = values_at(sql, nparams);
		del = !at && keys_of(sql, nparams, &k);
	}
	if (!rc && r->nrows && !same)
		rc = rows_send(c, err);
	if (rc < 0)
		return rc;
	if (!at && !del)
		return pipe_send(c, sql, params, nparams, err);
	rows_add(c, sql, at, del, params, nparams);
	if (r->nrows < ROWS_MAX && r->vals.len < ROWS_BYTES)
		return 0;
	return rows_send(c, err);
}

/* ---- connection --------------------------------------------------- */

/* Notices ("relation already exists, skipping") are not for the user. */
static void ignore_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

/* Does `text` quote a password this connection string holds or used? */
static bool quotes_password(const char *text, const char *conninfo,
			    PGconn *conn)
{
	PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);
	const char *used = conn ? PQpass(conn) : NULL;
	bool found = false;

	if (used && *used && strstr(text, used))
		found = true;
	for (PQconninfoOption *o = opts; o && o->keyword && !found; o++)
		if (!strcmp(o->keyword, "password") && o->val && *o->val &&
		    strstr(text, o->val))
			found = true;
	PQconninfoFree(opts);
	return found;
}

/*
 * Why the connection failed, in words.  A database that does not exist
 * is an error like any other, not an empty database as a SQLite file that
 * does not exist is (SPEC §4): apply cannot create it, so a plan against
 * it would promise what no apply can do, and a typo in the name would
 * turn a pull request's plan into "create everything".
 */
static int connect_error(PGconn *conn, const struct cv_url *url,
			 struct cv_error *err)
{
	const char *display = url->display ? url->display : "(postgres)";
	char *msg = trimmed(conn ? PQerrorMessage(conn) : "out of memory");
	int code = CV_EDB;

	if (quotes_password(msg, url->conninfo, conn))
		cv_error_set(err, code,
			     "cannot connect to '%s': libpq's message quotes "
			     "the password, so it is not shown",
			     cv_shorten(display));
	else
		cv_error_set(err, code, "cannot connect to '%s': %s",
			     cv_shorten(display), msg);
	free(msg);
	return code;
}

static void pg_quote_ident(struct cv_buf *out, const char *name);
static int pg_query(struct cv_db *db, const char *sql,
		    const char *const *params, size_t nparams, cv_row_fn fn,
		    void *ctx, struct cv_error *err);

/* SET search_path for the session (undone with the transaction it is in,
 * when that transaction is rolled back). */
static int set_path(struct pg_db *c, const char *path, struct cv_error *err)
{
	char *sql = cv_asprintf("SET search_path TO %s", path);
	int rc = run_simple(c, sql, err);

	free(sql);
	return rc;
}

static int pg_scope(struct cv_db *db, bool app, struct cv_error *err)
{
	struct pg_db *c = to_pg(db);
	int rc;

	if (!c->schema || c->app_scope == app)
		return 0;
	rc = set_path(c, app ? c->app_path : c->own_path, err);
	if (!rc)
		c->app_scope = app;
	return rc;
}

static void free_pg(struct pg_db *c)
{
	free(c->display);
	free(c->schema);
	free(c->schema_name);
	free(c->own_path);
	free(c->app_path);
	free(c->sent);
	rows_release(&c->rows);
	free(c);
}

static int first_text(void *ctx, const char *const *cols, const size_t *lens,
		      int ncols)
{
	char **out = ctx;

	(void)ncols;
	free(*out);
	*out = cols[0] ? cv_strndup(cols[0], lens[0]) : NULL;
	return 0;
}

/*
 * --schema NAME (SPEC §7): converge's tables and views live in NAME, and
 * without it in public (not the first schema of the search path, which
 * may be "$user" or whatever a role's settings say).  Its
 * own SQL runs with NAME first in the search path, so that what it
 * creates goes there; the application's SQL (revisions, checks) runs with
 * the search path the connection had and NAME last, so that a revision's
 * CREATE TABLE lands where it always did and a check can still read
 * converge's tables.  The first apply that writes makes the schema.
 */
static int storage_schema(struct pg_db *c, const char *name,
			  struct cv_error *err)
{
	struct cv_buf q = CV_BUF_INIT;
	char *path = NULL;
	int rc;

	rc = pg_query(&c->base, "SELECT pg_catalog.current_setting('search_path')",
		      NULL, 0, first_text, &path, err);
	if (rc < 0)
		return rc;
	pg_quote_ident(&q, name);
	c->schema = cv_buf_detach(&q);
	c->schema_name = cv_strdup(name);
	c->own_path = path && *path ? cv_asprintf("%s, %s", c->schema, path) :
				      cv_strdup(c->schema);
	c->app_path = path && *path ? cv_asprintf("%s, %s", path, c->schema) :
				      cv_strdup(c->schema);
	free(path);
	return set_path(c, c->own_path, err);
}

static int pg_open(struct cv_db **out, const struct cv_url *url,
		   unsigned flags, long lock_timeout_ms, struct cv_error *err)
{
	/*
	 * The URL is expanded in place of dbname: what it sets overrides the
	 * application name before it, and the client encoding after it
	 * overrides the URL.  converge reads and writes UTF-8 only.
	 */
	const char *const keys[] = { "application_name", "dbname",
				     "client_encoding", NULL };
	const char *vals[] = { "converge", NULL, "UTF8", NULL };
	struct pg_db *c = NULL;
	PGconn *conn = NULL;
	int rc;

	/* Connecting waits for no lock; the advisory lock's wait is set
	 * by set_lock_timeout. */
	(void)lock_timeout_ms;
	*out = NULL;
	if (!url || !url->conninfo)
		return cv_error_set(err, CV_EUSAGE, "no postgres connection string");
	if (cv_pq_load(err))
		return CV_ERR;
	vals[1] = url->conninfo;
	conn = PQconnectdbParams(keys, vals, 1);
	if (!conn || PQstatus(conn) != CONNECTION_OK) {
		rc = connect_error(conn, url, err);
		goto out;
	}
	PQsetNoticeProcessor(conn, ignore_notice, NULL);

	c = cv_calloc(1, sizeof(*c));
	c->base.backend = &cv_postgres_backend;
	c->conn = conn;
	c->display = cv_strdup(url->display ? url->display : "");
	c->timeout_ms = DEFAULT_TIMEOUT_MS;
	c->readonly = flags & CV_DB_READONLY;
	conn = NULL;

	rc = storage_schema(c, url->schema ? url->schema : "public", err);
	if (rc < 0)
		goto out;
	/*
	 * A converge killed while the server runs its statement (a
	 * revision's CREATE INDEX CONCURRENTLY may take hours) would leave
	 * the statement running for nobody, and the lock held until it
	 * ends: the server looks every second whether converge is still
	 * there.  PostgreSQL 14 and later have the setting; where it is
	 * missing or cannot be set, the server checks only between
	 * statements, as before.
	 */
	run_simple(c, "SELECT pg_catalog.set_config(name, '1000', false) "
		   "FROM pg_catalog.pg_settings "
		   "WHERE name = 'client_connection_check_interval'", NULL);
	/* plan promises not to write: the server holds it to that. */
	if (c->readonly) {
		rc = run_simple(c, "SET SESSION CHARACTERISTICS AS TRANSACTION "
				"READ ONLY", err);
		if (rc < 0)
			goto out;
	}
	*out = &c->base;
	c = NULL;
	rc = 0;

out:
	if (c) {
		PQfinish(c->conn);
		free_pg(c);
	}
	PQfinish(conn);
	return rc;
}

static void pg_close(struct cv_db *db)
{
	struct pg_db *c = to_pg(db);

	if (!c)
		return;
	cv_trace_count("postgres: round trips", c->waits);
	cache_clear(c);
	/* Closing ends any transaction, and with it the advisory lock. */
	PQfinish(c->conn);
	free_pg(c);
}

static void pg_set_lock_timeout(struct cv_db *db, long ms)
{
	struct pg_db *c = to_pg(db);

	if (ms < 0)
		ms = 0;
	/* lock_timeout is an int of milliseconds on the server. */
	if (ms > 0x7fffffffL)
		ms = 0x7fffffffL;
	c->timeout_ms = ms;
}

/* The session lock of a run in segments (backend.h: hold_lock); taken
 * while the transaction's own lock is held, so it never waits. */
static int pg_hold_lock(struct cv_db *db, struct cv_error *err)
{
	return run_simple(to_pg(db), "SELECT pg_advisory_lock(" LOCK_KEY ")",
			  err);
}

static void pg_release_lock(struct cv_db *db)
{
	struct cv_error ignored = CV_ERROR_INIT;

	run_simple(to_pg(db), "SELECT pg_advisory_unlock(" LOCK_KEY ")",
		   &ignored);
	cv_error_release(&ignored);
}

/* ---- transactions ------------------------------------------------- */

static int first_bool(void *ctx, const char *const *cols, const size_t *lens,
		      int ncols)
{
	(void)lens;
	*(bool *)ctx = ncols > 0 && cols[0] &&
		       (cols[0][0] == 't' || cols[0][0] == '1');
	return 0;
}

/* The session holding converge's lock, as the server shows it. */
static const char HOLDER_SQL[] =
	"SELECT a.pid::text, coalesce(a.usename, ''),"
	" coalesce(a.application_name, ''),"
	" coalesce(to_char(coalesce(a.xact_start, a.backend_start)"
	" AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '')"
	" FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
	" WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1"
	" AND l.classid::bigint = ((" LOCK_KEY " >> 32) & 4294967295)"
	" AND l.objid::bigint = (" LOCK_KEY " & 4294967295)"
	" AND a.pid <> pg_backend_pid() LIMIT 1";

static int holder_row(void *ctx, const char *const *cols, const size_t *lens,
		      int ncols)
{
	struct cv_buf *b = ctx;

	(void)lens;
	if (ncols == 4 && cols[0] && cols[1] && cols[2] && cols[3])
		cv_buf_addf(b, "pid %s (role %s, application %s, since %s)",
			    cols[0], cols[1], *cols[2] ? cols[2] : "unnamed",
			    cols[3]);
	return 0;
}

/*
 * The session holding converge's lock, when the server says (a role may
 * see only its own sessions; a transaction the failed wait aborted
 * cannot ask).  The advisory lock is converge's alone.
 */
static bool pg_lock_holder(struct cv_db *db, struct cv_buf *who)
{
	struct pg_db *c = to_pg(db);

	if (PQtransactionStatus(c->conn) != PQTRANS_INERROR)
		pg_query(&c->base, HOLDER_SQL, NULL, 0, holder_row, who, NULL);
	return true;
}

static int locked_error(struct pg_db *c, struct cv_error *err)
{
	struct cv_buf who = CV_BUF_INIT;
	int rc;

	pg_lock_holder(&c->base, &who);
	/* The lock's own statement is no SQL of the user's: not shown. */
	cv_error_set_sql(err, NULL, NULL);
	rc = cv_error_set(err, CV_ELOCKED,
			  "database is locked by another apply (waited %g s)%s%s",
			  seconds(c->timeout_ms),
			  who.len ? "; it is held by " : "", cv_buf_str(&who));
	cv_buf_release(&who);
	return rc;
}

/*
 * Takes the advisory lock in the transaction just begun.  lock_timeout
 * bounds the wait; it is set for this statement only, so that the steps
 * that follow wait for table locks as the session always does.
 */
static int take_lock(struct pg_db *c, struct cv_error *err)
{
	char *set;
	bool got = false;
	PGresult *res;
	int rc;

	if (c->timeout_ms == 0) {
		c->waits++;
		res = PQexec(c->conn,
			     "SELECT pg_try_advisory_xact_lock(" LOCK_KEY ")");
		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			rc = db_error(c, res, "SELECT pg_try_advisory_xact_lock("
				      LOCK_KEY ")", err);
			PQclear(res);
			return rc;
		}
		got = PQntuples(res) == 1 && !PQgetisnull(res, 0, 0) &&
		      PQgetvalue(res, 0, 0)[0] == 't';
		PQclear(res);
		return got ? 0 : locked_error(c, err);
	}

	set = cv_asprintf("SET LOCAL lock_timeout = '%ldms'", c->timeout_ms);
	rc = run_simple(c, set, err);
	free(set);
	if (rc < 0)
		return rc;
	/* In a savepoint, so that a wait that times out leaves the
	 * transaction able to ask who holds the lock. */
	c->waits++;
	res = PQexec(c->conn, "SAVEPOINT cv_lock; "
			      "SELECT pg_advisory_xact_lock(" LOCK_KEY ")");
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		rc = db_error(c, res, "SELECT pg_advisory_xact_lock(" LOCK_KEY ")",
			      err);
		PQclear(res);
		if (rc != CV_ELOCKED)
			return rc;
		run_simple(c, "ROLLBACK TO SAVEPOINT cv_lock", NULL);
		return locked_error(c, err);
	}
	PQclear(res);
	return run_simple(c, "RELEASE SAVEPOINT cv_lock; "
			     "SET LOCAL lock_timeout = DEFAULT", err);
}

/*
 * converge's schema, made when it is missing (undone with the transaction
 * when nothing is applied).  Only then: CREATE SCHEMA IF NOT EXISTS needs
 * CREATE on the database even when the schema is there, and a role that
 * owns its tables in public seldom has that.
 */
static int make_schema(struct pg_db *c, struct cv_error *err)
{
	const char *params[] = { c->schema_name };
	bool exists = false;
	char *sql;
	int rc;

	rc = pg_query(&c->base, "SELECT EXISTS (SELECT 1 FROM "
		      "pg_catalog.pg_namespace WHERE nspname = $1)",
		      params, 1, first_bool, &exists, err);
	if (rc < 0 || exists)
		return rc;
	sql = cv_asprintf("CREATE SCHEMA %s", c->schema);
	rc = run_simple(c, sql, err);
	free(sql);
	return rc;
}

static int pg_begin(struct cv_db *db, struct cv_error *err)
{
	struct pg_db *c = to_pg(db);
	int rc;

	rc = check_idle(c, "BEGIN", err);
	if (!rc)
		rc = run_simple(c, "BEGIN", err);
	if (rc < 0)
		return rc;
	rc = take_lock(c, err);
	if (!rc)
		rc = make_schema(c, err);
	if (rc < 0)
		run_simple(c, "ROLLBACK", NULL);
	return rc;
}

static int pg_begin_read(struct cv_db *db, struct cv_error *err)
{
	struct pg_db *c = to_pg(db);
	int rc = check_idle(c, "BEGIN", err);

	/*
	 * One snapshot for everything plan reads; READ ONLY makes the server
	 * refuse any write, whatever the connection was opened for.
	 */
	if (!rc)
		rc = run_simple(c, "BEGIN ISOLATION LEVEL REPEATABLE READ "
				"READ ONLY", err);
	return rc;
}

static int pg_commit(struct cv_db *db, struct cv_error *err)
{
	struct pg_db *c = to_pg(db);
	PGresult *res;
	int rc = check_idle(c, "COMMIT", err);

	if (rc < 0)
		return rc;
	c->waits++;
	res = PQexec(c->conn, "COMMIT");
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		rc = db_error(c, res, "COMMIT", err);
	} else if (strcmp(PQcmdStatus(res), "ROLLBACK") == 0) {
		/* COMMIT of a transaction an error aborted rolls it back. */
		rc = cv_error_set(err, CV_EDB,
				  "postgres: the transaction was rolled back "
				  "instead of committed: an earlier statement "
				  "in it failed");
		cv_error_set_sql(err, NULL, "COMMIT");
	}
	PQclear(res);
	return rc;
}

static int pg_rollback(struct cv_db *db)
{
	struct pg_db *c = to_pg(db);
	PGresult *res;
	int rc = 0;

	if (!c || c->streaming)
		return c ? CV_EDB : 0;
	/* What a batch sent or kept is rolled back with the rest. */
	c->rows.nrows = 0;
	pipe_leave(c, NULL);
	c->batching = false;
	if (PQtransactionStatus(c->conn) == PQTRANS_IDLE)
		return 0;
	c->waits++;
	res = PQexec(c->conn, "ROLLBACK");
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		rc = CV_EDB;
	PQclear(res);
	return rc;
}

/* ---- statements --------------------------------------------------- */

/* ---- scripts ------------------------------------------------------ */

/* A character of an unquoted name or keyword (PostgreSQL's lexer). */
static bool word_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == '$' ||
	       (unsigned char)c >= 0x80;
}

/* Past the comment at p ("--" or "/" "*", which nest), or p itself. */
static const char *skip_comment(const char *p)
{
	int depth = 0;

	if (p[0] == '-' && p[1] == '-') {
		p += strcspn(p, "\n");
		return *p ? p + 1 : p;
	}
	if (p[0] != '/' || p[1] != '*')
		return p;
	do {
		if (p[0] == '/' && p[1] == '*') {
			depth++;
			p += 2;
		} else if (p[0] == '*' && p[1] == '/') {
			depth--;
			p += 2;
		} else if (*p) {
			p++;
		} else {
			break;
		}
	} while (depth);
	return p;
}

/* Past the quoted text opening at p: 'a''b', E'a\'b' or "a""b". */
static const char *skip_quoted(const char *p, bool backslashes)
{
	char q = *p++;

	while (*p) {
		if (backslashes && *p == '\\' && p[1]) {
			p += 2;
		} else if (*p == q && p[1] == q) {
			p += 2;
		} else if (*p == q) {
			return p + 1;
		} else {
			p++;
		}
	}
	return p;
}

/* Past the dollar-quoted text opening at p ($$...$$, $tag$...$tag$), or
 * p itself when p starts no such text ($1 is a parameter). */
static const char *skip_dollar(const char *p)
{
	const char *tag_end = p + 1, *e;
	size_t n;

	if (*tag_end >= '0' && *tag_end <= '9')
		return p;
	while (*tag_end != '$' && word_char(*tag_end))
		tag_end++;
	if (*tag_end != '$')
		return p;
	n = (size_t)(tag_end - p) + 1;
	for (e = tag_end + 1; (e = strchr(e, '$')); e++)
		if (strncmp(e, p, n) == 0)
			return e + n;
	return p + strlen(p);
}

/*
 * The end of the statement that starts at s: just past its ';', or the
 * end of the text.  A ';' in a string, a quoted name, a dollar-quoted body
 * or a comment ends nothing.  NULL when the text has a SQL-standard
 * function body (BEGIN ATOMIC ... END), whose own ';' only a parser can
 * tell apart: such a script is not split.
 */
static const char *stmt_end(const char *s)
{
	const char *p = s, *w;

	while (*p) {
		const char *next = skip_comment(p);

		if (next != p) {
			p = next;
		} else if (*p == ';') {
			return p + 1;
		} else if (*p == '\'' || *p == '"') {
			p = skip_quoted(p, false);
		} else if (*p == '$') {
			next = skip_dollar(p);
			p = next != p ? next : p + 1;
		} else if (word_char(*p)) {
			for (w = p; word_char(*p); p++)
				;
			/* E'...' takes backslash escapes. */
			if (p - w == 1 && (*w == 'E' || *w == 'e') && *p == '\'')
				p = skip_quoted(p, true);
			else if (p - w == 6 && strncasecmp(w, "atomic", 6) == 0)
				return NULL;
		} else {
			p++;
		}
	}
	return p;
}

/* Is [p, end) only spaces, semicolons and comments? */
static bool blank(const char *p, const char *end)
{
	while (p < end) {
		const char *next = skip_comment(p);

		if (next != p)
			p = next;
		else if (strchr(" \t\n\r\f\v;", *p))
			p++;
		else
			return false;
	}
	return true;
}

/*
 * Runs the statements of a script one by one, each in a transaction of
 * its own: what a revision marked `transaction: false` asks for, and the
 * only way to run CREATE INDEX CONCURRENTLY and its kind, which refuse
 * the implicit transaction of a multi-statement query.  Stops at the
 * first error, naming that statement.
 */
static int exec_each(struct pg_db *c, const char *sql, struct cv_error *err)
{
	const char *p = sql, *end;
	long line0 = 0;
	int rc = 0;

	while (*p && !rc) {
		PGresult *res;
		char *one;

		end = stmt_end(p);
		if (blank(p, end)) {
			for (; p < end; p++)
				line0 += *p == '\n';
			continue;
		}
		one = cv_strndup(p, (size_t)(end - p));
		c->waits++;
		res = PQexec(c->conn, one);
		if (PQresultStatus(res) == PGRES_COPY_IN ||
		    PQresultStatus(res) == PGRES_COPY_OUT)
			rc = end_copy(c, res, sql, err);
		else if (!res_ok(res))
			rc = db_error_in(c, res, one, sql, line0, err);
		PQclear(res);
		free(one);
		for (; p < end; p++)
			line0 += *p == '\n';
	}
	return rc;
}

/* Does the script hold more than one statement, and can it be split? */
static bool splittable(const char *sql)
{
	const char *first = sql, *end;
	int n = 0;

	while (*first) {
		end = stmt_end(first);
		if (!end)
			return false;
		if (!blank(first, end))
			n++;
		first = end;
	}
	return n > 1;
}

static int pg_exec_script(struct cv_db *db, const char *sql,
			  struct cv_error *err)
{
	struct pg_db *c = to_pg(db);
	int rc = check_idle(c, sql, err);

	if (rc < 0)
		return rc;
	/*
	 * Inside a transaction, the simple query protocol runs the whole
	 * text in one round trip (PQexec returns the last result, or the
	 * first error).  Outside one, it would run it as one implicit
	 * transaction, all or nothing, which is what a script outside a
	 * transaction does not want.
	 */
	if (PQtransactionStatus(c->conn) == PQTRANS_IDLE && splittable(sql))
		return exec_each(c, sql, err);
	return run_simple(c, sql, err);
}

/* Reads results until libpq has none left; the first error goes to err. */
static int drain(struct pg_db *c, const char *sql, int rc,
		 struct cv_error *err)
{
	PGresult *res;

	while ((res = PQgetResult(c->conn))) {
		ExecStatusType st = PQresultStatus(res);

		if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT) {
			int crc = end_copy(c, res, sql, rc ? NULL : err);

			rc = rc ? rc : crc;
		} else if (!rc && !res_ok(res) && st != PGRES_SINGLE_TUPLE) {
			rc = db_error(c, res, sql, err);
		}
		PQclear(res);
	}
	return rc;
}

static int pg_exec(struct cv_db *db, const char *sql,
		   const char *const *params, size_t nparams,
		   struct cv_error *err)
{
	struct pg_db *c = to_pg(db);
	int rc;

	if (c->batching)
		return batch_send(c, sql, params, nparams, err);
	rc = check_idle(c, sql, err);
	if (!rc)
		rc = send_stmt(c, sql, params, nparams, err);
	if (rc < 0)
		return rc;
	c->waits++;
	return drain(c, sql, 0, err);
}

static int pg_query(struct cv_db *db, const char *sql,
		    const char *const *params, size_t nparams,
		    cv_row_fn fn, void *ctx, struct cv_error *err)
{
	struct pg_db *c = to_pg(db);
	const char *inl_cols[ROW_INLINE];
	size_t inl_lens[ROW_INLINE];
	const char **cols = inl_cols;
	size_t *lens = inl_lens;
	int ncap = ROW_INLINE;
	PGresult *res = NULL;
	int rc = check_idle(c, sql, err);

	if (!rc)
		rc = send_stmt(c, sql, params, nparams, err);
	if (rc < 0)
		return rc;
	/*
	 * One row per result: memory stays flat however many rows come.
	 * Failing to switch only means the rows arrive in one result.
	 */
	c->waits++;
	PQsetSingleRowMode(c->conn);
	c->streaming = true;
	while ((res = PQgetResult(c->conn))) {
		ExecStatusType st = PQresultStatus(res);

		if (st == PGRES_SINGLE_TUPLE || st == PGRES_TUPLES_OK) {
			int ncols = PQnfields(res);
			int nrows = PQntuples(res);

			if (ncols > ncap) {
				if (cols != inl_cols) {
					free(cols);
					free(lens);
				}
				cols = cv_calloc((size_t)ncols, sizeof(*cols));
				lens = cv_calloc((size_t)ncols, sizeof(*lens));
				ncap = ncols;
			}
			/* After fn stopped the query, rows are read past. */
			for (int r = 0; r < nrows && !rc; r++) {
				for (int i = 0; i < ncols; i++) {
					bool null = PQgetisnull(res, r, i);

					cols[i] = null ? NULL :
						  PQgetvalue(res, r, i);
					lens[i] = null ? 0 : (size_t)
						  PQgetlength(res, r, i);
				}
				rc = fn(ctx, cols, lens, ncols);
			}
		} else if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT) {
			int crc = end_copy(c, res, sql, rc ? NULL : err);

			rc = rc ? rc : crc;
		} else if (!res_ok(res) && !rc) {
			rc = db_error(c, res, sql, err);
		}
		PQclear(res);
	}
	c->streaming = false;
	if (cols != inl_cols) {
		free(cols);
		free(lens);
	}
	return rc;
}

/* ---- catalogue ---------------------------------------------------- */

static int pg_table_exists(struct cv_db *db, const char *table, bool *out,
			   struct cv_error *err)
{
	struct pg_db *c = to_pg(db);
	const char *params[] = { table, c->app_scope ? NULL : c->schema_name };

	*out = false;
	/*
	 * Exactly this name (names are quoted wherever converge uses them),
	 * in the schema unqualified names are created in (--schema's, even
	 * before it exists): tables, partitioned tables, views, materialized
	 * and foreign tables.
	 */
	return pg_query(db,
			"SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class c "
			"JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
			"WHERE n.nspname = COALESCE($2, current_schema()) "
			"AND c.relname = $1 "
			"AND c.relkind IN ('r', 'p', 'v', 'm', 'f'))",
			params, 2, first_bool, out, err);
}

static int first_size(void *ctx, const char *const *cols,
		      const size_t *lens, int ncols)
{
	(void)lens;
	*(size_t *)ctx = ncols > 0 && cols[0] ?
			 (size_t)strtoul(cols[0], NULL, 10) : 0;
	return 0;
}

static int pg_column_width(struct cv_db *db, const char *table,
			   const char *column, size_t *out,
			   struct cv_error *err)
{
	struct pg_db *c = to_pg(db);
	const char *params[] = {
		table, column, c->app_scope ? NULL : c->schema_name
	};

	*out = 0;
	/* varchar(n) and char(n) keep n + 4 in atttypmod; -1 is no limit. */
	return pg_query(db,
			"SELECT a.atttypmod - 4 FROM pg_catalog.pg_attribute a "
			"JOIN pg_catalog.pg_class c ON c.oid = a.attrelid "
			"JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
			"WHERE n.nspname = COALESCE($3, current_schema()) "
			"AND c.relname = $1 AND a.attname = $2 "
			"AND NOT a.attisdropped AND a.atttypmod > 4 "
			"AND a.atttypid IN ('pg_catalog.varchar'::pg_catalog.regtype, "
			"'pg_catalog.bpchar'::pg_catalog.regtype)",
			params, 3, first_size, out, err);
}

/*
 * Whether table $1 has a column $2 for which `cond` holds.  to_regclass
 * finds the relation through the search path, as the statements naming
 * it do (with --schema, both schemas), and gives NULL rather than an
 * error when there is none.
 */
#define COLUMN_SQL(cond) \
	"SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute " \
	"WHERE attrelid = pg_catalog.to_regclass(" \
	"pg_catalog.quote_ident($1)) " \
	"AND attnum > 0 AND NOT attisdropped AND " cond ")"

static int column_test(struct cv_db *db, const char *sql, const char *table,
		       const char *column, bool *out, struct cv_error *err)
{
	const char *params[] = { table, column };

	*out = false;
	return pg_query(db, sql, params, 2, first_bool, out, err);
}

static int pg_column_exists(struct cv_db *db, const char *table,
			    const char *column, bool *out,
			    struct cv_error *err)
{
	return column_test(db, COLUMN_SQL("($2::text IS NULL OR "
					  "attname::text = $2)"),
			   table, column, out, err);
}

/* A primary key's column is NOT NULL too. */
static int pg_column_not_null(struct cv_db *db, const char *table,
			      const char *column, bool *out,
			      struct cv_error *err)
{
	return column_test(db, COLUMN_SQL("attname::text = $2 AND attnotnull"),
			   table, column, out, err);
}

static void pg_quote_ident(struct cv_buf *out, const char *name)
{
	/*
	 * What PQescapeIdentifier gives for a UTF-8 connection (every
	 * connection of this backend is one): the name in double quotes,
	 * double quotes in it doubled.  The descriptor has no connection to
	 * hand to libpq, and needs none for that.
	 */
	cv_buf_addch(out, '"');
	for (const char *p = name; *p; p++) {
		if (*p == '"')
			cv_buf_addch(out, '"');
		cv_buf_addch(out, *p);
	}
	cv_buf_addch(out, '"');
}

static int pg_table_has_rows(struct cv_db *db, const char *table, bool *out,
			     struct cv_error *err)
{
	struct cv_buf sql = CV_BUF_INIT;
	int rc;

	*out = false;
	cv_buf_adds(&sql, "SELECT EXISTS (SELECT 1 FROM ");
	pg_quote_ident(&sql, table);
	cv_buf_adds(&sql, ")");
	rc = pg_query(db, sql.buf, NULL, 0, first_bool, out, err);
	cv_buf_release(&sql);
	return rc;
}

static int pg_table_rows(struct cv_db *db, const char *schema,
			 const char *table, bool *out, struct cv_error *err)
{
	struct cv_buf name = CV_BUF_INIT, sql = CV_BUF_INIT;
	const char *params[1];
	bool exists = false;
	int rc;

	*out = false;
	if (schema) {
		pg_quote_ident(&name, schema);
		cv_buf_addch(&name, '.');
	}
	pg_quote_ident(&name, table);
	params[0] = name.buf;
	/* to_regclass finds it as the statement would, or gives NULL. */
	rc = pg_query(db,
		      "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class "
		      "WHERE oid = pg_catalog.to_regclass($1) "
		      "AND relkind IN ('r', 'p'))",
		      params, 1, first_bool, &exists, err);
	if (!rc && exists) {
		cv_buf_addf(&sql, "SELECT EXISTS (SELECT 1 FROM %s)", name.buf);
		rc = pg_query(db, sql.buf, NULL, 0, first_bool, out, err);
	}
	cv_buf_release(&sql);
	cv_buf_release(&name);
	return rc;
}

static int pg_foreign_key_check(struct cv_db *db, struct cv_error *err)
{
	/* PostgreSQL checks foreign keys itself, statement by statement. */
	(void)db;
	(void)err;
	return 0;
}

/* ---- snapshots: pg_dump and pg_restore ---------------------------- */

struct env {
	char **v;
	size_t nr, alloc;
};

static void env_set(struct env *e, const char *name, const char *value)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < e->nr; i++) {
		if (!strncmp(e->v[i], name, n) && e->v[i][n] == '=') {
			free(e->v[i]);
			e->v[i] = cv_asprintf("%s=%s", name, value);
			return;
		}
	}
	CV_GROW(e->v, e->nr + 2, e->alloc);
	e->v[e->nr++] = cv_asprintf("%s=%s", name, value);
	e->v[e->nr] = NULL;
}

static void env_release(struct env *e)
{
	for (size_t i = 0; i < e->nr; i++)
		free(e->v[i]);
	free(e->v);
}

/*
 * The environment for pg_dump and pg_restore: ours, with every libpq
 * setting of the connection string as its PG* variable, and the database,
 * user, host, port and password the connection actually used (a host list
 * resolves to the one that answered; a password may have come from a
 * password file).  Nothing of it is ever on a command line.
 */
static void child_env(struct pg_db *c, struct env *e)
{
	PQconninfoOption *opts = PQconninfo(c->conn);
	const char *v;

	memset(e, 0, sizeof(*e));
	for (char **p = environ; *p; p++) {
		CV_GROW(e->v, e->nr + 2, e->alloc);
		e->v[e->nr++] = cv_strdup(*p);
		e->v[e->nr] = NULL;
	}
	for (PQconninfoOption *o = opts; o && o->keyword; o++)
		if (o->envvar && o->val && *o->val)
			env_set(e, o->envvar, o->val);
	PQconninfoFree(opts);
	if ((v = PQdb(c->conn)) && *v)
		env_set(e, "PGDATABASE", v);
	if ((v = PQuser(c->conn)) && *v)
		env_set(e, "PGUSER", v);
	if ((v = PQhost(c->conn)) && *v)
		env_set(e, "PGHOST", v);
	if ((v = PQport(c->conn)) && *v)
		env_set(e, "PGPORT", v);
	if ((v = PQpass(c->conn)) && *v)
		env_set(e, "PGPASSWORD", v);
	/* The child talks to the same server in its own session. */
	env_set(e, "PGAPPNAME", "converge");
	env_set(e, "PGCLIENTENCODING", "UTF8");
}

/*
 * A child process: pg_dump, pg_restore or psql, run without a shell.  Its
 * stdin and stdout are whatever the caller gives; its stderr goes to an
 * anonymous file that is read once it has ended, so that a child with
 * much to say never blocks on a pipe nobody reads.
 */
struct child {
	const char *prog;
	pid_t pid;
	int execpipe;      /* read end: the errno of a failed exec, or EOF */
	int status;        /* from waitpid */
	int exec_errno;    /* nonzero: it never ran */
};

static int child_start(struct child *ch, const char *const *argv,
		       char *const *envp, int in_fd, int out_fd, int err_fd,
		       const char *what, struct cv_error *err)
{
	int ep[2];
	pid_t parent;

	memset(ch, 0, sizeof(*ch));
	ch->prog = argv[0];
	ch->pid = -1;
	ch->execpipe = -1;
	if (pipe2(ep, O_CLOEXEC) < 0)
		return cv_error_set(err, CV_EIO, "%s: cannot run %s: %s", what,
				    argv[0], strerror(errno));
	parent = getpid();
	ch->pid = fork();
	if (ch->pid < 0) {
		close(ep[0]);
		close(ep[1]);
		return cv_error_set(err, CV_EIO, "%s: cannot run %s: %s", what,
				    argv[0], strerror(errno));
	}
	if (ch->pid == 0) {
		/* Only async-signal-safe calls from here to exec. */
		int e;
		ssize_t n;

		/* A pg_dump of a converge that was killed ends with it,
		 * rather than dump on alone for nobody. */
		if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 ||
		    getppid() != parent)
			_exit(127);
		if (dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0 ||
		    dup2(err_fd, 2) < 0)
			_exit(127);
		signal(SIGPIPE, SIG_DFL);
		execvpe(argv[0], (char *const *)argv, envp);
		e = errno;
		n = write(ep[1], &e, sizeof(e));
		(void)n;
		_exit(127);
	}
	close(ep[1]);
	ch->execpipe = ep[0];
	return 0;
}

static void child_wait(struct child *ch)
{
	ssize_t n;

	if (ch->pid <= 0)
		return;
	/* The pipe closes at exec, or carries the errno of a failed one. */
	do {
		n = read(ch->execpipe, &ch->exec_errno, sizeof(ch->exec_errno));
	} while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(ch->exec_errno))
		ch->exec_errno = 0;
	close(ch->execpipe);
	ch->execpipe = -1;
	while (waitpid(ch->pid, &ch->status, 0) < 0 && errno == EINTR)
		;
	ch->pid = 0;
}

static bool child_ok(const struct child *ch)
{
	return !ch->exec_errno && WIFEXITED(ch->status) &&
	       WEXITSTATUS(ch->status) == 0;
}

/*
 * The line of a child's messages that says what failed: the first error
 * (psql: "ERROR:", pg_dump and pg_restore: "error:"), or the last line.
 * Points into msgs, which it cuts at that line's end.
 */
static const char *error_line(char *msgs)
{
	char *line = NULL, *p = msgs, *nl;

	while (*p) {
		size_t n;

		nl = strchr(p, '\n');
		n = nl ? (size_t)(nl - p) : strlen(p);
		if (n) {
			line = p;
			if (memmem(p, n, "ERROR:", 6) || memmem(p, n, "error:", 6))
				break;
		}
		if (!nl)
			break;
		p = nl + 1;
	}
	if (!line)
		return "";
	nl = strchr(line, '\n');
	if (nl)
		*nl = '\0';
	return line;
}

/* How a child that did not succeed ended, in err. */
static int child_error(struct pg_db *c, const struct child *ch, int msg_fd,
		       const char *what, struct cv_error *err)
{
	char buf[CHILD_MSG_MAX + 1];
	const char *line;
	ssize_t n;

	if (ch->exec_errno == ENOENT)
		return cv_error_set(err, CV_EIO,
				    "%s: %s not found in PATH (it comes with "
				    "the PostgreSQL client programs, e.g. "
				    "Debian's postgresql-client)", what,
				    ch->prog);
	if (ch->exec_errno)
		return cv_error_set(err, CV_EIO, "%s: cannot run %s: %s", what,
				    ch->prog, strerror(ch->exec_errno));
	if (WIFSIGNALED(ch->status))
		return cv_error_set(err, CV_EDB, "%s: %s was killed by signal %d",
				    what, ch->prog, WTERMSIG(ch->status));
	n = pread(msg_fd, buf, CHILD_MSG_MAX, 0);
	buf[n > 0 ? n : 0] = '\0';
	line = error_line(buf);
	if (quotes_password(line, "", c->conn))
		line = "(its message quotes the password, so it is not shown)";
	return cv_error_set(err, CV_EDB, "%s: %s failed: %s", what, ch->prog,
			    *line ? line : "exit status not 0");
}

/*
 * What every child gets besides its data: /dev/null (opened with `mode`)
 * and an anonymous file for its messages.  The caller closes both
 * descriptors that are not -1, whatever happens.
 */
static int child_fds(const char *what, int mode, int *null_fd, int *msg_fd,
		     struct cv_error *err)
{
	*null_fd = open("/dev/null", mode | O_CLOEXEC);
	if (*null_fd < 0)
		return cv_error_set(err, CV_EIO, "cannot open /dev/null: %s",
				    strerror(errno));
	*msg_fd = memfd_create("converge-messages", MFD_CLOEXEC);
	if (*msg_fd < 0)
		return cv_error_set(err, CV_EIO, "%s: cannot make a file for "
				    "messages: %s", what, strerror(errno));
	return 0;
}

static int pg_snapshot(struct cv_db *db, const char *path,
		       struct cv_error *err)
{
	static const char *const argv[] = {
		"pg_dump", "--format=custom", "--no-password", NULL
	};
	static const char what[] = "snapshot failed";
	struct pg_db *c = to_pg(db);
	struct child dump;
	struct env env = { NULL, 0, 0 };
	char *partial = NULL;
	int fd, null_fd = -1, msg_fd = -1, rc;

	/*
	 * Create the file ourselves, exclusively and 0600 from the start: a
	 * snapshot holds everything in the database, and must never replace
	 * an earlier one.  pg_dump writes the archive to it as its stdout,
	 * under another name until it is whole (util.h: cv_partial_create),
	 * so that a run killed meanwhile leaves no snapshot to restore.
	 */
	fd = cv_partial_create(path, &partial);
	if (fd < 0) {
		if (errno == EEXIST)
			return cv_error_set(err, CV_EIO,
					    "snapshot '%s' already exists", path);
		return cv_error_set(err, CV_EIO, "cannot create snapshot '%s': %s",
				    path, strerror(errno));
	}
	rc = child_fds(what, O_RDONLY, &null_fd, &msg_fd, err);
	if (rc < 0)
		goto out;
	/*
	 * pg_dump has its own connection and sees what is committed, which,
	 * right after begin, is the state the run starts from.
	 */
	child_env(c, &env);
	fflush(NULL);
	rc = child_start(&dump, argv, env.v, null_fd, fd, msg_fd, what, err);
	if (rc < 0)
		goto out;
	child_wait(&dump);
	if (dump.exec_errno == ENOENT) {
		rc = cv_error_set(err, CV_ENOTFOUND, "pg_dump not found; install "
				  "the PostgreSQL client tools");
		goto out;
	}
	if (!child_ok(&dump)) {
		rc = child_error(c, &dump, msg_fd, what, err);
		goto out;
	}
	rc = 0;
	if (fsync(fd) < 0)
		rc = cv_error_set(err, CV_EIO, "cannot write snapshot '%s': %s",
				  path, strerror(errno));

out:
	if (null_fd >= 0)
		close(null_fd);
	if (msg_fd >= 0)
		close(msg_fd);
	if (close(fd) < 0 && !rc)
		rc = cv_error_set(err, CV_EIO, "cannot write snapshot '%s': %s",
				  path, strerror(errno));
	if (!rc && cv_partial_publish(partial, path) < 0)
		rc = cv_error_set(err, CV_EIO, "cannot write snapshot '%s': %s",
				  path, strerror(errno));
	if (rc)
		unlink(partial);
	free(partial);
	env_release(&env);
	return rc;
}

/*
 * Holds converge's lock in the session, for as long as the restore runs
 * in other sessions: session and transaction advisory locks with one key
 * exclude each other, so no apply starts in the middle of a restore.
 */
static int lock_session(struct pg_db *c, struct cv_error *err)
{
	char *sql;
	bool got = false;
	int rc;

	if (c->timeout_ms == 0) {
		rc = pg_query(&c->base,
			      "SELECT pg_try_advisory_lock(" LOCK_KEY ")",
			      NULL, 0, first_bool, &got, err);
		if (!rc && !got)
			rc = locked_error(c, err);
		return rc;
	}
	sql = cv_asprintf("SET lock_timeout = '%ldms'", c->timeout_ms);
	rc = run_simple(c, sql, err);
	free(sql);
	if (!rc)
		rc = run_simple(c, "SELECT pg_advisory_lock(" LOCK_KEY ")", err);
	run_simple(c, "RESET lock_timeout", NULL);
	return rc == CV_ELOCKED ? locked_error(c, err) : rc;
}

/* Writes all of buf; false when the reader has gone (EPIPE) or on error. */
static bool write_all(int fd, const char *buf, size_t n)
{
	while (n) {
		ssize_t w = write(fd, buf, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		buf += w;
		n -= (size_t)w;
	}
	return true;
}

/* Copies from -> to until from ends; false when `to` stopped taking it. */
static bool forward(int from, int to)
{
	char buf[65536];

	for (;;) {
		ssize_t n = read(from, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n == 0;
		if (!write_all(to, buf, (size_t)n))
			return false;
	}
}

/*
 * Run by psql before the snapshot's script, in the same transaction: the
 * snapshot replaces the whole database, so every table, view and
 * sequence made since (which pg_restore --clean knows nothing about, and
 * whose foreign keys would keep it from dropping what it restores) goes
 * first, and so do the functions, procedures, aggregates, types and
 * domains, and then the schemas left empty, but public: a revision that
 * made them would otherwise fail when applied again ("type … already
 * exists").  What an extension owns, and what goes with its table
 * (identity and serial sequences, partitions, row types), is left to its
 * owner; a schema that still holds anything stays.
 */
static const char restore_prelude[] =
	"SET client_min_messages = warning;\n"
	"BEGIN;\n"
	"DO $converge$\n"
	"DECLARE r record;\n"
	"BEGIN\n"
	"  FOR r IN\n"
	"    SELECT n.nspname, c.relname, c.relkind\n"
	"    FROM pg_catalog.pg_class c\n"
	"    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace\n"
	"    WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')\n"
	"      AND NOT c.relispartition\n"
	"      AND n.nspname <> 'information_schema'\n"
	"      AND n.nspname NOT LIKE 'pg\\_%'\n"
	"      AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d\n"
	"        WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass\n"
	"          AND d.objid = c.oid AND d.deptype IN ('e', 'i', 'a'))\n"
	"  LOOP\n"
	"    EXECUTE pg_catalog.format('DROP %s IF EXISTS %I.%I CASCADE',\n"
	"      CASE r.relkind WHEN 'v' THEN 'VIEW'\n"
	"        WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE'\n"
	"        WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END,\n"
	"      r.nspname, r.relname);\n"
	"  END LOOP;\n"
	"  FOR r IN\n"
	"    SELECT p.oid::pg_catalog.regprocedure AS sig, p.prokind\n"
	"    FROM pg_catalog.pg_proc p\n"
	"    JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace\n"
	"    WHERE n.nspname <> 'information_schema'\n"
	"      AND n.nspname NOT LIKE 'pg\\_%'\n"
	"      AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d\n"
	"        WHERE d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass\n"
	"          AND d.objid = p.oid AND d.deptype IN ('e', 'i'))\n"
	"  LOOP\n"
	"    EXECUTE pg_catalog.format('DROP %s IF EXISTS %s CASCADE',\n"
	"      CASE r.prokind WHEN 'a' THEN 'AGGREGATE'\n"
	"        WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END, r.sig);\n"
	"  END LOOP;\n"
	"  FOR r IN\n"
	"    SELECT n.nspname, t.typname, t.typtype\n"
	"    FROM pg_catalog.pg_type t\n"
	"    JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace\n"
	"    LEFT JOIN pg_catalog.pg_class c ON c.oid = t.typrelid\n"
	"    WHERE t.typtype IN ('e', 'd', 'r', 'c')\n"
	"      AND (t.typtype <> 'c' OR c.relkind = 'c')\n"
	"      AND n.nspname <> 'information_schema'\n"
	"      AND n.nspname NOT LIKE 'pg\\_%'\n"
	"      AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d\n"
	"        WHERE d.classid = 'pg_catalog.pg_type'::pg_catalog.regclass\n"
	"          AND d.objid = t.oid AND d.deptype IN ('e', 'i'))\n"
	"  LOOP\n"
	"    EXECUTE pg_catalog.format('DROP %s IF EXISTS %I.%I CASCADE',\n"
	"      CASE r.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END,\n"
	"      r.nspname, r.typname);\n"
	"  END LOOP;\n"
	"  FOR r IN\n"
	"    SELECT n.nspname FROM pg_catalog.pg_namespace n\n"
	"    WHERE n.nspname NOT IN ('public', 'information_schema')\n"
	"      AND n.nspname NOT LIKE 'pg\\_%'\n"
	"  LOOP\n"
	"    BEGIN\n"
	"      EXECUTE pg_catalog.format('DROP SCHEMA %I', r.nspname);\n"
	"    EXCEPTION WHEN dependent_objects_still_exist THEN NULL;\n"
	"    END;\n"
	"  END LOOP;\n"
	"END\n"
	"$converge$;\n";

static void pg_param(struct cv_buf *out, unsigned n);

/* ---- the record of a restore, in psql's script -------------------- */

/*
 * A handle that runs nothing: what the journal writes through it
 * (cmd_restore's record) becomes psql's script after the snapshot's and
 * before its COMMIT, so that the restore and its record commit together
 * or not at all (pg_restore_recorded).  The statements are the
 * journal's own, built for this backend (quote_ident, param): each is
 * PREPAREd as it is, with its $n, then EXECUTEd with its values.  A
 * value never becomes SQL text: it is a psql variable, set on psql's
 * command line (--set=converge_vN=VALUE), that the script names as
 * :'converge_vN', which psql quotes as a literal; NULL is NULL.  ps
 * shows them, as it shows any command line: none is a secret (the
 * database's URL is the redacted one; the password stays in psql's
 * environment, child_env).
 */
struct pg_script {
	struct cv_db base;  /* first: a struct cv_db * points here */
	struct pg_db *c;
	struct cv_buf sql;
	struct env vars;    /* "--set=converge_vN=VALUE", NULL-terminated */
	unsigned nstmts;
};

static const struct cv_backend pg_script_backend;

static struct pg_script *to_script(struct cv_db *db)
{
	return (struct pg_script *)db;
}

static void script_init(struct pg_script *s, struct pg_db *c)
{
	memset(s, 0, sizeof(*s));
	s->base.backend = &pg_script_backend;
	s->c = c;
	cv_buf_init(&s->sql);
}

static void script_release(struct pg_script *s)
{
	cv_buf_release(&s->sql);
	env_release(&s->vars);
}

/* The script's name for a new variable holding `value` (:'converge_vN'). */
static void script_value(struct pg_script *s, const char *value)
{
	size_t n = s->vars.nr + 1;

	CV_GROW(s->vars.v, s->vars.nr + 2, s->vars.alloc);
	s->vars.v[s->vars.nr++] = cv_asprintf("--set=converge_v%zu=%s", n,
					      value);
	s->vars.v[s->vars.nr] = NULL;
	cv_buf_addf(&s->sql, ":'converge_v%zu'", n);
}

/*
 * psql reads the script, and reads a backslash as one of its commands
 * and a colon as a variable: SQL with either could become something
 * else than it says.  The journal's has neither.
 */
static int script_sql_ok(const char *sql, struct cv_error *err)
{
	if (!strpbrk(sql, "\\:"))
		return 0;
	return cv_error_set(err, CV_ERR, "postgres: cannot record the restore "
			    "in psql's script: its SQL holds a backslash or "
			    "a colon: %s", cv_shorten(sql));
}

/*
 * converge's schema when the snapshot has none (a snapshot taken before
 * the first apply, with the schema the prelude dropped), made as
 * make_schema makes it, and the search path of converge's own SQL: the
 * snapshot's script emptied it.  No lock: the restore's session holds
 * it already.
 */
static int script_begin(struct cv_db *db, struct cv_error *err)
{
	struct pg_script *s = to_script(db);

	(void)err;
	cv_buf_adds(&s->sql, "SELECT NOT EXISTS (SELECT 1 FROM "
		    "pg_catalog.pg_namespace WHERE nspname = ");
	script_value(s, s->c->schema_name);
	/* The schema's name is quoted (pg_quote_ident): psql reads
	 * nothing of its own inside double quotes. */
	cv_buf_addf(&s->sql, ") AS converge_no_schema \\gset\n"
		    "\\if :converge_no_schema\n"
		    "CREATE SCHEMA %s;\n"
		    "\\endif\n"
		    "SELECT pg_catalog.set_config('search_path', ",
		    s->c->schema);
	script_value(s, s->c->own_path);
	cv_buf_adds(&s->sql, ", true);\n");
	return 0;
}

/* The script's COMMIT comes after it, once pg_restore has succeeded. */
static int script_commit(struct cv_db *db, struct cv_error *err)
{
	(void)db;
	(void)err;
	return 0;
}

static int script_rollback(struct cv_db *db)
{
	(void)db;
	return 0;
}

static int script_exec_script(struct cv_db *db, const char *sql,
			      struct cv_error *err)
{
	struct pg_script *s = to_script(db);
	size_t n = strlen(sql);
	int rc = script_sql_ok(sql, err);

	if (rc)
		return rc;
	while (n && isspace((unsigned char)sql[n - 1]))
		n--;
	cv_buf_add(&s->sql, sql, n);
	cv_buf_adds(&s->sql, n && sql[n - 1] == ';' ? "\n" : ";\n");
	return 0;
}

static int script_exec(struct cv_db *db, const char *sql,
		       const char *const *params, size_t nparams,
		       struct cv_error *err)
{
	struct pg_script *s = to_script(db);
	unsigned id = ++s->nstmts;
	int rc = script_sql_ok(sql, err);

	if (rc)
		return rc;
	cv_buf_addf(&s->sql, "PREPARE converge_r%u AS\n%s;\nEXECUTE converge_r%u",
		    id, sql, id);
	for (size_t i = 0; i < nparams; i++) {
		cv_buf_adds(&s->sql, i ? ", " : "(");
		if (params[i])
			script_value(s, params[i]);
		else
			cv_buf_adds(&s->sql, "NULL");
	}
	cv_buf_addf(&s->sql, "%s;\nDEALLOCATE converge_r%u;\n",
		    nparams ? ")" : "", id);
	return 0;
}

static int script_query(struct cv_db *db, const char *sql,
			const char *const *params, size_t nparams,
			cv_row_fn fn, void *ctx, struct cv_error *err)
{
	(void)db;
	(void)params;
	(void)nparams;
	(void)fn;
	(void)ctx;
	return cv_error_set(err, CV_ERR, "postgres: the record of a restore "
			    "cannot read the database: %s", cv_shorten(sql));
}

static const struct cv_backend pg_script_backend = {
	.name = "postgres",
	.snapshot_ext = ".dump",
	.begin = script_begin,
	.commit = script_commit,
	.rollback = script_rollback,
	.exec_script = script_exec_script,
	.exec = script_exec,
	.query = script_query,
	.quote_ident = pg_quote_ident,
	.param = pg_param,
	.table_suffix = "",
	.bool_type = "boolean",
};

/*
 * Restores with `pg_restore --clean --if-exists` piped into psql, all in
 * one transaction that commits only once pg_restore has read the whole
 * archive without error: anything less rolls back and leaves the database
 * as it was.  (pg_restore's own --single-transaction cannot run the
 * prelude above in its transaction.)
 */
static int run_restore(struct pg_db *c, const char *path,
		       const struct pg_script *rec, struct cv_error *err)
{
	static const char what[] = "restore failed";
	static const char *const restore_argv[] = {
		"pg_restore", "--clean", "--if-exists", "--exit-on-error",
		"--file=-", NULL
	};
	static const char *const psql_args[] = {
		"psql", "--no-psqlrc", "--quiet", "--no-password",
		"--set=ON_ERROR_STOP=1",
	};
	struct cv_buf dbarg = CV_BUF_INIT;
	const char **psql_argv = NULL;
	size_t nargs = CV_ARRAY_SIZE(psql_args);
	struct child psql, restore;
	struct env env = { NULL, 0, 0 };
	struct sigaction ign, old_pipe;
	int to_psql[2] = { -1, -1 }, from_restore[2] = { -1, -1 };
	int fd = -1, null_fd = -1, msg_fd = -1, rc;
	bool locked = false, fed = false, sig_saved = false;
	struct stat st;

	psql.pid = restore.pid = 0;
	if (PQtransactionStatus(c->conn) != PQTRANS_IDLE)
		return cv_error_set(err, CV_EDB,
				    "cannot restore '%s' inside a transaction",
				    path);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return cv_error_set(err, CV_ENOTFOUND,
					    "snapshot '%s' does not exist", path);
		return cv_error_set(err, CV_EIO, "cannot read snapshot '%s': %s",
				    path, strerror(errno));
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		rc = cv_error_set(err, CV_EIO, "snapshot '%s' is not a file",
				  path);
		goto out;
	}
	rc = child_fds(what, O_RDWR, &null_fd, &msg_fd, err);
	if (rc < 0)
		goto out;
	if (pipe2(to_psql, O_CLOEXEC) < 0 || pipe2(from_restore, O_CLOEXEC) < 0) {
		rc = cv_error_set(err, CV_EIO, "%s: %s", what, strerror(errno));
		goto out;
	}
	/*
	 * psql connects to the database named here (as a connection string
	 * holding nothing but the name); the environment gives the rest.
	 */
	cv_buf_adds(&dbarg, "--dbname=dbname='");
	for (const char *p = PQdb(c->conn); p && *p; p++) {
		if (*p == '\'' || *p == '\\')
			cv_buf_addch(&dbarg, '\\');
		cv_buf_addch(&dbarg, *p);
	}
	cv_buf_addch(&dbarg, '\'');
	/* Then the record's values (pg_script), if any. */
	psql_argv = cv_calloc(nargs + 2 + (rec ? rec->vars.nr : 0),
			      sizeof(*psql_argv));
	memcpy(psql_argv, psql_args, sizeof(psql_args));
	psql_argv[nargs++] = dbarg.buf;
	for (size_t i = 0; rec && i < rec->vars.nr; i++)
		psql_argv[nargs++] = rec->vars.v[i];

	rc = lock_session(c, err);
	if (rc < 0)
		goto out;
	locked = true;

	/* psql may end early (an error stops it): a write must not kill us. */
	memset(&ign, 0, sizeof(ign));
	ign.sa_handler = SIG_IGN;
	sigemptyset(&ign.sa_mask);
	if (sigaction(SIGPIPE, &ign, &old_pipe) == 0)
		sig_saved = true;

	child_env(c, &env);
	fflush(NULL);
	rc = child_start(&psql, psql_argv, env.v, to_psql[0], null_fd, msg_fd,
			 what, err);
	if (rc < 0)
		goto out;
	close(to_psql[0]);
	to_psql[0] = -1;
	/* The archive comes on stdin: no path reaches a command line. */
	rc = child_start(&restore, restore_argv, env.v, fd, from_restore[1],
			 msg_fd, what, err);
	if (rc < 0)
		goto out;
	close(from_restore[1]);
	from_restore[1] = -1;

	fed = write_all(to_psql[1], restore_prelude,
			sizeof(restore_prelude) - 1) &&
	      forward(from_restore[0], to_psql[1]);
	/* If psql stopped taking the script, pg_restore must stop too. */
	close(from_restore[0]);
	from_restore[0] = -1;
	child_wait(&restore);
	/* The record of the restore, then COMMIT: one transaction. */
	if (fed && child_ok(&restore))
		fed = (!rec || write_all(to_psql[1], rec->sql.buf ? rec->sql.buf : "",
					 rec->sql.len)) &&
		      write_all(to_psql[1], "COMMIT;\n", 8);
	else
		fed = false;
	/* Without the COMMIT, psql's end rolls everything back. */
	close(to_psql[1]);
	to_psql[1] = -1;
	child_wait(&psql);

	if (!child_ok(&psql))
		rc = child_error(c, &psql, msg_fd, what, err);
	else if (!child_ok(&restore))
		rc = child_error(c, &restore, msg_fd, what, err);
	else if (!fed)
		rc = cv_error_set(err, CV_EIO, "%s: cannot pass the snapshot "
				  "to psql: %s", what, strerror(errno));
	else
		rc = 0;

out:
	/* On an early failure, children still running are waited for. */
	if (to_psql[1] >= 0)
		close(to_psql[1]);
	if (from_restore[0] >= 0)
		close(from_restore[0]);
	child_wait(&restore);
	child_wait(&psql);
	if (sig_saved)
		sigaction(SIGPIPE, &old_pipe, NULL);
	if (locked)
		run_simple(c, "SELECT pg_advisory_unlock(" LOCK_KEY ")", NULL);
	/* The tables under the cached statements were replaced. */
	if (locked && cache_reset(c) < 0)
		cache_clear(c);
	for (int i = 0; i < 2; i++) {
		if (to_psql[i] >= 0)
			close(to_psql[i]);
		if (from_restore[i] >= 0)
			close(from_restore[i]);
	}
	if (null_fd >= 0)
		close(null_fd);
	if (msg_fd >= 0)
		close(msg_fd);
	close(fd);
	cv_buf_release(&dbarg);
	free(psql_argv);
	env_release(&env);
	return rc;
}

static int pg_restore(struct cv_db *db, const char *path,
		      struct cv_error *err)
{
	return run_restore(to_pg(db), path, NULL, err);
}

/*
 * The restore with what `record` writes in the same transaction: the
 * record is written into psql's script first (pg_script), and runs
 * after the snapshot's SQL, before the COMMIT.  A record that fails
 * leaves the database as it was.
 */
static int pg_restore_recorded(struct cv_db *db, const char *path,
			       int (*record)(struct cv_db *into, void *arg,
					     struct cv_error *err),
			       void *arg, struct cv_error *err)
{
	struct pg_script s;
	int rc;

	script_init(&s, to_pg(db));
	rc = record(&s.base, arg, err);
	if (!rc)
		rc = run_restore(s.c, path, &s, err);
	script_release(&s);
	return rc;
}

static void pg_param(struct cv_buf *out, unsigned n)
{
	cv_buf_addf(out, "$%u", n);
}

const struct cv_backend cv_postgres_backend = {
	.name = "postgres",
	.snapshot_ext = ".dump",
	.open = pg_open,
	.close = pg_close,
	.set_lock_timeout = pg_set_lock_timeout,
	.begin = pg_begin,
	.begin_read = pg_begin_read,
	.commit = pg_commit,
	.rollback = pg_rollback,
	.hold_lock = pg_hold_lock,
	.release_lock = pg_release_lock,
	.lock_holder = pg_lock_holder,
	.exec_script = pg_exec_script,
	.exec = pg_exec,
	.batch_begin = pg_batch_begin,
	.batch_end = pg_batch_end,
	.query = pg_query,
	.scope = pg_scope,
	.table_exists = pg_table_exists,
	.table_has_rows = pg_table_has_rows,
	.table_rows = pg_table_rows,
	.column_exists = pg_column_exists,
	.column_not_null = pg_column_not_null,
	.column_width = pg_column_width,
	.foreign_key_check = pg_foreign_key_check,
	.snapshot = pg_snapshot,
	.restore = pg_restore,
	.restore_recorded = pg_restore_recorded,
	.quote_ident = pg_quote_ident,
	.param = pg_param,
	.table_suffix = "",
	.bool_type = "boolean",
};
