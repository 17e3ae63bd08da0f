/*
 * Error details and manifest diagnostics (error.h).
 */
#include <stdlib.h>
#include <string.h>

#include "converge/error.h"

int cv_exit_code(int code)
{
	switch (code) {
	case CV_OK:
		return 0;
	case CV_EUSAGE:
		return 64;
	case CV_ESTALE:
		return 3;
	case CV_ELOCKED:
		return 4;
	case CV_ECHECK:
		return 5;
	default:
		return 1;
	}
}

int cv_error_set(struct cv_error *err, int code, const char *fmt, ...)
{
	struct cv_buf b = CV_BUF_INIT;
	va_list ap;

	if (!err)
		return code;
	va_start(ap, fmt);
	cv_buf_vaddf(&b, fmt, ap);
	va_end(ap);
	free(err->msg);
	err->msg = cv_buf_detach(&b);
	err->code = code;
	return code;
}

void cv_error_set_mark(struct cv_error *err, const struct cv_mark *mark)
{
	if (!err || !mark || !mark->file)
		return;
	free(err->file);
	err->file = cv_strdup(mark->file);
	err->line = mark->line;
	err->col = mark->col;
}

int cv_error_prefix(struct cv_error *err, const char *fmt, ...)
{
	struct cv_buf b = CV_BUF_INIT;
	va_list ap;

	if (!err)
		return CV_ERR;
	va_start(ap, fmt);
	cv_buf_vaddf(&b, fmt, ap);
	va_end(ap);
	if (err->msg) {
		cv_buf_adds(&b, ": ");
		cv_buf_adds(&b, err->msg);
	}
	free(err->msg);
	err->msg = cv_buf_detach(&b);
	if (!err->code)
		err->code = CV_ERR;
	return err->code;
}

void cv_error_set_sql(struct cv_error *err, const char *step, const char *sql)
{
	char *new_step, *new_sql;

	if (!err)
		return;
	/* Copied before freeing: callers pass err->sql back in. */
	new_step = step ? cv_strdup(step) : NULL;
	new_sql = sql ? cv_strdup(sql) : NULL;
	free(err->step);
	free(err->sql);
	err->step = new_step;
	err->sql = new_sql;
}

void cv_error_release(struct cv_error *err)
{
	if (!err)
		return;
	free(err->msg);
	free(err->file);
	free(err->step);
	free(err->sql);
	memset(err, 0, sizeof(*err));
}

char *cv_error_text(const struct cv_error *err)
{
	struct cv_buf b = CV_BUF_INIT;

	cv_buf_adds(&b, err->msg ? err->msg : "unknown error");
	if (err->step)
		cv_buf_addf(&b, "\nin step: %s", err->step);
	if (err->sql)
		cv_buf_addf(&b, "\nsql: %s", err->sql);
	return cv_buf_detach(&b);
}

void cv_error_print(const struct cv_error *err, FILE *fp)
{
	if (err->file && err->line)
		fprintf(fp, "%s:%u:%u: error: %s\n", err->file, err->line,
			err->col, err->msg ? err->msg : "unknown error");
	else
		fprintf(fp, "converge: error: %s\n",
			err->msg ? err->msg : "unknown error");
	if (err->step)
		fprintf(fp, "  in step: %s\n", err->step);
	if (err->sql) {
		const char *s = err->sql;
		size_t n = strlen(s);

		/* A whole migration script helps nobody at 3 a.m.; its head does. */
		if (n > 400)
			fprintf(fp, "  sql: %.400s…\n", s);
		else
			fprintf(fp, "  sql: %s\n", s);
	}
}

void cv_diags_add(struct cv_diags *d, enum cv_diag_level level,
		  const struct cv_mark *mark, const char *fmt, ...)
{
	struct cv_buf b = CV_BUF_INIT;
	struct cv_diag *diag;
	va_list ap;

	va_start(ap, fmt);
	cv_buf_vaddf(&b, fmt, ap);
	va_end(ap);
	CV_GROW(d->items, d->nr + 1, d->alloc);
	diag = &d->items[d->nr++];
	diag->level = level;
	if (mark)
		diag->mark = *mark;
	else
		memset(&diag->mark, 0, sizeof(diag->mark));
	diag->msg = cv_buf_detach(&b);
	diag->secret = false;
	if (level == CV_DIAG_ERROR)
		d->errors++;
}

void cv_diags_push(struct cv_diags *d, const struct cv_diag *g)
{
	CV_GROW(d->items, d->nr + 1, d->alloc);
	d->items[d->nr++] = *g;
	if (g->level == CV_DIAG_ERROR)
		d->errors++;
}

void cv_diags_keep(struct cv_diags *d, size_t first,
		   bool (*keep)(const struct cv_diag *g, const void *arg),
		   const void *arg)
{
	size_t i, n = first;

	for (i = first; i < d->nr; i++) {
		struct cv_diag *g = &d->items[i];

		if (keep(g, arg)) {
			d->items[n++] = *g;
			continue;
		}
		if (g->level == CV_DIAG_ERROR)
			d->errors--;
		free(g->msg);
	}
	d->nr = n;
}

void cv_diags_secret(struct cv_diags *d)
{
	if (d->nr)
		d->items[d->nr - 1].secret = true;
}

static const struct cv_source *find_source(const struct cv_diags *d,
					   const char *path)
{
	size_t i;

	for (i = 0; path && i < d->nsources; i++)
		if (d->sources[i].path == path ||
		    strcmp(d->sources[i].path, path) == 0)
			return &d->sources[i];
	return NULL;
}

/* Prints source line `line` of src with a caret under column `col`. */
/*
 * Where the last caret was: diagnostics mostly come in file order, so the
 * next line is found by scanning on from there, not from the top (a file
 * with 100,000 errors would otherwise be scanned 100,000 times).
 */
struct cursor {
	const struct cv_source *src;
	unsigned line;
	const char *at;   /* start of `line` */
};

/*
 * The length of the line break at p, or 0: YAML's breaks, as libyaml
 * counts lines (CR LF, CR, LF, and NEL, LS, PS in UTF-8).  A file with
 * old Mac line ends, or a U+2028 in a string, has more lines than '\n's.
 */
static size_t line_break(const char *p, const char *end)
{
	const unsigned char *u = (const unsigned char *)p;
	size_t left = (size_t)(end - p);

	if (u[0] == '\n')
		return 1;
	if (u[0] == '\r')
		return left >= 2 && u[1] == '\n' ? 2 : 1;
	if (u[0] == 0xc2 && left >= 2 && u[1] == 0x85)
		return 2;
	if (u[0] == 0xe2 && left >= 3 && u[1] == 0x80 &&
	    (u[2] == 0xa8 || u[2] == 0xa9))
		return 3;
	return 0;
}

/* The start of the next line after p, or NULL when p is on the last. */
static const char *next_line(const char *p, const char *end)
{
	size_t n;

	for (; p < end; p++)
		if ((n = line_break(p, end)))
			return p + n;
	return NULL;
}

/* The end of p's line (its break, or the end of the text). */
static const char *line_end(const char *p, const char *end)
{
	for (; p < end && !line_break(p, end); p++)
		;
	return p;
}

/* Adds source line `line` of src with a caret under column `col`. */
/*
 * Can the line [p, eol) be shown?  Not when it holds a control character
 * (C0 but tab, DEL or C1: U+009B is CSI to xterm), which must not reach
 * the terminal; bytes that are not UTF-8 are shown as U+FFFD (add_line).
 */
static bool echoable(const char *p, const char *eol)
{
	size_t k;

	for (; p < eol; p += k ? k : 1) {
		unsigned char c = (unsigned char)*p;

		k = cv_utf8_char(p, (size_t)(eol - p));
		if ((k == 1 && ((c < 0x20 && c != '\t') || c == 0x7f)) ||
		    (k == 2 && c == 0xc2 && (unsigned char)p[1] <= 0x9f))
			return false;
	}
	return true;
}

/* Appends [p, p + n), each byte that is not UTF-8 as U+FFFD. */
static void add_line(struct cv_buf *out, const char *p, size_t n)
{
	size_t k;

	for (; n; p += k, n -= k) {
		k = cv_utf8_char(p, n);
		if (k) {
			cv_buf_add(out, p, k);
		} else {
			cv_buf_adds(out, "\xef\xbf\xbd");
			k = 1;
		}
	}
}

static void print_caret(struct cv_buf *out, struct cursor *cur,
			const struct cv_source *src, unsigned line,
			unsigned col)
{
	const char *p = src->text, *end = src->text + src->len, *eol;
	unsigned i, n, c, k;

	i = 1;
	if (cur->src == src && cur->line <= line) {
		p = cur->at;
		i = cur->line;
	}
	for (; i < line && p < end; i++) {
		p = next_line(p, end);
		if (!p)
			return;
	}
	cur->src = src;
	cur->line = i;
	cur->at = p;
	if (p >= end)
		return;
	/* A byte order mark is not a column (the YAML parser skips it). */
	if (p == src->text && (size_t)(end - p) >= 3 &&
	    memcmp(p, "\xef\xbb\xbf", 3) == 0)
		p += 3;
	eol = line_end(p, end);
	n = (unsigned)(eol - p);
	if (n > 200)
		n = 200;
	/* Binary garbage is not worth echoing back, and a control
	 * character (C0, DEL or C1) or a byte that is not UTF-8 must not
	 * reach the terminal. */
	if (!echoable(p, eol))
		return;
	cv_buf_adds(out, "    ");
	add_line(out, p, n);
	cv_buf_adds(out, "\n    ");
	/*
	 * Columns count characters (libyaml's do), not bytes: a UTF-8
	 * sequence takes one place under the line, as does a byte shown as
	 * U+FFFD.  Tabs are copied so that the caret lines up with the text.
	 */
	for (i = 0, c = 1; i < n && c < col; i += k, c++) {
		k = cv_utf8_char(p + i, n - i);
		if (!k)
			k = 1;
		cv_buf_addch(out, p[i] == '\t' ? '\t' : ' ');
	}
	cv_buf_adds(out, "^\n");
}

/* Is g's line one a secret diagnostic was made on? */
static bool secret_line(const struct cv_diags *d, const struct cv_diag *g)
{
	size_t i;

	for (i = 0; i < d->nr; i++)
		if (d->items[i].secret && d->items[i].mark.line == g->mark.line &&
		    cv_streq0(d->items[i].mark.file, g->mark.file))
			return true;
	return false;
}

void cv_diags_print(const struct cv_diags *d, FILE *fp)
{
	static const char *const level_name[] = { "error", "warning", "note" };
	struct cursor cur = { NULL, 0, NULL };
	struct cv_buf out = CV_BUF_INIT;
	bool secrets = false;
	size_t i;

	for (i = 0; i < d->nr; i++)
		secrets |= d->items[i].secret;
	/* Gathered and written in large pieces: stderr is unbuffered. */
	for (i = 0; i < d->nr; i++) {
		const struct cv_diag *g = &d->items[i];
		const struct cv_source *src;

		if (g->mark.file && g->mark.line) {
			cv_buf_addf(&out, "%s:%u:%u: %s: %s\n", g->mark.file,
				    g->mark.line, g->mark.col,
				    level_name[g->level], g->msg);
			src = secrets && secret_line(d, g) ? NULL :
			      find_source(d, g->mark.file);
			if (src)
				print_caret(&out, &cur, src, g->mark.line,
					    g->mark.col);
		} else if (g->mark.file) {
			cv_buf_addf(&out, "%s: %s: %s\n", g->mark.file,
				    level_name[g->level], g->msg);
		} else {
			cv_buf_addf(&out, "converge: %s: %s\n",
				    level_name[g->level], g->msg);
		}
		if (out.len >= 65536) {
			fwrite(out.buf, 1, out.len, fp);
			cv_buf_reset(&out);
		}
	}
	if (out.len)
		fwrite(out.buf, 1, out.len, fp);
	cv_buf_release(&out);
}

void cv_diags_release(struct cv_diags *d)
{
	size_t i;

	for (i = 0; i < d->nr; i++)
		free(d->items[i].msg);
	free(d->items);
	d->items = NULL;
	d->nr = d->alloc = d->errors = 0;
}

const char *cv_shorten(const char *s)
{
	static char bufs[4][96];
	static unsigned turn;
	char *out = bufs[turn++ % 4];
	size_t n, i = 0, o = 0, k;

	if (!s)
		return "(null)";
	/*
	 * Whole characters only, none cut in half; control characters (C0
	 * and C1, U+009B being CSI) and bytes that are not UTF-8 escaped,
	 * so that text read from a database sends nothing to a terminal.
	 */
	n = strlen(s);
	while (i < n && o < 60) {
		unsigned char c = (unsigned char)s[i];

		k = cv_utf8_char(s + i, n - i);
		if (!k || (k == 1 && (c < 0x20 || c == 0x7f))) {
			o += (size_t)snprintf(out + o, 96 - o, "\\x%02x", c);
			i++;
			continue;
		}
		if (k == 2 && c == 0xc2 && (unsigned char)s[i + 1] <= 0x9f) {
			o += (size_t)snprintf(out + o, 96 - o, "\\u{%04x}",
					      (unsigned char)s[i + 1]);
			i += 2;
			continue;
		}
		if (o + k > 60)
			break;
		memcpy(out + o, s + i, k);
		o += k;
		i += k;
	}
	if (i < n)
		memcpy(out + o, "...", 4);
	else
		out[o] = '\0';
	return out;
}
