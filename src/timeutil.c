/*
 * RFC 3339 timestamps (timeutil.h).
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "converge/timeutil.h"

static int digits(const char *s, int n, int *out)
{
	int v = 0, i;

	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

static int days_in_month(int y, int m)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return days[m - 1];
}

/*
 * The offset at p (its sign): "+HH:MM"; for a database's value also
 * "+HH" and "+HH:MM:SS", as PostgreSQL prints a timestamptz.  Sets *off
 * (seconds east of UTC) and *end.
 */
static int parse_offset(const char *p, bool db, int *off, const char **end)
{
	int oh, om = 0, os = 0, sign = *p == '-' ? -1 : 1;
	const char *q = p + 3;

	if (digits(p + 1, 2, &oh) || oh > 23)
		return -1;
	if (*q == ':') {
		if (digits(q + 1, 2, &om) || om > 59)
			return -1;
		q += 3;
		if (db && *q == ':') {
			if (digits(q + 1, 2, &os) || os > 59)
				return -1;
			q += 3;
		}
	} else if (!db) {
		return -1;
	}
	*off = sign * (oh * 3600 + om * 60 + os);
	*end = q;
	return 0;
}

static int parse(const char *s, bool db, time_t *out)
{
	struct tm tm;
	int y, mo, d, h = 0, mi = 0, sec = 0, off = 0;
	const char *p;

	memset(&tm, 0, sizeof(tm));
	if (!s || strlen(s) < 10 || digits(s, 4, &y) || s[4] != '-' ||
	    digits(s + 5, 2, &mo) || s[7] != '-' || digits(s + 8, 2, &d))
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
		return -1;
	p = s + 10;
	if (*p == 'T' || *p == 't' || *p == ' ') {
		p++;
		if (digits(p, 2, &h) || p[2] != ':' || digits(p + 3, 2, &mi))
			return -1;
		p += 5;
		if (*p == ':') {
			if (digits(p + 1, 2, &sec))
				return -1;
			p += 3;
			if (*p == '.' || *p == ',') {
				p++;
				if (!isdigit((unsigned char)*p))
					return -1;
				while (isdigit((unsigned char)*p))
					p++;
			}
		}
		if (h > 23 || mi > 59 || sec > 60)
			return -1;
		if (*p == 'Z' || *p == 'z') {
			p++;
		} else if (*p == '+' || *p == '-') {
			if (parse_offset(p, db, &off, &p))
				return -1;
		} else {
			return -1;
		}
	}
	if (*p)
		return -1;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec == 60 ? 59 : sec;
	*out = timegm(&tm) - off;
	return 0;
}

int cv_time_parse(const char *s, time_t *out)
{
	return parse(s, false, out);
}

int cv_time_parse_db(const char *s, time_t *out)
{
	return parse(s, true, out);
}

void cv_time_format(time_t t, char *out)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, CV_TIME_LEN, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

time_t cv_time_now(void)
{
	return time(NULL);
}
