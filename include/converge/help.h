/*
 * The -h/--help texts: the top-level usage and one text per verb.
 *
 * They say what docs/verbs/<verb>.md and the man page say; the unit test
 * test_help checks that every long option of a verb's help appears in its
 * page and the other way round.
 */
#ifndef CONVERGE_HELP_H
#define CONVERGE_HELP_H

#include <stdio.h>

/*
 * The help text of `verb` ("plan", "apply", …); NULL or "converge" gives
 * the top-level usage that lists every verb.  Returns a static string
 * (the caller does not free it), or NULL for a verb that does not exist.
 */
const char *cv_help_text(const char *verb);

/*
 * Writes the help text of `verb` to fp; for an unknown verb, the
 * top-level usage.  Callers print it to stdout for -h (exit 0) and to
 * stderr after a usage error (exit 64).
 */
void cv_help_print(const char *verb, FILE *fp);

#endif
