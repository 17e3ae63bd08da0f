/*
 * A thin layer over libyaml's emitter for documents converge prints
 * (emit.h).
 */
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "converge/emit.h"

struct cv_emit {
	yaml_emitter_t em;
	bool failed;
	char *problem;
	char open[64];   /* 'm' or 's' per open collection */
	bool value[64];  /* in a mapping: the next node is a value */
	size_t depth;
};

/*
 * A node begins: in a mapping, keys and values take turns.  Returns
 * whether it is a key.
 */
static bool next_node(struct cv_emit *e)
{
	bool key;

	if (!e->depth || e->open[e->depth - 1] != 'm')
		return false;
	key = !e->value[e->depth - 1];
	e->value[e->depth - 1] = key;
	return key;
}

static void push(struct cv_emit *e, char c)
{
	if (e->depth == sizeof(e->open))
		cv_die("YAML output nested too deeply");
	e->value[e->depth] = false;
	e->open[e->depth++] = c;
}

static void emit(struct cv_emit *e, yaml_event_t *ev)
{
	if (e->failed) {
		yaml_event_delete(ev);
		return;
	}
	/* yaml_emitter_emit takes the event, success or not. */
	if (!yaml_emitter_emit(&e->em, ev)) {
		e->failed = true;
		e->problem = cv_strdup(e->em.problem ? e->em.problem :
				       "cannot write YAML");
	}
}

struct cv_emit *cv_emit_new(FILE *fp)
{
	struct cv_emit *e = cv_calloc(1, sizeof(*e));
	yaml_event_t ev;

	if (!yaml_emitter_initialize(&e->em))
		cv_die("cannot initialise the YAML emitter");
	yaml_emitter_set_output_file(&e->em, fp);
	yaml_emitter_set_unicode(&e->em, 1);
	yaml_emitter_set_width(&e->em, -1);
	yaml_emitter_set_indent(&e->em, 2);
	yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
	emit(e, &ev);
	yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1);
	emit(e, &ev);
	return e;
}

void cv_emit_map(struct cv_emit *e, bool flow)
{
	yaml_event_t ev;

	yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
		flow ? YAML_FLOW_MAPPING_STYLE : YAML_BLOCK_MAPPING_STYLE);
	emit(e, &ev);
	next_node(e);
	push(e, 'm');
}

void cv_emit_seq(struct cv_emit *e, bool flow)
{
	yaml_event_t ev;

	yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
		flow ? YAML_FLOW_SEQUENCE_STYLE : YAML_BLOCK_SEQUENCE_STYLE);
	emit(e, &ev);
	next_node(e);
	push(e, 's');
}

void cv_emit_end(struct cv_emit *e)
{
	yaml_event_t ev;

	if (!e->depth)
		cv_die("cv_emit_end without an open collection");
	if (e->open[--e->depth] == 'm')
		yaml_mapping_end_event_initialize(&ev);
	else
		yaml_sequence_end_event_initialize(&ev);
	emit(e, &ev);
}

/*
 * Plain scalars that some YAML resolver reads as something other than a
 * string.  converge's loader reads them back as text, but other tools do
 * not: PyYAML (YAML 1.1) turns `on`, `yes` and `true` into one boolean key
 * and `0755` into 493.  Each pattern is the union of the YAML 1.1 type
 * repository's regular expression (yaml.org/type), PyYAML's variant of it
 * and the YAML 1.2 core schema's, so that a string matching none of them
 * is a string to all three.
 */
static const char *const implicit_patterns[] = {
	/* null (1.1, 1.2); the empty string is handled by the caller */
	"~|null|Null|NULL",
	/* bool: 1.1's full list (1.2 and PyYAML keep a subset) */
	"y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|"
	"on|On|ON|off|Off|OFF",
	/* int: 1.1 binary, octal, decimal, hex, sexagesimal */
	"[-+]?0b[01_]+",
	"[-+]?0[0-7_]+",
	"[-+]?(0|[1-9][0-9_]*)",
	"[-+]?0x[0-9a-fA-F_]+",
	"[-+]?[1-9][0-9_]*(:[0-5]?[0-9])+",
	/* int: 1.2 decimal (leading zeros allowed), octal, hex */
	"[-+]?[0-9]+",
	"0o[0-7]+",
	/* float: 1.1 with PyYAML's underscores, sexagesimal, inf, nan */
	"[-+]?([0-9][0-9_]*)?\\.[0-9._]*([eE][-+][0-9]+)?",
	"[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+\\.[0-9_]*",
	"[-+]?\\.(inf|Inf|INF)",
	"\\.(nan|NaN|NAN)",
	/* float: 1.2, where the exponent needs no dot nor sign */
	"[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?",
	/* timestamp (1.1): a date, or a date and a time */
	"[0-9]{4}-[0-9]{2}-[0-9]{2}",
	"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}([Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}"
	"(\\.[0-9]*)?([ \t]*(Z|[-+][0-9]{1,2}(:[0-9]{2})?))?",
	/* merge key and PyYAML's value key: converge reads `<<` as a merge */
	"<<|=",
};

/* One anchored alternation of the patterns above, compiled once. */
static const regex_t *implicit_regex(void)
{
	static regex_t re;
	static bool compiled;
	struct cv_buf b = CV_BUF_INIT;
	size_t i;

	if (compiled)
		return &re;
	cv_buf_adds(&b, "^(");
	for (i = 0; i < CV_ARRAY_SIZE(implicit_patterns); i++)
		cv_buf_addf(&b, "%s(%s)", i ? "|" : "", implicit_patterns[i]);
	cv_buf_adds(&b, ")$");
	if (regcomp(&re, cv_buf_str(&b), REG_EXTENDED | REG_NOSUB))
		cv_die("cannot compile the YAML type patterns");
	cv_buf_release(&b);
	compiled = true;
	return &re;
}

bool cv_emit_needs_quotes(const char *s)
{
	/* Every pattern starts with one of these: most names skip the regex. */
	if (!*s)
		return true;
	if (!strchr("~yYnNtTfFoO0123456789+-.<=", *s))
		return false;
	return regexec(implicit_regex(), s, 0, NULL, 0) == 0;
}

static void scalar(struct cv_emit *e, const char *s, yaml_scalar_style_t style)
{
	yaml_event_t ev;

	if (e->failed)
		return;
	/*
	 * A live name that another tool stored as bytes must give an error:
	 * not an event libyaml left unset (it refuses some of them here) nor
	 * an escape its parser refuses (it takes others, cv_utf8_valid).
	 */
	if (!cv_utf8_valid(s, strlen(s)) ||
	    !yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s,
					  (int)strlen(s), 1, 1, style)) {
		e->failed = true;
		e->problem = cv_asprintf("text is not valid UTF-8: '%s'",
					 cv_shorten(s));
		return;
	}
	emit(e, &ev);
}

/*
 * Manifests expand ${NAME} in values (not in keys), so a value that holds
 * "${" is written "$${": read back, it is the same text, not whatever
 * NAME holds in the reader's environment.
 */
void cv_emit_str(struct cv_emit *e, const char *s)
{
	struct cv_buf b = CV_BUF_INIT;
	const char *p;

	if (!s) {
		next_node(e);
		scalar(e, "null", YAML_PLAIN_SCALAR_STYLE);
		return;
	}
	if (!next_node(e) && strstr(s, "${")) {
		for (p = s; *p; p++) {
			if (p[0] == '$' && p[1] == '{')
				cv_buf_addch(&b, '$');
			cv_buf_addch(&b, *p);
		}
		s = cv_buf_str(&b);
	}
	scalar(e, s, cv_emit_needs_quotes(s) ? YAML_DOUBLE_QUOTED_SCALAR_STYLE :
	       YAML_ANY_SCALAR_STYLE);
	cv_buf_release(&b);
}

void cv_emit_int(struct cv_emit *e, long long v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%lld", v);
	next_node(e);
	scalar(e, buf, YAML_PLAIN_SCALAR_STYLE);
}

void cv_emit_bool(struct cv_emit *e, bool v)
{
	next_node(e);
	scalar(e, v ? "true" : "false", YAML_PLAIN_SCALAR_STYLE);
}

void cv_emit_pair(struct cv_emit *e, const char *key, const char *value)
{
	cv_emit_str(e, key);
	cv_emit_str(e, value);
}

int cv_emit_finish(struct cv_emit *e, struct cv_error *err)
{
	yaml_event_t ev;
	int ret = 0;

	yaml_document_end_event_initialize(&ev, 1);
	emit(e, &ev);
	yaml_stream_end_event_initialize(&ev);
	emit(e, &ev);
	if (!e->failed && !yaml_emitter_flush(&e->em)) {
		e->failed = true;
		e->problem = cv_strdup("cannot write output");
	}
	if (e->failed)
		ret = cv_error_set(err, CV_EIO, "cannot write YAML: %s",
				   e->problem);
	yaml_emitter_delete(&e->em);
	free(e->problem);
	free(e);
	return ret;
}
