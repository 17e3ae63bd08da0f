/*
 * The journal tables (journal.h).  Every write goes through the backend
 * with bound parameters; the statement texts are built once per process.
 */
#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/time.h>

#include "converge/journal.h"
#include "converge/kind.h"
#include "converge/timeutil.h"

static const char *const run_cols[] = {
	"id", "kind", "actor", "started_at", "finished_at", "status",
	"fingerprint", "snapshot", "undoes", "undone_by", "database",
	"schema_table", "manifests_digest", "error",
};
#define NRUN_COLS CV_ARRAY_SIZE(run_cols)

/* Where each of run_cols lands in struct cv_run. */
static const size_t run_offsets[] = {
	offsetof(struct cv_run, id), offsetof(struct cv_run, kind),
	offsetof(struct cv_run, actor), offsetof(struct cv_run, started_at),
	offsetof(struct cv_run, finished_at), offsetof(struct cv_run, status),
	offsetof(struct cv_run, fingerprint), offsetof(struct cv_run, snapshot),
	offsetof(struct cv_run, undoes), offsetof(struct cv_run, undone_by),
	offsetof(struct cv_run, database),
	offsetof(struct cv_run, schema_table),
	offsetof(struct cv_run, manifests_digest),
	offsetof(struct cv_run, error),
};

static const char *const step_cols[] = {
	"run_id", "seq", "phase", "kind", "object", "action", "forward_sql",
	"inverse_sql", "status", "detail", "note", "flags", "object_key",
	"before_value", "after_value", "checksum", "forward_stmts",
	"inverse_stmts",
};
#define NSTEP_COLS CV_ARRAY_SIZE(step_cols)

int cv_journal_ensure(struct cv_db *db, struct cv_error *err)
{
	return db->backend->exec_script(db,
		"CREATE TABLE IF NOT EXISTS converge_runs (\n"
		"  id TEXT NOT NULL PRIMARY KEY,\n"
		"  kind TEXT NOT NULL,\n"
		"  actor TEXT,\n"
		"  started_at TEXT NOT NULL,\n"
		"  finished_at TEXT,\n"
		"  status TEXT NOT NULL,\n"
		"  fingerprint TEXT,\n"
		"  snapshot TEXT,\n"
		"  undoes TEXT,\n"
		"  undone_by TEXT,\n"
		"  database TEXT,\n"
		"  schema_table TEXT,\n"
		"  manifests_digest TEXT,\n"
		"  error TEXT\n"
		");\n"
		"CREATE TABLE IF NOT EXISTS converge_steps (\n"
		"  run_id TEXT NOT NULL,\n"
		"  seq INTEGER NOT NULL,\n"
		"  phase INTEGER NOT NULL,\n"
		"  kind TEXT NOT NULL,\n"
		"  object TEXT NOT NULL,\n"
		"  action TEXT NOT NULL,\n"
		"  forward_sql TEXT,\n"
		"  inverse_sql TEXT,\n"
		"  status TEXT NOT NULL,\n"
		"  detail TEXT,\n"
		"  note TEXT,\n"
		"  flags INTEGER NOT NULL DEFAULT 0,\n"
		"  object_key TEXT,\n"
		"  before_value TEXT,\n"
		"  after_value TEXT,\n"
		"  checksum TEXT,\n"
		"  forward_stmts TEXT,\n"
		"  inverse_stmts TEXT,\n"
		"  PRIMARY KEY (run_id, seq)\n"
		");\n"
		"CREATE TABLE IF NOT EXISTS converge_migrations (\n"
		"  id TEXT NOT NULL PRIMARY KEY,\n"
		"  checksum TEXT NOT NULL,\n"
		"  applied_at TEXT NOT NULL,\n"
		"  run_id TEXT\n"
		");\n", err);
}

int cv_journal_exists(struct cv_db *db, bool *out, struct cv_error *err)
{
	*out = false;
	if (!db)
		return 0;
	return db->backend->table_exists(db, "converge_runs", out, err);
}

/* SQL texts, built on first use for the connection's backend. */
struct journal_sql {
	const struct cv_backend *be;
	struct cv_arena arena;
	const char *insert_run, *finish_run, *set_undone, *insert_step;
	const char *insert_steps;   /* step_rows rows */
	size_t step_rows;
	const char *max_id;
};

/* The most converge_steps rows one INSERT carries. */
#define STEP_ROWS_MAX 32

static struct journal_sql *sql_for(struct cv_db *db)
{
	static struct journal_sql q;
	static const char *const finish_sets[] = { "status", "finished_at",
						   "error" };
	static const char *const undone[] = { "undone_by" };
	const struct cv_backend *be = db->backend;
	struct cv_buf b = CV_BUF_INIT;

	if (q.be == be)
		return &q;
	if (q.be)
		cv_arena_release(&q.arena);
	cv_arena_init(&q.arena);
	q.be = be;
	q.insert_run = cv_sql_insert(be, &q.arena, "converge_runs", run_cols,
				     NRUN_COLS);
	q.finish_run = cv_sql_update(be, &q.arena, "converge_runs",
				     finish_sets, 3, run_cols, 1);
	q.set_undone = cv_sql_update(be, &q.arena, "converge_runs", undone, 1,
				     run_cols, 1);
	q.insert_step = cv_sql_insert(be, &q.arena, "converge_steps",
				      step_cols, NSTEP_COLS);
	q.step_rows = be->insert_rows > STEP_ROWS_MAX ? STEP_ROWS_MAX :
		      be->insert_rows ? be->insert_rows : 1;
	q.insert_steps = cv_sql_insert_rows(be, &q.arena, "converge_steps",
					    step_cols, NSTEP_COLS,
					    q.step_rows);
	cv_buf_adds(&b, "SELECT max(");
	be->quote_ident(&b, "id");
	cv_buf_adds(&b, ") FROM ");
	be->quote_ident(&b, "converge_runs");
	q.max_id = cv_arena_strdup(&q.arena, b.buf);
	cv_buf_release(&b);
	return &q;
}

static int get_first(void *p, const char *const *cols, const size_t *lens,
		     int ncols)
{
	char *out = p;

	(void)ncols;
	if (cols[0] && lens[0] < CV_RUN_ID_MAX)
		memcpy(out, cols[0], lens[0] + 1);
	return 0;
}

int cv_journal_new_run_id(struct cv_db *db, char out[CV_RUN_ID_MAX],
			  struct cv_error *err)
{
	char max[CV_RUN_ID_MAX] = "";
	unsigned char rnd[3];
	struct timeval tv;
	struct tm tm;
	char stamp[32];
	bool exists = false;
	time_t secs;
	int ret;

	gettimeofday(&tv, NULL);
	secs = tv.tv_sec;
	gmtime_r(&secs, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%S", &tm);
	/* The kernel's generator: three bytes do not need OpenSSL's, whose
	 * first use seeds a DRBG (a millisecond of a short run). */
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return cv_error_set(err, CV_ERR, "no random bytes for a run id");
	snprintf(out, CV_RUN_ID_MAX, "%s.%06ldZ-%02x%02x%02x", stamp,
		 (long)tv.tv_usec, rnd[0], rnd[1], rnd[2]);
	ret = cv_journal_exists(db, &exists, err);
	if (ret || !exists)
		return ret;
	ret = db->backend->query(db, sql_for(db)->max_id, NULL, 0, get_first,
				 max, err);
	if (ret)
		return ret;
	/* A clock that went back must not make an id sort before older
	 * ones: extending the newest id sorts right after it. */
	if (strcmp(out, max) <= 0 && strlen(max) + 8 < CV_RUN_ID_MAX)
		snprintf(out, CV_RUN_ID_MAX, "%s-%02x%02x%02x", max, rnd[0],
			 rnd[1], rnd[2]);
	return 0;
}

/* n characters of s, each a digit (hex: a lowercase hex digit). */
static bool all_digits(const char *s, size_t n, bool hex)
{
	for (size_t i = 0; i < n; i++)
		if (!(isdigit((unsigned char)s[i]) ||
		      (hex && s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

size_t cv_journal_run_id_len(const char *s)
{
	/* "YYYYMMDDTHHMMSS.uuuuuuZ", then "-xxxxxx" once or more. */
	size_t n = 0;

	if (strlen(s) < 30 || !all_digits(s, 8, false) || s[8] != 'T' ||
	    !all_digits(s + 9, 6, false) || s[15] != '.' ||
	    !all_digits(s + 16, 6, false) || s[22] != 'Z')
		return 0;
	n = 23;
	while (s[n] == '-' && strlen(s + n) >= 7 &&
	       all_digits(s + n + 1, 6, true) && n + 7 < CV_RUN_ID_MAX)
		n += 7;
	return n > 23 ? n : 0;
}

int cv_journal_insert_run(struct cv_db *db, const struct cv_run *r,
			  struct cv_error *err)
{
	const char *p[NRUN_COLS] = {
		r->id, r->kind, r->actor, r->started_at, r->finished_at,
		r->status, r->fingerprint, r->snapshot, r->undoes, r->undone_by,
		r->database, r->schema_table, r->manifests_digest, r->error,
	};

	return db->backend->exec(db, sql_for(db)->insert_run, p, NRUN_COLS,
				 err);
}

int cv_journal_finish_run(struct cv_db *db, const char *id,
			  const char *status, const char *error,
			  struct cv_error *err)
{
	char now[CV_TIME_LEN];
	const char *p[4];

	cv_time_format(cv_time_now(), now);
	p[0] = status;
	p[1] = now;
	p[2] = error;
	p[3] = id;
	return db->backend->exec(db, sql_for(db)->finish_run, p, 4, err);
}

int cv_journal_set_undone(struct cv_db *db, const char *id,
			  const char *undone_by, struct cv_error *err)
{
	const char *p[2] = { undone_by, id };

	return db->backend->exec(db, sql_for(db)->set_undone, p, 2, err);
}

/* Appends n in decimal: printf costs more than the rest of a step. */
static void add_num(struct cv_buf *out, size_t n)
{
	char tmp[24];
	int i = (int)sizeof(tmp);

	do {
		tmp[--i] = (char)('0' + n % 10);
		n /= 10;
	} while (n);
	cv_buf_add(out, tmp + i, sizeof(tmp) - (size_t)i);
}

/*
 * The stored form of a statement list is two columns.  forward_sql (or
 * inverse_sql) holds the statement texts as they are, each followed by a
 * newline: readable, and exact.  forward_stmts holds the rest: for each
 * statement, 's' (script) or 'q' (query), the length of its text as
 * "<len>:", the parameter count as "<n>:", then each parameter as
 * "<len>:<bytes>", "~" for NULL, "$r" for the run id and "$t" for the
 * time the step runs at (filled in when it runs).  The texts are not
 * stored twice.
 */
void cv_stmts_encode(struct cv_buf *sql, struct cv_buf *code,
		     const struct cv_stmt *stmts, size_t n)
{
	size_t i, k, len;

	for (i = 0; i < n; i++) {
		const struct cv_stmt *s = &stmts[i];

		len = strlen(s->sql);
		cv_buf_add(sql, s->sql, len);
		cv_buf_addch(sql, '\n');
		cv_buf_addch(code, s->script ? 's' : 'q');
		add_num(code, len);
		cv_buf_addch(code, ':');
		add_num(code, s->nparams);
		cv_buf_addch(code, ':');
		for (k = 0; k < s->nparams; k++) {
			if (k + 1 == s->run_id_param) {
				cv_buf_adds(code, "$r");
				continue;
			}
			if (k + 1 == s->now_param) {
				cv_buf_adds(code, "$t");
				continue;
			}
			if (!s->params[k]) {
				cv_buf_addch(code, '~');
				continue;
			}
			len = strlen(s->params[k]);
			add_num(code, len);
			cv_buf_addch(code, ':');
			cv_buf_add(code, s->params[k], len);
		}
	}
}

static int read_len(const char **p, size_t *out)
{
	char *end;
	unsigned long long v;

	if (**p < '0' || **p > '9')
		return -1;
	v = strtoull(*p, &end, 10);
	if (*end != ':')
		return -1;
	*out = (size_t)v;
	*p = end + 1;
	return 0;
}

static int read_str(struct cv_arena *a, const char **p, const char *end,
		    const char **out)
{
	size_t n;

	if (**p == '~') {
		(*p)++;
		*out = NULL;
		return 0;
	}
	if (read_len(p, &n) || (size_t)(end - *p) < n)
		return -1;
	*out = cv_arena_strndup(a, *p, n);
	*p += n;
	return 0;
}

int cv_stmts_decode(struct cv_arena *arena, const char *sql, const char *code,
		    struct cv_stmt **out, uint32_t *nout)
{
	const char *p = code ? code : "", *end = p + strlen(p);
	const char *t = sql ? sql : "", *tend = t + strlen(t);
	struct cv_stmt *stmts = NULL;
	size_t n = 0, alloc = 0, k;

	while (p < end) {
		struct cv_stmt s;
		size_t np, len;

		memset(&s, 0, sizeof(s));
		if (*p != 's' && *p != 'q')
			goto bad;
		s.script = *p++ == 's';
		if (read_len(&p, &len) || len >= (size_t)(tend - t) ||
		    t[len] != '\n' || read_len(&p, &np) || np > 65535)
			goto bad;
		s.sql = cv_arena_strndup(arena, t, len);
		t += len + 1;
		s.nparams = (uint32_t)np;
		s.params = cv_arena_alloc(arena, (np + 1) * sizeof(char *));
		for (k = 0; k < np; k++) {
			if (p[0] == '$' && (p[1] == 'r' || p[1] == 't')) {
				if (p[1] == 'r')
					s.run_id_param = (uint16_t)(k + 1);
				else
					s.now_param = (uint16_t)(k + 1);
				s.params[k] = NULL;
				p += 2;
				continue;
			}
			if (read_str(arena, &p, end, &s.params[k]))
				goto bad;
		}
		CV_GROW(stmts, n + 1, alloc);
		stmts[n++] = s;
	}
	if (t != tend)
		goto bad;
	/* With the room cv_step_fwd/cv_step_inv expect (plan.h), so that a
	 * step read back can be added to like one planned. */
	*out = n ? cv_arena_alloc(arena, cv_stmt_room(n) * sizeof(*stmts))
		 : NULL;
	if (n)
		memcpy(*out, stmts, n * sizeof(*stmts));
	*nout = (uint32_t)n;
	free(stmts);
	return 0;
bad:
	free(stmts);
	return CV_EINVAL;
}

void cv_stmts_text(struct cv_buf *out, const struct cv_stmt *stmts, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (i)
			cv_buf_addch(out, '\n');
		cv_buf_adds(out, stmts[i].sql);
		while (out->len && (out->buf[out->len - 1] == '\n' ||
				    out->buf[out->len - 1] == ' ' ||
				    out->buf[out->len - 1] == '\t'))
			out->buf[--out->len] = '\0';
		if (!out->len || out->buf[out->len - 1] != ';')
			cv_buf_addch(out, ';');
	}
}

/* The texts a step's row is made of, kept until its INSERT has run. */
struct step_text {
	struct cv_buf enc_fwd, enc_inv, sql_fwd, sql_inv, enc_key, nums;
};

/* Fills p[0..NSTEP_COLS) with the row of step st, its texts made in t. */
static void step_row(const char **p, struct step_text *t, const char *run_id,
		     const struct cv_step *st, const char *status)
{
	size_t seq_at, phase_at, flags_at;
	uint32_t i;

	cv_buf_reset(&t->enc_fwd);
	cv_buf_reset(&t->enc_inv);
	cv_buf_reset(&t->sql_fwd);
	cv_buf_reset(&t->sql_inv);
	cv_buf_reset(&t->enc_key);
	cv_buf_reset(&t->nums);
	cv_stmts_encode(&t->sql_fwd, &t->enc_fwd, st->fwd, st->nfwd);
	cv_stmts_encode(&t->sql_inv, &t->enc_inv, st->inv, st->ninv);
	for (i = 0; i < st->nkey; i++) {
		size_t len = strlen(st->key[i]);

		add_num(&t->enc_key, len);
		cv_buf_addch(&t->enc_key, ':');
		cv_buf_add(&t->enc_key, st->key[i], len);
	}
	/* Three numbers in one buffer, NUL-separated (no reallocation
	 * between them moves the earlier ones: offsets, not pointers). */
	seq_at = t->nums.len;
	add_num(&t->nums, st->seq);
	cv_buf_addch(&t->nums, '\0');
	phase_at = t->nums.len;
	add_num(&t->nums, st->phase);
	cv_buf_addch(&t->nums, '\0');
	flags_at = t->nums.len;
	add_num(&t->nums, st->flags);
	p[0] = run_id;
	p[1] = t->nums.buf + seq_at;
	p[2] = t->nums.buf + phase_at;
	p[3] = st->kind;
	p[4] = st->object;
	p[5] = cv_action_name(st->action);
	p[6] = cv_buf_str(&t->sql_fwd);
	p[7] = st->ninv ? cv_buf_str(&t->sql_inv) : NULL;
	p[8] = status;
	p[9] = st->detail;
	p[10] = st->note;
	p[11] = t->nums.buf + flags_at;
	p[12] = cv_buf_str(&t->enc_key);
	p[13] = st->before;
	p[14] = st->after;
	p[15] = st->checksum;
	p[16] = cv_buf_str(&t->enc_fwd);
	p[17] = cv_buf_str(&t->enc_inv);
}

int cv_journal_add_steps(struct cv_db *db, const char *run_id,
			 const struct cv_step *steps, size_t n,
			 const char *status, struct cv_error *err)
{
	/* Reused across runs: this is a hot path. */
	static struct step_text texts[STEP_ROWS_MAX];
	const struct journal_sql *q = sql_for(db);
	const char *p[STEP_ROWS_MAX * NSTEP_COLS];
	size_t i = 0, r, k;
	int ret = 0;

	/* Full INSERTs of q->step_rows rows, then the rest one by one: a
	 * text per row count would be prepared for a single use. */
	while (i < n && !ret) {
		k = n - i >= q->step_rows ? q->step_rows : 1;
		for (r = 0; r < k; r++)
			step_row(p + r * NSTEP_COLS, &texts[r], run_id,
				 &steps[i + r], status);
		ret = db->backend->exec(db, k > 1 ? q->insert_steps :
						    q->insert_step,
					p, k * NSTEP_COLS, err);
		i += k;
	}
	return ret;
}

struct run_reader {
	struct cv_arena *arena;
	struct cv_run *runs;
	size_t nr, alloc;
};

static const char *dup_col(struct cv_arena *a, const char *s, size_t n)
{
	return s ? cv_arena_strndup(a, s, n) : NULL;
}

static int read_run(void *p, const char *const *cols, const size_t *lens,
		    int ncols)
{
	struct run_reader *rd = p;
	struct cv_run *r;
	int i;

	CV_GROW(rd->runs, rd->nr + 1, rd->alloc);
	r = &rd->runs[rd->nr++];
	memset(r, 0, sizeof(*r));
	for (i = 0; i < (int)NRUN_COLS && i < ncols; i++)
		*(const char **)((char *)r + run_offsets[i]) =
			dup_col(rd->arena, cols[i], lens[i]);
	if (ncols > (int)NRUN_COLS && cols[NRUN_COLS])
		r->nsteps = strtol(cols[NRUN_COLS], NULL, 10);
	return 0;
}

static char *runs_query(const struct cv_backend *be, bool one, size_t limit)
{
	struct cv_buf b = CV_BUF_INIT;
	size_t i;

	cv_buf_adds(&b, "SELECT ");
	for (i = 0; i < NRUN_COLS; i++) {
		cv_buf_adds(&b, "r.");
		be->quote_ident(&b, run_cols[i]);
		cv_buf_adds(&b, ", ");
	}
	cv_buf_adds(&b, "(SELECT count(*) FROM ");
	be->quote_ident(&b, "converge_steps");
	cv_buf_adds(&b, " s WHERE s.");
	be->quote_ident(&b, "run_id");
	cv_buf_adds(&b, " = r.");
	be->quote_ident(&b, "id");
	cv_buf_adds(&b, ") FROM ");
	be->quote_ident(&b, "converge_runs");
	cv_buf_adds(&b, " r");
	if (one) {
		cv_buf_adds(&b, " WHERE r.");
		be->quote_ident(&b, "id");
		cv_buf_adds(&b, " = ");
		be->param(&b, 1);
	}
	cv_buf_adds(&b, " ORDER BY r.");
	be->quote_ident(&b, "id");
	cv_buf_adds(&b, " DESC");
	if (limit)
		cv_buf_addf(&b, " LIMIT %zu", limit);
	return cv_buf_detach(&b);
}

/* Runs sql (and frees it) when there is a journal; else no rows. */
static int journal_query(struct cv_db *db, char *sql, cv_row_fn fn,
			 void *ctx, struct cv_error *err)
{
	bool exists = false;
	int ret = cv_journal_exists(db, &exists, err);

	if (!ret && exists)
		ret = db->backend->query(db, sql, NULL, 0, fn, ctx, err);
	free(sql);
	return ret;
}

int cv_journal_runs(struct cv_db *db, struct cv_arena *arena, size_t limit,
		    struct cv_run **out, size_t *nout, struct cv_error *err)
{
	struct run_reader rd = { arena, NULL, 0, 0 };
	int ret;

	*out = NULL;
	*nout = 0;
	ret = journal_query(db, runs_query(db->backend, false, limit),
			    read_run, &rd, err);
	if (ret) {
		free(rd.runs);
		return ret;
	}
	*out = rd.nr ? cv_arena_memdup(arena, rd.runs,
				       rd.nr * sizeof(*rd.runs)) : NULL;
	*nout = rd.nr;
	free(rd.runs);
	return 0;
}

struct names {
	struct cv_arena *arena;
	const char **v;
	size_t n, alloc;
};

/* A sorted column's values, each once, NULLs left out. */
static int read_name(void *p, const char *const *cols, const size_t *lens,
		     int ncols)
{
	struct names *r = p;

	(void)ncols;
	if (!cols[0] || (r->n && strcmp(r->v[r->n - 1], cols[0]) == 0))
		return 0;
	CV_GROW(r->v, r->n + 2, r->alloc);
	r->v[r->n++] = cv_arena_strndup(r->arena, cols[0], lens[0]);
	r->v[r->n] = NULL;
	return 0;
}

int cv_journal_version_tables(struct cv_db *db, struct cv_arena *arena,
			      const char ***out, struct cv_error *err)
{
	static const char *const col[] = { "schema_table" };
	struct names r = { arena, NULL, 0, 0 };
	int ret;

	*out = NULL;
	ret = journal_query(db, cv_sql_select(db->backend, "converge_runs",
					      col, 1, col, 1),
			    read_name, &r, err);
	if (!ret && r.n)
		*out = cv_arena_memdup(arena, r.v, (r.n + 1) * sizeof(*r.v));
	free(r.v);
	return ret;
}

/* The binding of a step of store.grants: its key's second string. */
static int read_store_key(void *p, const char *const *cols,
			  const size_t *lens, int ncols)
{
	struct names *r = p;
	const char *k = cols[0] ? cols[0] : "", *end = k + lens[0];
	const char *tag, *enc;

	(void)ncols;
	if (read_str(r->arena, &k, end, &tag) ||
	    read_str(r->arena, &k, end, &enc) || !enc)
		return 0;
	CV_GROW(r->v, r->n + 2, r->alloc);
	r->v[r->n++] = enc;
	r->v[r->n] = NULL;
	return 0;
}

int cv_journal_grants_store(struct cv_db *db, struct cv_arena *arena,
			    const char **out, struct cv_error *err)
{
	struct names r = { arena, NULL, 0, 0 };
	int ret;

	*out = NULL;
	/* Keys are length-prefixed: a binding's steps start "6:@store". */
	ret = journal_query(db, cv_strdup(
		"SELECT object_key FROM converge_steps "
		"WHERE kind = 'grants' AND object_key LIKE '6:@store%' "
		"ORDER BY run_id DESC, seq DESC LIMIT 1"),
			    read_store_key, &r, err);
	if (!ret && r.n)
		*out = r.v[0];
	free(r.v);
	return ret;
}

int cv_journal_run(struct cv_db *db, struct cv_arena *arena, const char *id,
		   struct cv_run *out, struct cv_error *err)
{
	struct run_reader rd = { arena, NULL, 0, 0 };
	bool exists = false;
	char *sql;
	int ret;

	ret = cv_journal_exists(db, &exists, err);
	if (ret)
		return ret;
	if (!exists)
		return cv_error_set(err, CV_ENOTFOUND,
				    "no run '%s': the database has no journal",
				    cv_shorten(id));
	sql = runs_query(db->backend, true, 0);
	ret = db->backend->query(db, sql, &id, 1, read_run, &rd, err);
	free(sql);
	if (!ret && !rd.nr)
		ret = cv_error_set(err, CV_ENOTFOUND, "no run '%s' in the journal",
				   cv_shorten(id));
	if (!ret)
		*out = rd.runs[0];
	free(rd.runs);
	return ret;
}

struct step_reader {
	struct cv_plan *plan;
	int bad;
};

static int read_step(void *p, const char *const *cols, const size_t *lens,
		     int ncols)
{
	struct step_reader *rd = p;
	struct cv_plan *plan = rd->plan;
	struct cv_arena *a = &plan->arena;
	struct cv_step *st;
	int action;
	const char *k, *end;
	const char **keys = NULL;
	size_t nkeys = 0, alloc = 0;

	(void)ncols;
	if (cv_action_parse(cols[5] ? cols[5] : "", (enum cv_action *)&action)) {
		rd->bad = 1;
		return 1;
	}
	st = cv_plan_add(plan, (enum cv_phase)atoi(cols[2] ? cols[2] : "0"),
			 (enum cv_action)action, dup_col(a, cols[3], lens[3]),
			 dup_col(a, cols[4], lens[4]));
	st->seq = (uint32_t)strtoul(cols[1] ? cols[1] : "0", NULL, 10);
	st->detail = dup_col(a, cols[9], lens[9]);
	st->note = dup_col(a, cols[10], lens[10]);
	st->flags = (unsigned)strtoul(cols[11] ? cols[11] : "0", NULL, 10);
	st->before = dup_col(a, cols[13], lens[13]);
	st->after = dup_col(a, cols[14], lens[14]);
	st->checksum = dup_col(a, cols[15], lens[15]);
	k = cols[12] ? cols[12] : "";
	end = k + strlen(k);
	while (k < end) {
		const char *s;

		if (read_str(a, &k, end, &s) || !s) {
			rd->bad = 1;
			free(keys);
			return 1;
		}
		CV_GROW(keys, nkeys + 1, alloc);
		keys[nkeys++] = s;
	}
	cv_step_set_key(plan, st, keys, nkeys);
	free(keys);
	if (cv_stmts_decode(a, cols[6], cols[16], &st->fwd, &st->nfwd) ||
	    cv_stmts_decode(a, cols[7], cols[17], &st->inv, &st->ninv)) {
		rd->bad = 1;
		return 1;
	}
	return 0;
}

/* The first `limit` applied steps of a run (0: all of them). */
static int read_steps(struct cv_db *db, const char *run_id, size_t limit,
		      struct cv_plan *plan, struct cv_error *err)
{
	struct step_reader rd = { plan, 0 };
	struct cv_buf b = CV_BUF_INIT;
	size_t i;
	int ret;

	cv_buf_adds(&b, "SELECT ");
	for (i = 0; i < NSTEP_COLS; i++) {
		if (i)
			cv_buf_adds(&b, ", ");
		db->backend->quote_ident(&b, step_cols[i]);
	}
	cv_buf_adds(&b, " FROM ");
	db->backend->quote_ident(&b, "converge_steps");
	cv_buf_adds(&b, " WHERE ");
	db->backend->quote_ident(&b, "run_id");
	cv_buf_adds(&b, " = ");
	db->backend->param(&b, 1);
	cv_buf_adds(&b, " AND ");
	db->backend->quote_ident(&b, "status");
	cv_buf_adds(&b, " = 'applied' ORDER BY ");
	db->backend->quote_ident(&b, "seq");
	if (limit)
		cv_buf_addf(&b, " LIMIT %zu", limit);
	ret = db->backend->query(db, b.buf, &run_id, 1, read_step, &rd, err);
	cv_buf_release(&b);
	if (ret == 1 || rd.bad)
		return cv_error_set(err, CV_EINVAL,
				    "the journal's steps of run '%s' are damaged and cannot be read",
				    cv_shorten(run_id));
	return ret;
}

int cv_journal_steps(struct cv_db *db, const char *run_id,
		     struct cv_plan *plan, struct cv_error *err)
{
	return read_steps(db, run_id, 0, plan, err);
}

int cv_journal_steps_head(struct cv_db *db, const char *run_id, size_t limit,
			  struct cv_plan *plan, struct cv_error *err)
{
	return read_steps(db, run_id, limit ? limit : 1, plan, err);
}
