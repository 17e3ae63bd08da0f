/*
 * The review forms of a plan (plan.h): text for terminals, JSON for
 * programs, Markdown for pull-request comments.
 *
 * The text form is what people approve and what golden files compare, so
 * every line is built in one place (format_step, format_summary) and the
 * other forms reuse them.  JSON goes through jansson, never by hand.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "converge/model.h"
#include "converge/plan.h"

#define GREEN "\033[32m"
#define RED "\033[31m"
#define YELLOW "\033[33m"
#define CYAN "\033[36m"
#define BOLD_RED "\033[1;31m"
#define RESET "\033[0m"

static const struct cv_render_opts no_opts = { false, false };

static const char *action_color(uint8_t action)
{
	switch ((enum cv_action)action) {
	case CV_ACT_CREATE:
	case CV_ACT_ENABLE:
		return GREEN;
	case CV_ACT_DELETE:
	case CV_ACT_DISABLE:
		return RED;
	case CV_ACT_UPDATE:
		return YELLOW;
	case CV_ACT_UP:
	case CV_ACT_DOWN:
		return CYAN;
	case CV_ACT_CHECK:
	case CV_ACT__COUNT:
		break;
	}
	return NULL;
}

/*
 * The noun a review line uses for a kind: a schema step is a revision,
 * other kinds are named in the singular ("roles" -> "role",
 * "policies" -> "policy"), except `postgres`, whose objects name their
 * own sort ("postgres role app_user").
 */
static void add_noun(struct cv_buf *b, const char *kind)
{
	size_t n;

	if (!kind || !*kind) {
		cv_buf_adds(b, "step");
		return;
	}
	if (strcmp(kind, "schema") == 0) {
		cv_buf_adds(b, "revision");
		return;
	}
	n = strlen(kind);
	if (strcmp(kind, "postgres") == 0) {
		cv_buf_add(b, kind, n);
		return;
	}
	if (n > 3 && cv_ends_with(kind, "ies")) {
		cv_buf_add(b, kind, n - 3);
		cv_buf_addch(b, 'y');
	} else if (n > 1 && kind[n - 1] == 's' && kind[n - 2] != 's') {
		cv_buf_add(b, kind, n - 1);
	} else {
		cv_buf_add(b, kind, n);
	}
}

/*
 * Appends user text for a review line.  Control characters are shown as
 * \xNN: a name read from a live database could otherwise break the one
 * line per step layout or send escape sequences to the reviewer's
 * terminal.  So are the C1 controls (U+0080 to U+009F; U+009B is CSI to
 * xterm even in UTF-8), as \u{XXXX}, and bytes that are not UTF-8 (0x9b
 * alone is CSI to a Latin-1 terminal), as \xNN.  Manifests cannot hold
 * such names (SPEC §6), so for them this changes nothing.
 *
 * Invisible characters are shown as \u{XXXX} too: SPEC §6 stores them
 * verbatim (they are not control characters), but "al\u200bice" printed
 * raw reads as "alice", and a review where a line removing alice's grant
 * looks like the line adding it back is no review.  They are Unicode's
 * format characters a name has no use for: the soft hyphen, the Arabic
 * letter mark, zero-width spaces and joiners, the direction marks,
 * embeddings, overrides and isolates, the word joiner and invisible
 * operators, and the byte-order mark.
 */
static bool invisible(unsigned cp)
{
	return cp <= 0x9f || cp == 0xad || cp == 0x61c ||
	       (cp >= 0x200b && cp <= 0x200f) ||
	       (cp >= 0x202a && cp <= 0x202e) ||
	       (cp >= 0x2060 && cp <= 0x2064) ||
	       (cp >= 0x2066 && cp <= 0x2069) || cp == 0xfeff;
}

/* The code point of the k-byte UTF-8 character at p (cv_utf8_char). */
static unsigned decode(const unsigned char *p, size_t k)
{
	static const unsigned char lead_mask[] = { 0, 0x7f, 0x1f, 0x0f, 0x07 };
	unsigned cp = p[0] & lead_mask[k];
	size_t i;

	for (i = 1; i < k; i++)
		cp = (cp << 6) | (p[i] & 0x3fu);
	return cp;
}

void cv_display_add(struct cv_buf *b, const char *s, const char *md)
{
	size_t n = strlen(s), k;

	for (; n; s += k, n -= k) {
		unsigned char c = (unsigned char)*s;
		unsigned cp;

		k = cv_utf8_char(s, n);
		if (!k || (k == 1 && (c < 0x20 || c == 0x7f))) {
			cv_buf_addf(b, "\\x%02x", c);
			k = 1;
			continue;
		}
		if (k == 1) {
			if (md && strchr(md, c))
				cv_buf_addch(b, '\\');
			cv_buf_addch(b, (char)c);
			continue;
		}
		cp = decode((const unsigned char *)s, k);
		if (invisible(cp))
			cv_buf_addf(b, "\\u{%04x}", cp);
		else
			cv_buf_add(b, s, k);
	}
}

static void add_safe(struct cv_buf *b, const char *s)
{
	cv_display_add(b, s, NULL);
}

/* Appends one coloured (or plain) line. */
static void add_line(struct cv_buf *b, const char *color, const char *line,
		     size_t len)
{
	if (color)
		cv_buf_adds(b, color);
	cv_buf_add(b, line, len);
	if (color)
		cv_buf_adds(b, RESET);
	cv_buf_addch(b, '\n');
}

static void add_note(struct cv_buf *b, const char *indent, bool color,
		     const char *label, const char *note)
{
	struct cv_buf line = CV_BUF_INIT;

	cv_buf_addf(&line, "%s    ! ", indent);
	add_safe(&line, label);
	if (note) {
		cv_buf_adds(&line, ": ");
		add_safe(&line, note);
	}
	add_line(b, color ? BOLD_RED : NULL, line.buf, line.len);
	cv_buf_release(&line);
}

/*
 * One step's review line and its warnings.  `indent` is what comes
 * before the sign ("  " in text; "" in Markdown, where a diff block needs
 * the sign in the first column to colour the line).
 */
static void format_step(struct cv_buf *b, const struct cv_step *s,
			const char *indent, bool color)
{
	struct cv_buf line = CV_BUF_INIT;
	const char *note = s->note;

	cv_buf_addf(&line, "%s%s ", indent,
		    cv_action_sign((enum cv_action)s->action));
	add_noun(&line, s->kind);
	cv_buf_addch(&line, ' ');
	add_safe(&line, s->object ? s->object : "");
	if (s->detail) {
		cv_buf_adds(&line, ": ");
		add_safe(&line, s->detail);
	}
	add_line(b, color ? action_color(s->action) : NULL, line.buf, line.len);
	cv_buf_release(&line);

	/* The note says why the step is flagged; it goes with the first
	 * warning that can use it, the others stand alone. */
	if (s->flags & CV_STEP_DATA_LOSS) {
		add_note(b, indent, color, "data loss", note);
		note = NULL;
	}
	if (s->flags & CV_STEP_IRREVERSIBLE) {
		add_note(b, indent, color, "irreversible", note);
		note = NULL;
	}
	if (s->flags & CV_STEP_NO_TXN)
		add_note(b, indent, color, "runs outside a transaction", NULL);
	if (note && !(s->flags & (CV_STEP_DATA_LOSS | CV_STEP_IRREVERSIBLE)))
		add_note(b, indent, color, note, NULL);
}

void cv_step_print(const struct cv_step *s, const struct cv_render_opts *opts,
		   FILE *fp)
{
	struct cv_buf b = CV_BUF_INIT;

	if (!opts)
		opts = &no_opts;
	format_step(&b, s, "  ", opts->color);
	fwrite(cv_buf_str(&b), 1, b.len, fp);
	cv_buf_release(&b);
}

/* Each line of `text` prefixed with `prefix` (the first) and `indent`
 * (the others); a final newline does not make an empty line. */
static void add_indented(struct cv_buf *b, const char *prefix,
			 const char *indent, const char *text)
{
	const char *p = text ? text : "", *nl;
	bool first = true;

	do {
		nl = strchr(p, '\n');
		cv_buf_adds(b, first ? prefix : indent);
		cv_buf_add(b, p, nl ? (size_t)(nl - p) : strlen(p));
		cv_buf_addch(b, '\n');
		first = false;
		p = nl ? nl + 1 : NULL;
	} while (p && *p);
}

#define jstr cv_json_text

static void format_sql(struct cv_buf *b, const struct cv_step *s, bool inverse)
{
	const struct cv_stmt *list = inverse ? s->inv : s->fwd;
	uint32_t n = inverse ? s->ninv : s->nfwd, i, j;

	for (i = 0; i < n; i++) {
		const struct cv_stmt *st = &list[i];
		json_t *params;
		char *dump;

		if (st->script) {
			add_indented(b, "      ", "      ", st->sql);
			continue;
		}
		add_indented(b, "      sql: ", "           ", st->sql);
		if (!st->nparams)
			continue;
		params = json_array();
		for (j = 0; j < st->nparams; j++)
			json_array_append_new(params, jstr(st->params[j]));
		dump = json_dumps(params, JSON_ENCODE_ANY);
		cv_buf_addf(b, "      params: %s\n", dump ? dump : "[]");
		free(dump);
		json_decref(params);
	}
}


static bool covers_schema(const struct cv_plan *plan)
{
	return (plan->sections & CV_SEC_SCHEMA) != 0;
}

static bool schema_moves(const struct cv_plan *plan)
{
	return covers_schema(plan) &&
	       !cv_streq0(plan->schema_from, plan->schema_to);
}

/*
 * Appends `s` as a Markdown code span that user text cannot break out of:
 * the fence is one backtick longer than the longest run inside, and a
 * space pads text that starts or ends with a backtick (CommonMark strips
 * one such space on each side).
 */
void cv_md_code_span(struct cv_buf *b, const char *s)
{
	size_t run = 0, longest = 0, i, n = strlen(s);
	bool pad;

	for (i = 0; i < n; i++) {
		run = s[i] == '`' ? run + 1 : 0;
		if (run > longest)
			longest = run;
	}
	pad = n == 0 || s[0] == '`' || s[n - 1] == '`' ||
	      (s[0] == ' ' && s[n - 1] == ' ');
	for (i = 0; i <= longest; i++)
		cv_buf_addch(b, '`');
	if (pad)
		cv_buf_addch(b, ' ');
	cv_buf_add(b, s, n);
	if (pad)
		cv_buf_addch(b, ' ');
	for (i = 0; i <= longest; i++)
		cv_buf_addch(b, '`');
}

/* Appends user text, as a code span in Markdown and verbatim in text. */
static void add_user(struct cv_buf *b, const char *s, bool md)
{
	struct cv_buf safe = CV_BUF_INIT;

	add_safe(&safe, s);
	if (md)
		cv_md_code_span(b, cv_buf_str(&safe));
	else
		cv_buf_add(b, cv_buf_str(&safe), safe.len);
	cv_buf_release(&safe);
}

static void format_schema_line(struct cv_buf *b, const struct cv_plan *plan,
			       bool md)
{
	cv_buf_adds(b, "schema: ");
	add_user(b, plan->schema_from ? plan->schema_from : "base", md);
	cv_buf_adds(b, " -> ");
	add_user(b, plan->schema_to ? plan->schema_to : "base", md);
	if (plan->schema_table) {
		cv_buf_adds(b, " (");
		add_user(b, plan->schema_table, md);
		cv_buf_addch(b, ')');
	}
	cv_buf_addch(b, '\n');
}

static const char *plural(size_t n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

static void format_summary(struct cv_buf *b, const struct cv_plan *plan,
			   bool md)
{
	struct cv_plan_counts c;
	size_t i;

	cv_plan_count(plan, &c);
	cv_buf_addf(b, "Plan: %zu to add, %zu to change, %zu to remove",
		    c.add, c.change, c.remove);
	if (covers_schema(plan))
		cv_buf_addf(b, ", %zu %s up, %zu down", c.up,
			    plural(c.up, "revision", "revisions"), c.down);
	cv_buf_adds(b, ".\n");
	if (c.data_loss && plan->recovery)
		cv_buf_addf(b, "%zu %s data; the snapshot taken first keeps it.\n",
			    c.data_loss, plural(c.data_loss, "step drops",
						"steps drop"));
	else if (c.data_loss)
		cv_buf_addf(b, "%zu %s data: apply needs %s.\n", c.data_loss,
			    plural(c.data_loss, "step loses", "steps lose"),
			    md ? "`--allow-data-loss`" : "--allow-data-loss");
	if (plan->ndeferred) {
		cv_buf_adds(b, "Checks run at apply: ");
		for (i = 0; i < plan->ndeferred; i++) {
			if (i)
				cv_buf_adds(b, ", ");
			add_user(b, plan->deferred_checks[i], md);
		}
		cv_buf_adds(b, ".\n");
	}
}

static const char no_changes[] =
	"No changes. The database matches the manifests.\n";

static void render_text(struct cv_buf *b, const struct cv_plan *plan,
			const struct cv_render_opts *opts)
{
	size_t i;

	cv_buf_adds(b, "converge plan for ");
	add_user(b, plan->database ? plan->database : "(unknown)", false);
	cv_buf_addch(b, '\n');
	if (schema_moves(plan))
		format_schema_line(b, plan, false);
	cv_buf_addch(b, '\n');
	if (!plan->nr) {
		cv_buf_adds(b, no_changes);
		return;
	}
	for (i = 0; i < plan->nr; i++) {
		format_step(b, &plan->steps[i], "  ", opts->color);
		if (opts->verbose)
			format_sql(b, &plan->steps[i], false);
	}
	cv_buf_addch(b, '\n');
	format_summary(b, plan, false);
}

/*
 * `block` in a fenced code block.  A fence closes only on a run of
 * backticks at least as long as itself, so one longer than any run
 * inside cannot be closed early.
 */
static void add_fenced(struct cv_buf *b, const struct cv_buf *block,
		       const char *info)
{
	size_t i, run = 0, longest = 0, fence;

	for (i = 0; i < block->len; i++) {
		run = block->buf[i] == '`' ? run + 1 : 0;
		if (run > longest)
			longest = run;
	}
	fence = longest >= 3 ? longest + 1 : 3;
	for (i = 0; i < fence; i++)
		cv_buf_addch(b, '`');
	cv_buf_addf(b, "%s\n", info);
	cv_buf_add(b, cv_buf_str(block), block->len);
	for (i = 0; i < fence; i++)
		cv_buf_addch(b, '`');
	cv_buf_addch(b, '\n');
}

static void render_markdown(struct cv_buf *b, const struct cv_plan *plan)
{
	struct cv_buf block = CV_BUF_INIT;
	size_t i;

	cv_buf_adds(b, "### converge plan for ");
	add_user(b, plan->database ? plan->database : "(unknown)", true);
	cv_buf_adds(b, "\n\n");
	if (schema_moves(plan)) {
		format_schema_line(b, plan, true);
		cv_buf_addch(b, '\n');
	}
	if (!plan->nr) {
		cv_buf_adds(b, no_changes);
		return;
	}
	for (i = 0; i < plan->nr; i++)
		format_step(&block, &plan->steps[i], "", false);
	add_fenced(b, &block, "diff");
	cv_buf_addch(b, '\n');
	format_summary(b, plan, true);
	cv_buf_release(&block);
}

/* "    forward:" (or inverse) and the statements under it. */
static void format_sql_section(struct cv_buf *b, const struct cv_step *s,
			       bool inverse)
{
	cv_buf_addf(b, "    %s:%s\n", inverse ? "inverse" : "forward",
		    (inverse ? s->ninv : s->nfwd) ? "" : " none");
	format_sql(b, s, inverse);
}

void cv_steps_print(const struct cv_plan *steps, enum cv_format format,
		    const struct cv_render_opts *opts, FILE *fp)
{
	struct cv_buf b = CV_BUF_INIT, block = CV_BUF_INIT;
	bool md = format == CV_FORMAT_MARKDOWN;
	size_t i;

	if (!opts)
		opts = &no_opts;
	for (i = 0; i < steps->nr; i++) {
		format_step(&block, &steps->steps[i], md ? "" : "  ",
			    opts->color && !md);
		if (!opts->verbose)
			continue;
		format_sql_section(&block, &steps->steps[i], false);
		format_sql_section(&block, &steps->steps[i], true);
	}
	if (md)
		add_fenced(&b, &block, "diff");
	fwrite(cv_buf_str(md ? &b : &block), 1, md ? b.len : block.len, fp);
	cv_buf_release(&b);
	cv_buf_release(&block);
}

/* Replaces each byte that is not part of valid UTF-8 by U+FFFD. */
static char *utf8_sanitize(const char *s)
{
	struct cv_buf b = CV_BUF_INIT;
	size_t n = strlen(s), k;

	for (; n; s += k, n -= k) {
		k = cv_utf8_char(s, n);
		if (k) {
			cv_buf_add(&b, s, k);
		} else {
			cv_buf_adds(&b, "\xef\xbf\xbd");
			k = 1;
		}
	}
	return cv_buf_detach(&b);
}

json_t *cv_json_text(const char *s)
{
	json_t *j;
	char *clean;

	if (!s)
		return json_null();
	j = json_string(s);
	if (j)
		return j;
	clean = utf8_sanitize(s);
	j = json_string(clean);
	free(clean);
	return j ? j : json_string("");
}

static json_t *jstr_array(const char *const *v, size_t n)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < n; i++)
		json_array_append_new(a, jstr(v[i]));
	return a;
}

static json_t *json_stmts(const struct cv_stmt *list, uint32_t n)
{
	json_t *a = json_array();
	uint32_t i;

	for (i = 0; i < n; i++) {
		json_t *o = json_object();

		if (list[i].script) {
			json_object_set_new(o, "script", jstr(list[i].sql));
		} else {
			json_object_set_new(o, "sql", jstr(list[i].sql));
			if (list[i].nparams)
				json_object_set_new(o, "params",
					jstr_array(list[i].params,
						   list[i].nparams));
			if (list[i].run_id_param)
				json_object_set_new(o, "run_id_param",
					json_integer(list[i].run_id_param));
			if (list[i].now_param)
				json_object_set_new(o, "now_param",
					json_integer(list[i].now_param));
		}
		json_array_append_new(a, o);
	}
	return a;
}

static json_t *json_step(const struct cv_step *s)
{
	json_t *o = json_object();
	unsigned bit;

	json_object_set_new(o, "seq", json_integer(s->seq));
	json_object_set_new(o, "phase", json_integer(s->phase));
	json_object_set_new(o, "kind", jstr(s->kind));
	json_object_set_new(o, "action",
		json_string(cv_action_name((enum cv_action)s->action)));
	json_object_set_new(o, "object", jstr(s->object));
	if (s->detail)
		json_object_set_new(o, "detail", jstr(s->detail));
	if (s->flags) {
		json_t *flags = json_array();

		for (bit = 1; bit; bit <<= 1)
			if ((s->flags & bit) && cv_step_flag_name(bit))
				json_array_append_new(flags,
					json_string(cv_step_flag_name(bit)));
		json_object_set_new(o, "flags", flags);
	}
	if (s->note)
		json_object_set_new(o, "note", jstr(s->note));
	json_object_set_new(o, "key", jstr_array(s->key, s->nkey));
	json_object_set_new(o, "before", jstr(s->before));
	json_object_set_new(o, "after", jstr(s->after));
	if (s->checksum)
		json_object_set_new(o, "checksum", jstr(s->checksum));
	json_object_set_new(o, "forward", json_stmts(s->fwd, s->nfwd));
	json_object_set_new(o, "inverse", json_stmts(s->inv, s->ninv));
	return o;
}

static json_t *json_plan(const struct cv_plan *plan)
{
	json_t *root = json_object(), *a, *o;
	struct cv_plan_counts c;
	unsigned bit;
	size_t i;

	json_object_set_new(root, "format",
		jstr(plan->format ? plan->format : CV_PLAN_FORMAT));
	/* First, so that no reader takes a refused plan for one to apply. */
	if (plan->refused)
		json_object_set_new(root, "refused", jstr(plan->refused));
	json_object_set_new(root, "created_at", jstr(plan->created_at));
	json_object_set_new(root, "now", jstr(plan->now));
	json_object_set_new(root, "database", jstr(plan->database));
	json_object_set_new(root, "backend", jstr(plan->backend));
	json_object_set_new(root, "fingerprint", jstr(plan->fingerprint));
	json_object_set_new(root, "manifests_digest",
			    jstr(plan->manifests_digest));
	if (plan->storage_schema)
		json_object_set_new(root, "storage_schema",
				    jstr(plan->storage_schema));
	a = json_array();
	for (bit = 1; bit; bit <<= 1)
		if ((plan->sections & bit) && cv_section_name(bit))
			json_array_append_new(a,
				json_string(cv_section_name(bit)));
	json_object_set_new(root, "sections", a);
	if (covers_schema(plan)) {
		o = json_object();
		json_object_set_new(o, "table", jstr(plan->schema_table));
		json_object_set_new(o, "from", jstr(plan->schema_from));
		json_object_set_new(o, "to", jstr(plan->schema_to));
		json_object_set_new(root, "schema", o);
	}
	if (plan->grants_store)
		json_object_set_new(root, "grants_store",
				    jstr(plan->grants_store));
	if (plan->nmin_grants) {
		json_t *mg = json_object();

		for (i = 0; i < plan->nmin_grants; i++)
			json_object_set_new(mg, plan->min_grants[i].role,
				json_integer((json_int_t)plan->min_grants[i].min));
		json_object_set_new(root, "guards",
				    json_pack("{s:o}", "min_grants", mg));
	}
	if (plan->ndeferred)
		json_object_set_new(root, "deferred_checks",
			jstr_array(plan->deferred_checks, plan->ndeferred));
	cv_plan_count(plan, &c);
	o = json_object();
	json_object_set_new(o, "add", json_integer((json_int_t)c.add));
	json_object_set_new(o, "change", json_integer((json_int_t)c.change));
	json_object_set_new(o, "remove", json_integer((json_int_t)c.remove));
	json_object_set_new(o, "up", json_integer((json_int_t)c.up));
	json_object_set_new(o, "down", json_integer((json_int_t)c.down));
	json_object_set_new(root, "summary", o);
	/* Empty: cv_json_write_listing writes the steps one at a time. */
	json_object_set_new(root, "steps", json_array());
	return root;
}

/* Writes s, each line after the first indented by four spaces: an
 * entry's own dump, moved to where it sits in the whole. */
static bool put_entry(FILE *fp, const char *s)
{
	const char *nl;

	while ((nl = strchr(s, '\n'))) {
		if (fwrite(s, 1, (size_t)(nl - s), fp) != (size_t)(nl - s) ||
		    fputs("\n    ", fp) == EOF)
			return false;
		s = nl + 1;
	}
	return fputs(s, fp) != EOF;
}

/*
 * jansson encodes every value; only the frame the entries go in is
 * written here, as JSON_INDENT(2) lays it out (a JSON string holds no raw
 * newline, so an entry's lines are its dump's lines).
 */
int cv_json_write_listing(FILE *fp, json_t *root, size_t n,
			  json_t *(*entry)(size_t i, const void *arg),
			  const void *arg)
{
	const size_t flags = JSON_INDENT(2) | JSON_PRESERVE_ORDER;
	char *head = json_dumps(root, flags), *list;
	bool ok;
	size_t i;

	json_decref(root);
	/* The head ends in the last key's empty array: "key": []\n} */
	list = head ? strrchr(head, '[') : NULL;
	if (!list || strcmp(list, "[]\n}") != 0) {
		free(head);
		return CV_ERR;
	}
	if (!n) {
		ok = fputs(head, fp) != EOF && fputc('\n', fp) != EOF;
		free(head);
		return ok ? 0 : CV_EIO;
	}
	ok = fwrite(head, 1, (size_t)(list - head), fp) ==
		     (size_t)(list - head) && fputc('[', fp) != EOF;
	free(head);
	for (i = 0; ok && i < n; i++) {
		json_t *e = entry(i, arg);
		char *dump = json_dumps(e, flags);

		json_decref(e);
		if (!dump)
			return CV_ERR;
		ok = fputs(i ? ",\n    " : "\n    ", fp) != EOF &&
		     put_entry(fp, dump);
		free(dump);
	}
	ok = ok && fputs("\n  ]\n}\n", fp) != EOF;
	return ok ? 0 : CV_EIO;
}

static json_t *plan_step(size_t i, const void *plan)
{
	return json_step(&((const struct cv_plan *)plan)->steps[i]);
}

int cv_plan_render(const struct cv_plan *plan, enum cv_format format,
		   const struct cv_render_opts *opts, FILE *fp)
{
	struct cv_buf b = CV_BUF_INIT;
	int ret = 0;

	if (!opts)
		opts = &no_opts;
	switch (format) {
	case CV_FORMAT_TEXT:
		render_text(&b, plan, opts);
		break;
	case CV_FORMAT_MARKDOWN:
		render_markdown(&b, plan);
		break;
	case CV_FORMAT_JSON:
		ret = cv_json_write_listing(fp, json_plan(plan), plan->nr,
					    plan_step, plan);
		if (!ret && fflush(fp) != 0)
			ret = CV_EIO;
		goto out;
	default:
		ret = CV_EINVAL;
		goto out;
	}
	if (fwrite(cv_buf_str(&b), 1, b.len, fp) != b.len || fflush(fp) != 0)
		ret = CV_EIO;
out:
	cv_buf_release(&b);
	return ret;
}
