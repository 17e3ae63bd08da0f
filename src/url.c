/*
 * Database URLs (backend.h): which backend a --db string names, and the
 * same string with its password taken out, for everything that is printed
 * or recorded.
 *
 * PostgreSQL strings are validated by libpq itself (PQconninfoParse), so
 * converge accepts exactly what libpq will connect with.  That makes this
 * the one file outside src/backend/ that includes libpq-fe.h: hand-rolling
 * libpq's grammar here would drift from it, and the postgres backend is not
 * the place for code the SQLite-only build path needs too.
 *
 * Redaction follows libpq's own rules for both forms and errs on the side
 * of removing too much: a password written with a raw '@', '/' or '?' in a
 * URI is still removed, and a `dbname` that is itself a connection string
 * (libpq expands those) is redacted in turn.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "backend/pq.h"

#include "converge/backend.h"

/* Defined in src/backend/postgres.c; backend.h declares only SQLite's. */

/* How deep values that are connection strings themselves are followed. */
#define MAX_DEPTH 2

/* The secret texts a redaction removed, to keep them out of messages. */
struct secrets {
	char **v;
	size_t nr, alloc;
};

static void secrets_add(struct secrets *s, const char *p, size_t n)
{
	if (!s || !n)
		return;
	CV_GROW(s->v, s->nr + 1, s->alloc);
	s->v[s->nr++] = cv_strndup(p, n);
}

static void secrets_release(struct secrets *s)
{
	for (size_t i = 0; i < s->nr; i++)
		free(s->v[i]);
	free(s->v);
	s->v = NULL;
	s->nr = s->alloc = 0;
}

static bool secrets_in(const struct secrets *s, const char *text)
{
	for (size_t i = 0; i < s->nr; i++)
		if (strstr(text, s->v[i]))
			return true;
	return false;
}

static char *redact(const char *text, int depth, struct secrets *found);

/*
 * The keywords whose values are secrets: the password, and the one that
 * unlocks the client certificate's key.  libpq knows them in lower case
 * only, but a key it refuses ("PASSWORD=", "passwd=") still holds what
 * the user meant as a password, and its value must not reach the error
 * that says the key is unknown: any key with "pass" in it, in any case.
 */
static bool is_secret_key(const char *k, size_t n)
{
	size_t i;

	for (i = 0; i + 4 <= n; i++)
		if (strncasecmp(k + i, "pass", 4) == 0)
			return true;
	return false;
}

/* "sqlite:", in any case: URL schemes are case-insensitive. */
static bool is_sqlite_scheme(const char *s)
{
	return strncasecmp(s, "sqlite:", 7) == 0;
}

/* libpq tests with isspace() in the C locale. */
static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
	       c == '\f' || c == '\v';
}

/* Length of "scheme://" at the start of s, or 0. */
static size_t scheme_len(const char *s)
{
	size_t i = 0;

	if (!isalpha((unsigned char)s[0]))
		return 0;
	while (isalnum((unsigned char)s[i]) || s[i] == '+' || s[i] == '-' ||
	       s[i] == '.')
		i++;
	if (strncmp(s + i, "://", 3) != 0)
		return 0;
	return i + 3;
}

static bool is_pg_uri(const char *s)
{
	return cv_starts_with(s, "postgresql://") ||
	       cv_starts_with(s, "postgres://");
}

/* Does s start like a libpq key=value string ("host=…", "port = 5432")? */
static bool looks_kv(const char *s)
{
	while (is_space(*s))
		s++;
	if (!isalpha((unsigned char)*s) && *s != '_')
		return false;
	while (isalnum((unsigned char)*s) || *s == '_')
		s++;
	while (is_space(*s))
		s++;
	return *s == '=';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decodes s[0..n); a malformed escape is kept as it is. */
static char *pct_decode(const char *s, size_t n)
{
	struct cv_buf b = CV_BUF_INIT;

	for (size_t i = 0; i < n; i++) {
		int hi, lo;

		if (s[i] == '%' && i + 2 < n &&
		    (hi = hexval(s[i + 1])) >= 0 &&
		    (lo = hexval(s[i + 2])) >= 0) {
			cv_buf_addch(&b, (char)(hi << 4 | lo));
			i += 2;
		} else {
			cv_buf_addch(&b, s[i]);
		}
	}
	return cv_buf_detach(&b);
}

static void pct_encode(struct cv_buf *out, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~')
			cv_buf_addch(out, (char)c);
		else
			cv_buf_addf(out, "%%%02X", c);
	}
}

/* A value that is a connection string itself, redacted; NULL if unchanged. */
static char *redact_value(const char *value, int depth, struct secrets *found)
{
	char *r;

	if (depth >= MAX_DEPTH)
		return NULL;
	r = redact(value, depth + 1, found);
	if (strcmp(r, value) == 0) {
		free(r);
		return NULL;
	}
	return r;
}

/* The last '@' in rest before the first of `stops`, or NULL. */
static const char *last_at_before(const char *rest, const char *stops)
{
	size_t n = strcspn(rest, stops);
	const char *at = NULL;

	for (const char *p = rest; p < rest + n; p++)
		if (*p == '@')
			at = p;
	return at;
}

/*
 * Where the userinfo of a URI ends: its '@', or NULL.  libpq stops at the
 * first '@' or '/', but a password typed with a raw '@', '/', '?' or '='
 * must go too.  A query parameter may hold an '@' (user=me@corp) but comes
 * after an '=', so the last '@' before the first '=' is the end; without
 * one there, the last before the query, then the last before the path.
 * A database name with an '@' in it is shown cut short: removing too much
 * is the safe mistake.
 */
static const char *userinfo_end(const char *rest)
{
	const char *at = last_at_before(rest, "=");

	if (!at)
		at = last_at_before(rest, "?");
	if (!at)
		at = last_at_before(rest, "/");
	return at;
}

/*
 * Does libpq end the userinfo where redaction does?  libpq takes the
 * first '@' or '/' after "scheme://": with a raw '@' or '/' in the user
 * name or password it reads the rest of the password as the host, and
 * quotes it in its errors ("could not translate host name").
 */
static bool userinfo_ambiguous(const char *rest)
{
	const char *at = userinfo_end(rest);

	return at && rest + strcspn(rest, "@/") != at;
}

static void redact_query(struct cv_buf *out, const char *q, int depth,
			 struct secrets *found)
{
	bool first = true;

	while (*q) {
		const char *end = strchr(q, '&');
		const char *eq;
		size_t n;
		char *key;

		if (!end)
			end = q + strlen(q);
		n = (size_t)(end - q);
		eq = memchr(q, '=', n);
		key = pct_decode(q, eq ? (size_t)(eq - q) : n);
		if (is_secret_key(key, strlen(key))) {
			if (eq)
				secrets_add(found, eq + 1, (size_t)(end - eq - 1));
		} else {
			char *value = eq ? pct_decode(eq + 1,
						      (size_t)(end - eq - 1)) : NULL;
			char *r = value ? redact_value(value, depth, found) : NULL;

			cv_buf_addch(out, first ? '?' : '&');
			first = false;
			if (r) {
				cv_buf_add(out, q, (size_t)(eq - q) + 1);
				pct_encode(out, r);
			} else {
				cv_buf_add(out, q, n);
			}
			free(r);
			free(value);
		}
		free(key);
		q = *end ? end + 1 : end;
	}
}

static void redact_uri(struct cv_buf *out, const char *s, size_t hdr,
		       int depth, struct secrets *found)
{
	const char *rest = s + hdr;
	const char *at = userinfo_end(rest);
	const char *q;

	cv_buf_add(out, s, hdr);
	if (at) {
		const char *colon = memchr(rest, ':', (size_t)(at - rest));

		if (!colon) {
			cv_buf_add(out, rest, (size_t)(at - rest) + 1);
		} else {
			secrets_add(found, colon + 1, (size_t)(at - colon - 1));
			/* ":secret@host" has no user left: drop the '@' too. */
			if (colon > rest) {
				cv_buf_add(out, rest, (size_t)(colon - rest));
				cv_buf_addch(out, '@');
			}
		}
		rest = at + 1;
	}
	q = strchr(rest, '?');
	if (!q) {
		cv_buf_adds(out, rest);
		return;
	}
	cv_buf_add(out, rest, (size_t)(q - rest));
	redact_query(out, q + 1, depth, found);
}

static void kv_quote(struct cv_buf *out, const char *v)
{
	cv_buf_addch(out, '\'');
	for (; *v; v++) {
		if (*v == '\'' || *v == '\\')
			cv_buf_addch(out, '\\');
		cv_buf_addch(out, *v);
	}
	cv_buf_addch(out, '\'');
}

/*
 * A libpq key=value string, scanned as libpq's conninfo_parse does: the
 * keyword ends at '=' or a space, the value is either single-quoted (with
 * backslash escapes) or runs to the next space (backslash escapes too).
 * Pairs are cut out of the original text so that the rest reads as the
 * user wrote it.
 */
static void redact_kv(struct cv_buf *out, const char *s, int depth,
		      struct secrets *found)
{
	size_t pos = 0, copied = 0;
	bool dropped_last = false;

	for (;;) {
		size_t start, kend, vstart;
		struct cv_buf value = CV_BUF_INIT;
		bool is_pw;
		char *r;

		while (is_space(s[pos]))
			pos++;
		if (!s[pos])
			break;
		start = pos;
		while (s[pos] && s[pos] != '=' && !is_space(s[pos]))
			pos++;
		kend = pos;
		is_pw = is_secret_key(s + start, kend - start);
		while (is_space(s[pos]))
			pos++;
		dropped_last = false;
		if (s[pos] != '=') {
			/*
			 * libpq refuses this; what follows a bare "password"
			 * is most likely the password, so drop all of it.
			 */
			if (is_pw) {
				cv_buf_add(out, s + copied, start - copied);
				secrets_add(found, s + pos, strlen(s + pos));
				copied = pos = strlen(s);
				dropped_last = true;
			}
			continue;
		}
		pos++;
		while (is_space(s[pos]))
			pos++;
		vstart = pos;
		if (s[pos] == '\'') {
			for (pos++; s[pos] && s[pos] != '\''; pos++) {
				if (s[pos] == '\\' && s[pos + 1])
					pos++;
				cv_buf_addch(&value, s[pos]);
			}
			if (s[pos] == '\'')
				pos++;
		} else {
			for (; s[pos] && !is_space(s[pos]); pos++) {
				if (s[pos] == '\\' && s[pos + 1])
					pos++;
				cv_buf_addch(&value, s[pos]);
			}
		}
		if (is_pw) {
			secrets_add(found, s + vstart, pos - vstart);
			secrets_add(found, value.buf, value.len);
			cv_buf_add(out, s + copied, start - copied);
			while (is_space(s[pos]))
				pos++;
			copied = pos;
			dropped_last = true;
		} else if ((r = redact_value(cv_buf_str(&value), depth, found))) {
			cv_buf_add(out, s + copied, vstart - copied);
			kv_quote(out, r);
			copied = pos;
			free(r);
		}
		cv_buf_release(&value);
	}
	cv_buf_adds(out, s + copied);
	if (dropped_last)
		while (out->len && is_space(out->buf[out->len - 1]))
			out->buf[--out->len] = '\0';
}

static char *redact(const char *text, int depth, struct secrets *found)
{
	struct cv_buf out = CV_BUF_INIT;
	size_t hdr;

	/* A SQLite path holds no password, whatever characters it has. */
	if (is_sqlite_scheme(text))
		return cv_strdup(text);
	hdr = scheme_len(text);
	if (hdr)
		redact_uri(&out, text, hdr, depth, found);
	else if (strchr(text, '='))
		redact_kv(&out, text, depth, found);
	else
		cv_buf_adds(&out, text);
	return cv_buf_detach(&out);
}

char *cv_url_redact(const char *text)
{
	if (!text)
		return NULL;
	return redact(text, 0, NULL);
}

void cv_url_release(struct cv_url *url)
{
	if (!url)
		return;
	free(url->path);
	free(url->conninfo);
	free(url->display);
	free(url->name);
	free(url->schema);
	url->backend = NULL;
	url->type = NULL;
	url->path = url->conninfo = url->display = url->name = NULL;
	url->schema = NULL;
}

/* Keeps a name safe to put in a file name. */
static char *file_safe(const char *s)
{
	char *out = cv_strdup(*s ? s : "db"), *p;

	for (p = out; *p; p++)
		if (!(isalnum((unsigned char)*p) || *p == '.' || *p == '_' ||
		      *p == '-'))
			*p = '_';
	if (out[0] == '.')
		out[0] = '_';
	return out;
}

/* "tmws" for /srv/tmws.db; the dbname (else the user) for PostgreSQL. */
static char *db_name(const struct cv_url *url)
{
	PQconninfoOption *opts, *o;
	const char *dbname = NULL, *user = NULL;
	char *name, *dot;
	const char *base;

	if (url->path) {
		/* A file name already: kept as it is (SPEC §7). */
		base = strrchr(url->path, '/');
		name = cv_strdup(base ? base + 1 : url->path);
		dot = strrchr(name, '.');
		if (dot && dot != name)
			*dot = '\0';
		return name;
	}
	opts = url->conninfo && !cv_pq_load(NULL) ?
	       PQconninfoParse(url->conninfo, NULL) : NULL;
	for (o = opts; o && o->keyword; o++) {
		if (strcmp(o->keyword, "dbname") == 0 && o->val && *o->val)
			dbname = o->val;
		if (strcmp(o->keyword, "user") == 0 && o->val && *o->val)
			user = o->val;
	}
	name = file_safe(dbname ? dbname : user ? user : "postgres");
	if (opts)
		PQconninfoFree(opts);
	return name;
}

static bool has_sqlite_ext(const char *s)
{
	return cv_ends_with(s, ".db") || cv_ends_with(s, ".sqlite") ||
	       cv_ends_with(s, ".sqlite3");
}

static int parse_sqlite(struct cv_url *out, const char *text,
			const char *path, struct cv_error *err)
{
	/* sqlite://PATH and sqlite:///ABS/PATH: the authority is empty. */
	if (cv_starts_with(path, "//"))
		path += 2;
	if (!*path) {
		return cv_error_set(err, CV_EUSAGE,
				    "missing file path in database URL '%s'",
				    cv_shorten(text));
	}
	/*
	 * SQLite reads "file:" as a URI of its own (with ?mode= and other
	 * parameters): the file it opens would not be the path converge
	 * names its snapshots and its lock after.
	 */
	if (cv_starts_with(path, "file:"))
		return cv_error_set(err, CV_EUSAGE,
				    "database URL '%s': SQLite 'file:' URIs are not supported; use sqlite:PATH or a plain path",
				    cv_shorten(text));
	/* An in-memory database ends with the process: an apply to it
	 * would report a success nobody can see, and an undo for nothing. */
	if (strcmp(path, ":memory:") == 0)
		return cv_error_set(err, CV_EUSAGE,
				    "database URL '%s': an in-memory SQLite database ends with converge; give a database file",
				    cv_shorten(text));
	out->backend = &cv_sqlite_backend;
	out->type = "sqlite";
	out->path = cv_strdup(path);
	out->display = cv_strdup(text);
	return 0;
}

/*
 * Asks libpq whether it can use the string.  On failure *detail is libpq's
 * reason (malloc'd, without its newline), or NULL when that reason quotes
 * part of the password.
 */
static bool pg_valid(const char *text, const struct secrets *found,
		     char **detail)
{
	PQconninfoOption *opts;
	char *msg = NULL;
	size_t n;

	*detail = NULL;
	opts = PQconninfoParse(text, &msg);
	if (opts) {
		PQconninfoFree(opts);
		return true;
	}
	if (msg) {
		n = strlen(msg);
		while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
			n--;
		msg[n] = '\0';
		if (n && !secrets_in(found, msg))
			*detail = cv_strdup(msg);
		PQfreemem(msg);
	}
	return false;
}

static int parse_url(struct cv_url *out, const char *text,
		     struct cv_error *err)
{
	struct secrets found = { NULL, 0, 0 };
	char *display = NULL, *detail = NULL;
	int rc = 0;

	out->backend = NULL;
	out->type = NULL;
	out->path = out->conninfo = out->display = out->name = NULL;
	if (!text || !*text)
		return cv_error_set(err, CV_EUSAGE, "empty database URL");

	if (is_sqlite_scheme(text))
		return parse_sqlite(out, text, text + 7, err);

	display = redact(text, 0, &found);
	if (is_pg_uri(text) && userinfo_ambiguous(text + scheme_len(text))) {
		rc = cv_error_set(err, CV_EUSAGE,
				  "invalid database URL '%s': a '@' or '/' in the user name or password must be percent-encoded (%%40, %%2F)",
				  cv_shorten(display));
		goto out;
	}
	if (is_pg_uri(text) || looks_kv(text)) {
		/* libpq judges PostgreSQL strings; without it, its error. */
		bool have_pq = !cv_pq_load(err);

		if (have_pq && pg_valid(text, &found, &detail)) {
			out->backend = &cv_postgres_backend;
			out->type = "postgres";
			out->conninfo = cv_strdup(text);
			out->display = display;
			display = NULL;
			goto out;
		}
		/* "a=b.db" is a file name that merely looks like key=value. */
		if (!is_pg_uri(text) && has_sqlite_ext(text)) {
			if (!have_pq)
				cv_error_release(err);
			rc = parse_sqlite(out, text, text, err);
			goto out;
		}
		if (!have_pq) {
			rc = CV_ERR;
			goto out;
		}
		if (detail)
			rc = cv_error_set(err, CV_EUSAGE,
					  "invalid database URL '%s': %s",
					  cv_shorten(display), detail);
		else
			rc = cv_error_set(err, CV_EUSAGE,
					  "invalid database URL '%s': libpq "
					  "refuses it (its reason quotes the "
					  "password, so it is not shown)",
					  cv_shorten(display));
		goto out;
	}
	if (has_sqlite_ext(text)) {
		rc = parse_sqlite(out, text, text, err);
		goto out;
	}
	rc = cv_error_set(err, CV_EUSAGE,
			  "unrecognised database URL '%s' (expected sqlite:PATH, "
			  "a .db or .sqlite file, postgres://... or key=value)",
			  cv_shorten(display));

out:
	free(detail);
	free(display);
	secrets_release(&found);
	return rc;
}

int cv_url_parse(struct cv_url *out, const char *text, struct cv_error *err)
{
	int rc = parse_url(out, text, err);

	if (!rc)
		out->name = db_name(out);
	return rc;
}
