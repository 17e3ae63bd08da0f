/*
 * The saved plan file, converge-plan/1 (plan.h, SPEC §4): written with
 * libyaml's emitter and read back with the project's YAML loader.
 *
 * `apply FILE` runs exactly what the file says, so the file must say
 * exactly what was planned: every string that matters is quoted (or a
 * literal block, when that provably keeps it as it is), SQL NULL is a
 * plain `null`, and reading a file and writing it again gives the same
 * bytes.  The reader trusts nothing: every field is checked for presence
 * and type, and every error names the file, line and column.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <yaml.h>

#include "converge/kind.h"
#include "converge/model.h"
#include "converge/plan.h"
#include "converge/yaml.h"

/*
 * What `plan -o` writes, `apply FILE` must read: the first plan of a
 * million grants is 480 MB.  Past this, it is not a plan (or not one any
 * machine here holds: reading keeps the text and the steps, about twice
 * the file).
 */
#define PLAN_MAX_BYTES ((size_t)2 << 30)

/*
 * The emitter with a sticky error, as stdio's ferror: after the first
 * failure every emit is a no-op, and the writer checks once at the end.
 */
struct emit {
	yaml_emitter_t em;
	int code;            /* 0, or the CV_E* of the first failure */
	char *msg;           /* malloc'd message of the first failure */
};

static void fail(struct emit *e, int code, const char *fmt, ...)
	CV_PRINTF(3, 4);
static void fail(struct emit *e, int code, const char *fmt, ...)
{
	struct cv_buf b = CV_BUF_INIT;
	va_list ap;

	if (e->code)
		return;
	va_start(ap, fmt);
	cv_buf_vaddf(&b, fmt, ap);
	va_end(ap);
	e->code = code;
	e->msg = cv_buf_detach(&b);
}

/* Emits an event; the emitter deletes it, whether or not it succeeds. */
static void put(struct emit *e, yaml_event_t *ev)
{
	if (e->code) {
		yaml_event_delete(ev);
		return;
	}
	if (!yaml_emitter_emit(&e->em, ev))
		fail(e, e->em.error == YAML_WRITER_ERROR ? CV_EIO : CV_ERR,
		     "cannot write plan: %s",
		     e->em.problem ? e->em.problem : "emitter error");
}

static void scalar(struct emit *e, const char *s, yaml_scalar_style_t style)
{
	yaml_event_t ev;
	int plain = style == YAML_PLAIN_SCALAR_STYLE;

	if (e->code)
		return;
	/* libyaml refuses some text that is not UTF-8 here, and writes
	 * escapes its parser refuses for the rest (cv_utf8_valid). */
	if (!cv_utf8_valid(s, strlen(s)) ||
	    !yaml_scalar_event_initialize(&ev, NULL, NULL,
					  (yaml_char_t *)(uintptr_t)s,
					  (int)strlen(s), plain, !plain,
					  style)) {
		fail(e, CV_EINVAL, "cannot write plan: text is not valid "
		     "UTF-8: '%s'", cv_shorten(s));
		return;
	}
	put(e, &ev);
}

static void null_value(struct emit *e)
{
	scalar(e, "null", YAML_PLAIN_SCALAR_STYLE);
}

static void int_value(struct emit *e, unsigned long long v)
{
	char num[32];

	snprintf(num, sizeof(num), "%llu", v);
	scalar(e, num, YAML_PLAIN_SCALAR_STYLE);
}

/*
 * Names converge itself chose (format, backend, kind, action, flags,
 * sections) are written plain when they cannot be read as anything but
 * that text; anything else is quoted.
 */
static void ident(struct emit *e, const char *s)
{
	static const char *const special[] = {
		"null", "true", "false", "yes", "no", "on", "off", "y", "n",
	};
	const char *p;
	size_t i;
	bool plain = s && ((*s >= 'a' && *s <= 'z') ||
			   (*s >= 'A' && *s <= 'Z'));

	if (!s) {
		null_value(e);
		return;
	}
	for (p = s; plain && *p; p++)
		plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			(*p >= '0' && *p <= '9') || strchr("_-./", *p);
	for (i = 0; plain && i < CV_ARRAY_SIZE(special); i++)
		plain = strcasecmp(s, special[i]) != 0;
	scalar(e, s, plain ? YAML_PLAIN_SCALAR_STYLE
			   : YAML_DOUBLE_QUOTED_SCALAR_STYLE);
}

/*
 * Whether a literal block (`|`) gives `s` back exactly.  Only for
 * multi-line text whose lines have no trailing blanks, that does not
 * start with a blank or a break, ends in at most one newline, and holds
 * nothing but printable characters: libyaml would otherwise add
 * indentation or chomping indicators whose round trip we would rather
 * not depend on, or a reader would fold or strip something.
 */
static bool literal_ok(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), i;

	if (!strchr(s, '\n') || p[0] == ' ' || p[0] == '\n')
		return false;
	if (n >= 2 && p[n - 1] == '\n' && p[n - 2] == '\n')
		return false;
	for (i = 0; i < n; i++) {
		if (p[i] == '\n') {
			if (i > 0 && p[i - 1] == ' ')
				return false;
			continue;
		}
		if (p[i] < 0x20 || p[i] == 0x7f)
			return false;
		/* C1 controls and NEL (U+0080-U+009F). */
		if (p[i] == 0xc2 && i + 1 < n && p[i + 1] < 0xa0)
			return false;
		/* LINE / PARAGRAPH SEPARATOR (U+2028, U+2029): YAML breaks. */
		if (p[i] == 0xe2 && i + 2 < n && p[i + 1] == 0x80 &&
		    (p[i + 2] == 0xa8 || p[i + 2] == 0xa9))
			return false;
		/* BOM (U+FEFF). */
		if (p[i] == 0xef && i + 2 < n && p[i + 1] == 0xbb &&
		    p[i + 2] == 0xbf)
			return false;
	}
	return p[n - 1] != ' ';
}

/*
 * User text: NULL is `null`; multi-line text in block context is a
 * literal block when that keeps it exact; text with quotes or
 * backslashes is single-quoted (easier to review); the rest is
 * double-quoted.  libyaml itself moves to double quotes whenever a
 * style cannot hold the text, which keeps every case exact.
 */
static void text(struct emit *e, const char *s, bool flow)
{
	if (!s) {
		null_value(e);
		return;
	}
	if (!flow && literal_ok(s)) {
		scalar(e, s, YAML_LITERAL_SCALAR_STYLE);
		return;
	}
	if (!strchr(s, '\n') && strpbrk(s, "\"\\"))
		scalar(e, s, YAML_SINGLE_QUOTED_SCALAR_STYLE);
	else
		scalar(e, s, YAML_DOUBLE_QUOTED_SCALAR_STYLE);
}

static void key(struct emit *e, const char *k)
{
	scalar(e, k, YAML_PLAIN_SCALAR_STYLE);
}

static void map_start(struct emit *e, bool flow)
{
	yaml_event_t ev;

	if (e->code)
		return;
	yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
		flow ? YAML_FLOW_MAPPING_STYLE : YAML_BLOCK_MAPPING_STYLE);
	put(e, &ev);
}

static void map_end(struct emit *e)
{
	yaml_event_t ev;

	if (e->code)
		return;
	yaml_mapping_end_event_initialize(&ev);
	put(e, &ev);
}

static void seq_start(struct emit *e, bool flow)
{
	yaml_event_t ev;

	if (e->code)
		return;
	yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
		flow ? YAML_FLOW_SEQUENCE_STYLE : YAML_BLOCK_SEQUENCE_STYLE);
	put(e, &ev);
}

static void seq_end(struct emit *e)
{
	yaml_event_t ev;

	if (e->code)
		return;
	yaml_sequence_end_event_initialize(&ev);
	put(e, &ev);
}

static void text_seq(struct emit *e, const char *const *v, size_t n)
{
	size_t i;

	seq_start(e, true);
	for (i = 0; i < n; i++)
		text(e, v[i], true);
	seq_end(e);
}

static void stmts(struct emit *e, const struct cv_stmt *list, uint32_t n)
{
	uint32_t i;

	seq_start(e, false);
	for (i = 0; i < n; i++) {
		map_start(e, false);
		if (list[i].script) {
			key(e, "script");
			text(e, list[i].sql ? list[i].sql : "", false);
		} else {
			key(e, "sql");
			text(e, list[i].sql ? list[i].sql : "", false);
			if (list[i].nparams) {
				key(e, "params");
				text_seq(e, list[i].params, list[i].nparams);
			}
			if (list[i].run_id_param) {
				key(e, "run_id_param");
				int_value(e, list[i].run_id_param);
			}
			if (list[i].now_param) {
				key(e, "now_param");
				int_value(e, list[i].now_param);
			}
		}
		map_end(e);
	}
	seq_end(e);
}

static void step(struct emit *e, const struct cv_step *s)
{
	unsigned bit;

	map_start(e, false);
	key(e, "seq");
	int_value(e, s->seq);
	key(e, "phase");
	int_value(e, s->phase);
	key(e, "kind");
	ident(e, s->kind ? s->kind : "");
	key(e, "action");
	ident(e, cv_action_name((enum cv_action)s->action));
	key(e, "object");
	text(e, s->object ? s->object : "", false);
	if (s->detail) {
		key(e, "detail");
		text(e, s->detail, false);
	}
	if (s->flags) {
		key(e, "flags");
		seq_start(e, true);
		for (bit = 1; bit; bit <<= 1)
			if ((s->flags & bit) && cv_step_flag_name(bit))
				ident(e, cv_step_flag_name(bit));
		seq_end(e);
	}
	if (s->note) {
		key(e, "note");
		text(e, s->note, false);
	}
	key(e, "key");
	text_seq(e, s->key, s->nkey);
	key(e, "before");
	text(e, s->before, false);
	key(e, "after");
	text(e, s->after, false);
	if (s->checksum) {
		key(e, "checksum");
		text(e, s->checksum, false);
	}
	key(e, "forward");
	stmts(e, s->fwd, s->nfwd);
	key(e, "inverse");
	stmts(e, s->inv, s->ninv);
	map_end(e);
}

static void plan_body(struct emit *e, const struct cv_plan *plan)
{
	struct cv_plan_counts c;
	unsigned bit;
	size_t i;

	map_start(e, false);
	key(e, "format");
	ident(e, plan->format ? plan->format : CV_PLAN_FORMAT);
	key(e, "created_at");
	text(e, plan->created_at, false);
	key(e, "now");
	text(e, plan->now, false);
	key(e, "database");
	text(e, plan->database, false);
	key(e, "backend");
	ident(e, plan->backend);
	key(e, "fingerprint");
	text(e, plan->fingerprint, false);
	key(e, "manifests_digest");
	text(e, plan->manifests_digest, false);
	if (plan->storage_schema) {
		key(e, "storage_schema");
		text(e, plan->storage_schema, false);
	}
	key(e, "sections");
	seq_start(e, true);
	for (bit = 1; bit; bit <<= 1)
		if ((plan->sections & bit) && cv_section_name(bit))
			ident(e, cv_section_name(bit));
	seq_end(e);
	if (plan->sections & CV_SEC_SCHEMA) {
		key(e, "schema");
		map_start(e, true);
		key(e, "table");
		text(e, plan->schema_table, true);
		key(e, "from");
		text(e, plan->schema_from, true);
		key(e, "to");
		text(e, plan->schema_to, true);
		map_end(e);
	}
	if (plan->grants_store) {
		key(e, "grants_store");
		text(e, plan->grants_store, false);
	}
	if (plan->nmin_grants) {
		key(e, "guards");
		map_start(e, false);
		key(e, "min_grants");
		map_start(e, true);
		for (i = 0; i < plan->nmin_grants; i++) {
			text(e, plan->min_grants[i].role, true);
			int_value(e, (unsigned long long)plan->min_grants[i].min);
		}
		map_end(e);
		map_end(e);
	}
	if (plan->ndeferred) {
		key(e, "deferred_checks");
		text_seq(e, plan->deferred_checks, plan->ndeferred);
	}
	cv_plan_count(plan, &c);
	key(e, "summary");
	map_start(e, true);
	key(e, "add");
	int_value(e, c.add);
	key(e, "change");
	int_value(e, c.change);
	key(e, "remove");
	int_value(e, c.remove);
	key(e, "up");
	int_value(e, c.up);
	key(e, "down");
	int_value(e, c.down);
	map_end(e);
	key(e, "steps");
	seq_start(e, false);
	for (i = 0; i < plan->nr; i++)
		step(e, &plan->steps[i]);
	seq_end(e);
	map_end(e);
}

static int write_handler(void *data, unsigned char *buffer, size_t size)
{
	return fwrite(buffer, 1, size, data) == size;
}

int cv_plan_write_yaml(const struct cv_plan *plan, FILE *fp,
		       struct cv_error *err)
{
	struct emit e;
	yaml_event_t ev;
	int ret = 0;

	memset(&e, 0, sizeof(e));
	if (!yaml_emitter_initialize(&e.em))
		return cv_error_set(err, CV_ERR, "cannot start the YAML emitter");
	yaml_emitter_set_output(&e.em, write_handler, fp);
	yaml_emitter_set_unicode(&e.em, 1);
	/* No folding: a long line stays one line, as the reviewer saw it. */
	yaml_emitter_set_width(&e.em, -1);
	yaml_emitter_set_indent(&e.em, 2);
	yaml_emitter_set_break(&e.em, YAML_LN_BREAK);

	yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
	put(&e, &ev);
	if (!e.code) {
		yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1);
		put(&e, &ev);
	}
	plan_body(&e, plan);
	if (!e.code) {
		yaml_document_end_event_initialize(&ev, 1);
		put(&e, &ev);
	}
	if (!e.code) {
		yaml_stream_end_event_initialize(&ev);
		put(&e, &ev);
	}
	if (!e.code && (!yaml_emitter_flush(&e.em) || fflush(fp) != 0))
		fail(&e, CV_EIO, "cannot write plan: %s", strerror(errno));
	if (e.code)
		ret = cv_error_set(err, e.code, "%s", e.msg);
	free(e.msg);
	yaml_emitter_delete(&e.em);
	return ret;
}

/*
 * Reading.  Problems go to a diags list as the manifest loader's do; the
 * first one becomes the caller's cv_error, with its place.
 */
struct reader {
	struct cv_plan *plan;
	struct cv_diags diags;
	/*
	 * The steps are read as the parser reads them (a plan's nodes are
	 * most of its size), before the header that comes first in the
	 * file.  A second reader (`steps`; NULL in that one) keeps their
	 * problems until the steps' turn comes, and a statement short of
	 * parameters, which only the header's backend can tell, waits in
	 * its `params` with the place its problem would take.
	 */
	struct reader *steps;
	size_t nstreamed;
	struct pending_params {
		struct cv_mark mark;
		size_t at;          /* its place among the streamed problems */
		unsigned long want[2]; /* for '?' (SQLite) and '$' (PostgreSQL) */
		uint32_t nparams;
	} *params;
	size_t nparams, params_alloc;
};

static void bad(struct reader *r, const struct cv_node *at, const char *fmt,
		...) CV_PRINTF(3, 4);
static void bad(struct reader *r, const struct cv_node *at, const char *fmt,
		...)
{
	struct cv_buf b = CV_BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	cv_buf_vaddf(&b, fmt, ap);
	va_end(ap);
	cv_diag_error(&r->diags, at ? &at->mark : NULL, "%s", cv_buf_str(&b));
	cv_buf_release(&b);
}

static const struct cv_node *need(struct reader *r, const struct cv_node *map,
				  const char *k, const char *where)
{
	const struct cv_node *n = cv_yaml_get(map, k);

	if (!n)
		bad(r, map, "missing field '%s'%s%s", k, where ? " in " : "",
		    where ? where : "");
	return n;
}

/* A string, or NULL for a plain null when `nullable`; 0 or CV_EINVAL. */
static int get_str(struct reader *r, const struct cv_node *n, const char *what,
		   bool nullable, const char **out)
{
	*out = NULL;
	if (!n)
		return CV_EINVAL;
	if (nullable && cv_yaml_is_null(n))
		return 0;
	return cv_yaml_as_string(n, what, &r->diags, out);
}

static int need_str(struct reader *r, const struct cv_node *map,
		    const char *k, const char *where, bool nullable,
		    const char **out)
{
	const struct cv_node *n = need(r, map, k, where);

	*out = NULL;
	return n ? get_str(r, n, k, nullable, out) : CV_EINVAL;
}

static int opt_str(struct reader *r, const struct cv_node *map, const char *k,
		   const char **out)
{
	const struct cv_node *n = cv_yaml_get(map, k);

	*out = NULL;
	return n ? get_str(r, n, k, true, out) : 0;
}

static int get_uint(struct reader *r, const struct cv_node *n, const char *k,
		    long long max, long long *out)
{
	*out = 0;
	if (!n)
		return CV_EINVAL;
	if (cv_yaml_as_int(n, k, &r->diags, out))
		return CV_EINVAL;
	if (*out < 0 || *out > max) {
		bad(r, n, "'%s' is out of range: %lld", k, *out);
		return CV_EINVAL;
	}
	return 0;
}

/* A sequence of strings (entries may be null when `nullable`), copied
 * into an arena array; *n counts them. */
static int str_seq(struct reader *r, const struct cv_node *n, const char *what,
		   bool nullable, const char ***out, size_t *count)
{
	const char **v;
	size_t i = 0;
	int ret = 0;

	*out = NULL;
	*count = 0;
	if (cv_yaml_expect(n, CV_NODE_SEQ, what, &r->diags))
		return CV_EINVAL;
	if (!n->count)
		return 0;
	v = cv_arena_alloc(&r->plan->arena, n->count * sizeof(*v));
	cv_yaml_each(item, n) {
		if (get_str(r, item, what, nullable, &v[i]))
			ret = CV_EINVAL;
		i++;
	}
	*out = v;
	*count = i;
	return ret;
}

static const char *const stmt_keys[] = {
	"sql", "params", "script", "run_id_param", "now_param", NULL
};

/* A 1-based parameter position, or 0 when the key is absent. */
static uint16_t param_pos(struct reader *r, const struct cv_node *item,
			  const char *name, size_t nparams)
{
	const struct cv_node *v = cv_yaml_get(item, name);
	long long n;

	if (!v)
		return 0;
	if (cv_yaml_as_int(v, name, &r->diags, &n))
		return 0;
	if (n < 1 || (size_t)n > nparams) {
		bad(r, v, "'%s' must name one of the statement's parameters (1 to %zu)",
		    name, nparams);
		return 0;
	}
	return (uint16_t)n;
}

/*
 * The parameters a statement converge wrote takes: its highest ?N
 * (SQLite) or $N (PostgreSQL) outside quoted names and strings.
 */
static unsigned long placeholders(const char *sql, char mark)
{
	unsigned long max = 0, n;
	char quote = 0, *end;
	const char *p;

	for (p = sql; *p; p++) {
		if (quote) {
			if (*p == quote)
				quote = 0;
		} else if (*p == '\'' || *p == '"') {
			quote = *p;
		} else if (*p == mark && isdigit((unsigned char)p[1])) {
			n = strtoul(p + 1, &end, 10);
			if (n > max)
				max = n;
			p = end - 1;
		}
	}
	return max;
}

/* Which of placeholders' marks the plan's backend uses: 0 for '?'
 * (SQLite), 1 for '$' (PostgreSQL), -1 when it is not known. */
static int backend_mark(const struct cv_plan *plan)
{
	const char *be = plan->backend;

	return !be ? -1 : strcmp(be, "sqlite") == 0 ? 0 :
	       strcmp(be, "postgres") == 0 ? 1 : -1;
}

static void bad_params(struct reader *r, const struct cv_mark *at,
		       unsigned long want, uint32_t nparams)
{
	cv_diag_error(&r->diags, at,
		      "statement takes %lu parameter%s, 'params' has %u",
		      want, want == 1 ? "" : "s", nparams);
}

/*
 * A statement with fewer parameters than its SQL names fails only when
 * it runs: for an inverse, at rollback, long after the file was applied
 * (a file cut short at a line boundary loses its last `params`).  A
 * check's SQL is the user's own (PostgreSQL's jsonb `?` is no parameter).
 */
static void check_params(struct reader *r, const struct cv_node *item,
			 const struct cv_step *s, const struct cv_stmt *st)
{
	struct pending_params *p;
	unsigned long want[2];
	int mark;

	if (st->script || !st->sql || s->action == CV_ACT_CHECK)
		return;
	want[0] = placeholders(st->sql, '?');
	want[1] = placeholders(st->sql, '$');
	if (want[0] <= st->nparams && want[1] <= st->nparams)
		return;
	if (!r->steps) {	/* a streamed step: the backend comes later */
		CV_GROW(r->params, r->nparams + 1, r->params_alloc);
		p = &r->params[r->nparams++];
		p->mark = item->mark;
		p->at = r->diags.nr;
		p->want[0] = want[0];
		p->want[1] = want[1];
		p->nparams = st->nparams;
		return;
	}
	mark = backend_mark(r->plan);
	if (mark >= 0 && want[mark] > st->nparams)
		bad_params(r, &item->mark, want[mark], st->nparams);
}

/* The streamed steps' problems, in the order they were found, with the
 * parameter counts the backend now known finds short among them. */
static void take_streamed(struct reader *r)
{
	struct reader *s = r->steps;
	int mark = backend_mark(r->plan);
	size_t i, k = 0;

	for (i = 0; i <= s->diags.nr; i++) {
		for (; k < s->nparams && s->params[k].at == i; k++)
			if (mark >= 0 && s->params[k].want[mark] >
					 s->params[k].nparams)
				bad_params(r, &s->params[k].mark,
					   s->params[k].want[mark],
					   s->params[k].nparams);
		if (i == s->diags.nr)
			break;
		cv_diags_push(&r->diags, &s->diags.items[i]);
	}
	/* The messages are r's now. */
	free(s->diags.items);
	memset(&s->diags, 0, sizeof(s->diags));
}

static void read_stmts(struct reader *r, const struct cv_node *n,
		       const char *what, struct cv_step *s, bool inverse)
{
	if (cv_yaml_expect(n, CV_NODE_SEQ, what, &r->diags))
		return;
	cv_yaml_each(item, n) {
		const struct cv_node *sql, *script, *params;
		struct cv_stmt *st;
		const char **v = NULL;
		size_t nv = 0;

		if (cv_yaml_expect(item, CV_NODE_MAP, "statement", &r->diags))
			continue;
		cv_yaml_check_keys(item, stmt_keys, "statement", &r->diags);
		sql = cv_yaml_get(item, "sql");
		script = cv_yaml_get(item, "script");
		params = cv_yaml_get(item, "params");
		if (sql && script) {
			bad(r, item, "statement has both 'sql' and 'script'");
			continue;
		}
		if (!sql && !script) {
			bad(r, item, "missing field 'sql' in statement");
			continue;
		}
		if (script && params) {
			bad(r, params, "a 'script' statement takes no 'params'");
			continue;
		}
		if (params && str_seq(r, params, "params", true, &v, &nv))
			continue;
		/* Appended through the plan API, which keeps the arrays'
		 * growth invariant; the strings are in the arena already. */
		st = inverse ? cv_step_inv(r->plan, s, NULL, NULL, 0)
			     : cv_step_fwd(r->plan, s, NULL, NULL, 0);
		st->script = script != NULL;
		get_str(r, script ? script : sql, script ? "script" : "sql",
			false, &st->sql);
		st->params = v;
		st->nparams = (uint32_t)nv;
		st->run_id_param = param_pos(r, item, "run_id_param", nv);
		st->now_param = param_pos(r, item, "now_param", nv);
		check_params(r, item, s, st);
	}
}

static const char *const step_keys[] = {
	"seq", "phase", "kind", "action", "object", "detail", "flags", "note",
	"key", "before", "after", "checksum", "forward", "inverse", NULL,
};

static void read_step(struct reader *r, const struct cv_node *n, size_t index)
{
	const struct cv_node *v;
	struct cv_step *s;
	const char *str;
	long long num;
	char where[32];
	size_t nkey;
	enum cv_action action;

	snprintf(where, sizeof(where), "step %zu", index + 1);
	if (cv_yaml_expect(n, CV_NODE_MAP, "step", &r->diags))
		return;
	cv_yaml_check_keys(n, step_keys, "step", &r->diags);
	s = cv_plan_add(r->plan, CV_PHASE_ADD, CV_ACT_CREATE, NULL, NULL);

	v = need(r, n, "seq", where);
	if (v && !get_uint(r, v, "seq", UINT32_MAX, &num)) {
		if ((size_t)num != index + 1)
			bad(r, v, "step %zu has seq %lld; steps are numbered "
			    "from 1 in order", index + 1, num);
		s->seq = (uint32_t)num;
	}
	v = need(r, n, "phase", where);
	if (v && !get_uint(r, v, "phase", LLONG_MAX, &num)) {
		if (num < CV_PHASE_DISABLE_FLAGS || num > CV_PHASE_ENABLE_FLAGS)
			bad(r, v, "'phase' must be from %d to %d, got %lld",
			    CV_PHASE_DISABLE_FLAGS, CV_PHASE_ENABLE_FLAGS, num);
		else if (r->plan->nr > 1 &&
			 num < r->plan->steps[r->plan->nr - 2].phase)
			bad(r, v, "step %zu has phase %lld after phase %u; "
			    "steps are sorted by phase", index + 1, num,
			    r->plan->steps[r->plan->nr - 2].phase);
		else
			s->phase = (uint8_t)num;
	}
	need_str(r, n, "kind", where, false, &s->kind);
	/* A kind converge does not know would be journaled as one that
	 * rollback can neither check nor order. */
	if (s->kind && !cv_kind_find(s->kind))
		bad(r, cv_yaml_get(n, "kind"), "unknown kind '%s'",
		    cv_shorten(s->kind));
	v = need(r, n, "action", where);
	if (v && !get_str(r, v, "action", false, &str)) {
		if (cv_action_parse(str, &action))
			bad(r, v, "unknown action '%s'", cv_shorten(str));
		else
			s->action = (uint8_t)action;
	}
	need_str(r, n, "object", where, false, &s->object);
	opt_str(r, n, "detail", &s->detail);
	opt_str(r, n, "note", &s->note);
	opt_str(r, n, "checksum", &s->checksum);
	v = cv_yaml_get(n, "flags");
	if (v && !cv_yaml_expect(v, CV_NODE_SEQ, "flags", &r->diags)) {
		cv_yaml_each(f, v) {
			unsigned bit;

			if (get_str(r, f, "flags", false, &str))
				continue;
			if (cv_step_flag_parse(str, &bit))
				bad(r, f, "unknown flag '%s'", cv_shorten(str));
			else
				s->flags |= bit;
		}
	}
	v = need(r, n, "key", where);
	if (v && !str_seq(r, v, "key", false, &s->key, &nkey))
		s->nkey = (uint32_t)nkey;
	need_str(r, n, "before", where, true, &s->before);
	need_str(r, n, "after", where, true, &s->after);
	v = need(r, n, "forward", where);
	if (v)
		read_stmts(r, v, "forward", s, false);
	v = need(r, n, "inverse", where);
	if (v)
		read_stmts(r, v, "inverse", s, true);
}

static const char *const plan_keys[] = {
	"format", "created_at", "now", "database", "backend", "fingerprint",
	"manifests_digest", "storage_schema", "sections", "schema", "grants_store", "guards",
	"deferred_checks", "summary", "steps", NULL,
};
static const char *const schema_keys[] = { "table", "from", "to", NULL };
static const char *const summary_keys[] = {
	"add", "change", "remove", "up", "down", NULL,
};
static const char *const guards_keys[] = { "min_grants", NULL };

/* The summary is derived from the steps; one that disagrees with them
 * means the file was edited by hand, and we would rather say so. */
static void check_summary(struct reader *r, const struct cv_node *n)
{
	struct cv_plan_counts c;
	const size_t *want[] = { &c.add, &c.change, &c.remove, &c.up, &c.down };
	size_t i;

	if (cv_yaml_expect(n, CV_NODE_MAP, "summary", &r->diags))
		return;
	cv_yaml_check_keys(n, summary_keys, "summary", &r->diags);
	cv_plan_count(r->plan, &c);
	for (i = 0; i < CV_ARRAY_SIZE(want); i++) {
		const struct cv_node *v = need(r, n, summary_keys[i], "summary");
		long long num;

		if (!v || get_uint(r, v, summary_keys[i], LLONG_MAX, &num))
			continue;
		if ((unsigned long long)num != *want[i])
			bad(r, v, "summary says %s: %lld, but the steps say %zu",
			    summary_keys[i], num, *want[i]);
	}
}

/*
 * The guards the plan was made under.  They count grants, so a plan that
 * records them must have read the grants: its fingerprint covers what
 * apply counts.  A file without the field (older ones too) has none.
 */
static void read_guards(struct reader *r, const struct cv_node *n)
{
	const struct cv_node *mg;

	if (cv_yaml_expect(n, CV_NODE_MAP, "guards", &r->diags))
		return;
	cv_yaml_check_keys(n, guards_keys, "guards", &r->diags);
	if (!(r->plan->sections & CV_SEC_GRANTS))
		bad(r, n, "'guards' given but 'sections' does not include "
		    "grants");
	mg = need(r, n, "min_grants", "guards");
	if (!mg || cv_yaml_expect(mg, CV_NODE_MAP, "min_grants", &r->diags))
		return;
	cv_yaml_each(e, mg) {
		long long num;

		if (!get_uint(r, e, e->key, LLONG_MAX, &num))
			cv_plan_add_min_grant(r->plan, e->key, num,
					      &e->key_mark);
	}
}

/*
 * A manifest given where a saved plan is expected ("apply m.yaml" for
 * "apply -m m.yaml") has a manifest's keys: worth a hint, since "missing
 * field 'format'" alone does not say what went wrong.
 */
static bool looks_like_manifest(const struct cv_node *root)
{
	static const char *const keys[] = {
		"version", "roles", "grants", "entitlements", "flags", "checks",
		"guards", "schema", "postgres", "store",
	};
	size_t i;

	/* A plan has `schema` and `guards` too; a manifest has no steps. */
	for (i = 0; i < CV_ARRAY_SIZE(keys); i++)
		if (cv_yaml_get(root, keys[i]) &&
		    !((strcmp(keys[i], "schema") == 0 ||
		       strcmp(keys[i], "guards") == 0) &&
		      cv_yaml_get(root, "steps")))
			return true;
	return false;
}

static void read_plan(struct reader *r, const struct cv_node *root)
{
	struct cv_plan *plan = r->plan;
	const struct cv_node *n, *steps;
	const char *str;
	size_t i;

	if (cv_yaml_expect(root, CV_NODE_MAP, "plan", &r->diags))
		return;
	/* Nothing else means anything until the version is known. */
	if (!cv_yaml_get(root, "format") && looks_like_manifest(root)) {
		bad(r, root, "missing field 'format': this is not a saved plan (is it a manifest? use -m %s)",
		    cv_shorten(root->mark.file));
		return;
	}
	n = need(r, root, "format", NULL);
	if (!n || get_str(r, n, "format", false, &str))
		return;
	if (strcmp(str, CV_PLAN_FORMAT) != 0) {
		bad(r, n, "unsupported plan format '%s'", cv_shorten(str));
		return;
	}
	plan->format = str;
	cv_yaml_check_keys(root, plan_keys, "plan", &r->diags);
	need_str(r, root, "created_at", NULL, true, &plan->created_at);
	need_str(r, root, "now", NULL, true, &plan->now);
	need_str(r, root, "database", NULL, false, &plan->database);
	need_str(r, root, "backend", NULL, false, &plan->backend);
	need_str(r, root, "fingerprint", NULL, true, &plan->fingerprint);
	need_str(r, root, "manifests_digest", NULL, true,
		 &plan->manifests_digest);
	if ((n = cv_yaml_get(root, "storage_schema")))
		get_str(r, n, "storage_schema", false, &plan->storage_schema);

	n = need(r, root, "sections", NULL);
	if (n && !cv_yaml_expect(n, CV_NODE_SEQ, "sections", &r->diags)) {
		cv_yaml_each(sec, n) {
			unsigned bit;

			if (get_str(r, sec, "sections", false, &str))
				continue;
			if (cv_section_parse(str, &bit))
				bad(r, sec, "unknown section '%s'",
				    cv_shorten(str));
			else
				plan->sections |= bit;
		}
	}

	n = cv_yaml_get(root, "schema");
	if (plan->sections & CV_SEC_SCHEMA) {
		n = need(r, root, "schema", NULL);
		if (n && !cv_yaml_expect(n, CV_NODE_MAP, "schema", &r->diags)) {
			cv_yaml_check_keys(n, schema_keys, "schema", &r->diags);
			need_str(r, n, "table", "schema", true,
				 &plan->schema_table);
			need_str(r, n, "from", "schema", true,
				 &plan->schema_from);
			need_str(r, n, "to", "schema", true, &plan->schema_to);
		}
	} else if (n) {
		bad(r, n, "'schema' given but 'sections' does not include "
		    "schema");
	}

	n = cv_yaml_get(root, "grants_store");
	if (n)
		get_str(r, n, "grants_store", false, &plan->grants_store);

	n = cv_yaml_get(root, "guards");
	if (n)
		read_guards(r, n);

	n = cv_yaml_get(root, "deferred_checks");
	if (n) {
		const char **v;
		size_t nv;

		if (!str_seq(r, n, "deferred_checks", false, &v, &nv))
			for (i = 0; i < nv; i++) {
				CV_GROW(plan->deferred_checks,
					plan->ndeferred + 1,
					plan->deferred_alloc);
				plan->deferred_checks[plan->ndeferred++] = v[i];
			}
	}

	steps = need(r, root, "steps", NULL);
	if (steps && !cv_yaml_expect(steps, CV_NODE_SEQ, "steps", &r->diags)) {
		take_streamed(r);
		i = r->steps->nstreamed;
		cv_yaml_each(item, steps)
			read_step(r, item, i++);
	}

	/* Checked last: it compares against the steps just read. */
	n = need(r, root, "summary", NULL);
	if (n && !r->diags.errors)
		check_summary(r, n);
}

static void stream_step(void *arg, const struct cv_node *entry)
{
	struct reader *s = arg;

	read_step(s, entry, s->nstreamed++);
}

int cv_plan_read_yaml(struct cv_plan *out, const char *path,
		      struct cv_error *err)
{
	struct reader r, s;
	const struct cv_yaml_stream stream = { "steps", stream_step, &s };
	struct cv_yaml_doc doc;
	char *text = NULL;
	size_t len = 0;
	bool parsed = false;
	int ret;

	cv_plan_init(out);
	memset(&r, 0, sizeof(r));
	memset(&s, 0, sizeof(s));
	memset(&doc, 0, sizeof(doc));
	r.plan = s.plan = out;
	r.steps = &s;

	/* "-": standard input, as `plan -o -` writes it. */
	if (strcmp(path, "-") == 0) {
		path = "<stdin>";
		ret = cv_read_stream(STDIN_FILENO, &text, &len, PLAN_MAX_BYTES);
	} else {
		ret = cv_read_file(path, &text, &len, PLAN_MAX_BYTES);
	}
	if (ret) {
		ret = cv_error_set(err, CV_EIO, "cannot read plan '%s': %s",
				   path, ret == -EFBIG ? "file too large"
						       : strerror(-ret));
		goto out;
	}
	ret = cv_yaml_parse_stream(&doc, path, text, len, 0, &out->arena,
				   &r.diags, &stream);
	parsed = true;
	cv_trace_perf("plan file: read and parse");
	if (!ret && !r.diags.errors) {
		if (!doc.root) {
			cv_error_set(err, CV_EINVAL, "plan file is empty");
			if (err) {
				free(err->file);
				err->file = cv_strdup(path);
				err->line = 1;
				err->col = 1;
			}
			ret = CV_EINVAL;
			goto out;
		}
		read_plan(&r, doc.root);
	}
	if (r.diags.errors) {
		const struct cv_diag *d = NULL;
		size_t i;

		for (i = 0; i < r.diags.nr && !d; i++)
			if (r.diags.items[i].level == CV_DIAG_ERROR)
				d = &r.diags.items[i];
		ret = cv_error_set(err, CV_EINVAL, "%s", d->msg);
		if (err) {
			free(err->file);
			err->file = cv_strdup(d->mark.file ? d->mark.file : path);
			err->line = d->mark.line;
			err->col = d->mark.col;
		}
	} else if (ret) {
		ret = cv_error_set(err, CV_EINVAL, "cannot parse plan '%s'",
				   path);
	}
out:
	if (parsed)
		cv_yaml_release(&doc);
	cv_diags_release(&r.diags);
	cv_diags_release(&s.diags);
	free(s.params);
	free(text);
	if (ret) {
		cv_plan_release(out);
		cv_plan_init(out);
	}
	return ret;
}
