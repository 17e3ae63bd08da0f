/*
 * converge snapshots [--prune N]: the snapshot files of a database,
 * newest first, with the run that took each; --prune keeps the newest N.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

static int cmp_desc(const void *a, const void *b)
{
	return strcmp(*(const char *const *)b, *(const char *const *)a);
}

/* "<db name>-": the prefix every snapshot of this database has. */
static char *prefix_of(const struct cv_url *url)
{
	return cv_asprintf("%s-", url->name ? url->name : "db");
}

int cmd_snapshots(struct cv_opts *o)
{
	struct cv_url url = CV_URL_INIT;
	struct cv_error err = CV_ERROR_INIT;
	char *dir = NULL, *prefix = NULL, **names = NULL;
	size_t n = 0, alloc = 0, i;
	DIR *d;
	struct dirent *e;
	int code = 0;

	if (cli_url(o, &url, &err)) {
		code = cli_fail(&err);
		goto out;
	}
	dir = cv_snapshot_dir(&url, o->snapshot_dir);
	prefix = prefix_of(&url);
	d = opendir(dir);
	if (!d && errno != ENOENT) {
		fprintf(stderr, "converge: error: cannot read '%s': %s\n", dir,
			strerror(errno));
		code = 1;
		goto out;
	}
	while (d && (e = readdir(d))) {
		if (!cv_starts_with(e->d_name, prefix) ||
		    !cv_ends_with(e->d_name, url.backend->snapshot_ext))
			continue;
		CV_GROW(names, n + 1, alloc);
		names[n++] = cv_strdup(e->d_name);
	}
	if (d)
		closedir(d);
	/* Run ids sort by time, so names do too: newest first. */
	qsort(names, n, sizeof(*names), cmp_desc);
	if (o->prune >= 0) {
		size_t removed = 0;

		for (i = (size_t)o->prune; i < n; i++) {
			char *path = cv_asprintf("%s/%s", dir, names[i]);

			if (unlink(path) == 0) {
				removed++;
				if (!o->quiet)
					printf("removed %s\n", path);
			} else {
				fprintf(stderr, "converge: error: cannot remove '%s': %s\n",
					path, strerror(errno));
				code = 1;
			}
			free(path);
		}
		if (!o->quiet)
			printf("kept %zu snapshot%s, removed %zu\n",
			       n < (size_t)o->prune ? n : (size_t)o->prune,
			       n == 1 ? "" : "s", removed);
		goto out;
	}
	if (!n && !o->quiet)
		printf("no snapshots in %s\n", dir);
	for (i = 0; i < n; i++) {
		char *path = cv_asprintf("%s/%s", dir, names[i]);
		struct stat st;
		char when[CV_TIME_LEN] = "?";

		if (stat(path, &st) == 0)
			cv_time_format(st.st_mtime, when);
		printf("%s  %10lld bytes  %s\n", path,
		       (long long)(stat(path, &st) == 0 ? st.st_size : 0), when);
		free(path);
	}
out:
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(dir);
	free(prefix);
	cv_url_release(&url);
	cv_error_release(&err);
	return code;
}
