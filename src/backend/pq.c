/*
 * Loads libpq on first use (pq.h says why).
 */
#include <dlfcn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#define CV_PQ_LOADER
#include "pq.h"

struct cv_pq cv_pq;

/* The store through a void ** is the form POSIX gives for dlsym(). */
static bool resolve(void *lib)
{
#define CV_PQ_RESOLVE(name)                                   \
	*(void **)&cv_pq.name = dlsym(lib, #name);            \
	if (!cv_pq.name)                                      \
		return false;
	CV_PQ_FUNCS(CV_PQ_RESOLVE)
#undef CV_PQ_RESOLVE
#define CV_PQ_OPTION(name) *(void **)&cv_pq.name = dlsym(lib, #name);
	CV_PQ_OPTIONAL(CV_PQ_OPTION)
#undef CV_PQ_OPTION
	return true;
}

int cv_pq_load(struct cv_error *err)
{
	static int state;	/* 0 not tried, 1 loaded, -1 failed */
	static char why[512];

	if (state > 0)
		return 0;
	if (state == 0) {
		const char *path = getenv("CONVERGE_LIBPQ");
		void *lib;
		const char *e;

		if (!path || !*path)
			path = "libpq.so.5";
		lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);

		if (lib && resolve(lib)) {
			state = 1;
			return 0;
		}
		e = dlerror();
		snprintf(why, sizeof(why), "%s",
			 e ? e : "it lacks a function converge needs");
		state = -1;
	}
	return cv_error_set(err, CV_ERR,
			    "PostgreSQL needs libpq, which cannot be loaded: %s (on Debian: apt-get install libpq5)",
			    why);
}
