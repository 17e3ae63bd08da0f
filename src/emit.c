/*
 * A thin layer over libyaml's emitter for documents converge prints
 * (emit.h).
 */
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "converge/emit.h"

struct cv_emit {
	yaml_emitter_t em;
	bool failed;
	char *problem;
	char open[64];   /* 'm' or 's' per open collection */
	size_t depth;
};

static void push(struct cv_emit *e, char c)
{
	if (e->depth == sizeof(e->open))
		cv_die("YAML output nested too deeply");
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
	push(e, 'm');
}

void cv_emit_seq(struct cv_emit *e, bool flow)
{
	yaml_event_t ev;

	yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
		flow ? YAML_FLOW_SEQUENCE_STYLE : YAML_BLOCK_SEQUENCE_STYLE);
	emit(e, &ev);
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

static bool needs_quotes(const char *s)
{
	return !*s || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
	       strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

static void scalar(struct cv_emit *e, const char *s, yaml_scalar_style_t style)
{
	yaml_event_t ev;

	yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s,
				     (int)strlen(s), 1, 1, style);
	emit(e, &ev);
}

void cv_emit_str(struct cv_emit *e, const char *s)
{
	if (!s)
		scalar(e, "null", YAML_PLAIN_SCALAR_STYLE);
	else
		scalar(e, s, needs_quotes(s) ? YAML_DOUBLE_QUOTED_SCALAR_STYLE :
		       YAML_ANY_SCALAR_STYLE);
}

void cv_emit_int(struct cv_emit *e, long long v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%lld", v);
	scalar(e, buf, YAML_PLAIN_SCALAR_STYLE);
}

void cv_emit_bool(struct cv_emit *e, bool v)
{
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
