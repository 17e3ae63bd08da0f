/*
 * Timestamps: RFC 3339 in, "YYYY-MM-DDTHH:MM:SSZ" (UTC) out.
 */
#ifndef CONVERGE_TIMEUTIL_H
#define CONVERGE_TIMEUTIL_H

#include <time.h>

#define CV_TIME_LEN 21  /* "2026-11-23T12:00:00Z" and its NUL */

/*
 * Parses "YYYY-MM-DD", "YYYY-MM-DDTHH:MM[:SS[.frac]]" followed by "Z" or
 * "+HH:MM"/"-HH:MM" (a space may stand for "T"; a time without zone is
 * an error, so that nobody's clock depends on TZ).  Returns 0 or -1.
 *
 * A fraction of a second is dropped: the time rounds down, expiry times
 * and --now alike.  Rounding never reorders two times (a <= b gives
 * floor(a) <= floor(b)), so a grant that has expired at --now is seen as
 * expired; one that ends within a second is dropped up to a second
 * early, never kept late.
 */
int cv_time_parse(const char *s, time_t *out);
/*
 * The same, for a time a database holds: also the offsets "+HH" and
 * "+HH:MM:SS" that PostgreSQL prints for a timestamptz
 * ("2026-11-24 15:45:00+13:45", "2026-11-24 02:00:00+00").
 */
int cv_time_parse_db(const char *s, time_t *out);
/* Writes t as UTC "YYYY-MM-DDTHH:MM:SSZ" into out[CV_TIME_LEN]. */
void cv_time_format(time_t t, char *out);
/* The real clock (run ids, journal times); --now is the CLI's business. */
time_t cv_time_now(void);

#endif
