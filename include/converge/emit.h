/*
 * Writing YAML documents (inspect's manifests) through libyaml's emitter.
 *
 * Strings that a YAML 1.1 or 1.2 resolver would read as something else
 * (empty, `null`, `yes`, `on`, `0x1F`, `1:20`, `2001-12-14` ...) are
 * double-quoted, so that any tool loads them back as strings; everything
 * else is left to the emitter, which quotes what YAML's syntax needs.  Errors are sticky: the first one is kept
 * and reported by cv_emit_finish.
 */
#ifndef CONVERGE_EMIT_H
#define CONVERGE_EMIT_H

#include <stdio.h>
#include "converge/error.h"

struct cv_emit;

/* Starts a stream and a document on fp. */
struct cv_emit *cv_emit_new(FILE *fp);
void cv_emit_map(struct cv_emit *e, bool flow);
void cv_emit_seq(struct cv_emit *e, bool flow);
void cv_emit_end(struct cv_emit *e);   /* ends the innermost map or seq */
void cv_emit_str(struct cv_emit *e, const char *s);  /* NULL: null */
void cv_emit_int(struct cv_emit *e, long long v);
void cv_emit_bool(struct cv_emit *e, bool v);
/* Whether s, written plain, would not load back as a string. */
bool cv_emit_needs_quotes(const char *s);
/* A key and a string value, for the common case. */
void cv_emit_pair(struct cv_emit *e, const char *key, const char *value);
/* Ends the document and the stream, flushes and frees e. */
int cv_emit_finish(struct cv_emit *e, struct cv_error *err);

#endif
