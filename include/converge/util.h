/*
 * Memory, string buffers and arenas: the small pieces every module uses.
 *
 * Allocation failure is fatal (as in git's xmalloc): a command-line tool
 * that cannot get memory has no sensible way to go on, and checking every
 * allocation would bury the logic that matters.  Nothing has been written
 * to a database when this happens outside a transaction, and inside one
 * the process exit rolls it back.
 */
#ifndef CONVERGE_UTIL_H
#define CONVERGE_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define CV_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define CV_NORETURN __attribute__((noreturn))
#else
#define CV_PRINTF(f, a)
#define CV_NORETURN
#endif

#define CV_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

CV_NORETURN void cv_die(const char *fmt, ...) CV_PRINTF(1, 2);

void *cv_malloc(size_t n);
void *cv_calloc(size_t n, size_t size);
void *cv_realloc(void *p, size_t n);
/*
 * Asks the kernel for transparent huge pages under the pages of [p, p + n)
 * (a hint; nothing depends on it).  cv_malloc, cv_calloc and cv_realloc do
 * it for blocks of 4 MiB or more, arenas for their blocks of 2 MiB or more.
 */
void cv_hint_huge(void *p, size_t n);
char *cv_strdup(const char *s);
char *cv_strndup(const char *s, size_t n);
/* Returns a malloc'd string; the caller frees it. */
char *cv_asprintf(const char *fmt, ...) CV_PRINTF(1, 2);
/*
 * Whether s[0..n) is UTF-8 as RFC 3629 has it: no overlong forms, no
 * surrogates, nothing above U+10FFFF.  libyaml's emitter checks less (it
 * takes U+D800 and U+110000) and then writes escapes its own parser
 * refuses, so text is checked here before it is written as YAML.
 */
bool cv_utf8_valid(const char *s, size_t n);
/* The length of the character s[0..n) starts with, by the same rules;
 * 0 when n is 0 or the bytes there are no such character. */
size_t cv_utf8_char(const char *s, size_t n);

/*
 * Grow a dynamic array: ensure (*items) has room for at least `need`
 * elements of `size` bytes, updating *alloc.
 */
void cv_grow(void **items, size_t *alloc, size_t need, size_t size);
#define CV_GROW(items, nr, alloc) \
	cv_grow((void **)&(items), &(alloc), (nr), sizeof(*(items)))

/* qsort comparison for an array of strings (const char *), strcmp order. */
int cv_strptr_cmp(const void *a, const void *b);
/* The directory part of path: "." without a slash; malloc'd. */
char *cv_dirname(const char *path);
/* Whether two paths name one file: the same inode when both exist, else
 * the same absolute path (two spellings of a file not made yet). */
bool cv_same_file(const char *a, const char *b);

/* qsort that also takes an empty array, whose pointer may be NULL, and
 * sorts a list nearly in order in one pass. */
void cv_sort(void *base, size_t n, size_t size,
	     int (*cmp)(const void *, const void *));
/*
 * A stable sort: of two entries that compare equal, the one read first
 * stays first, so that "defined twice (first at …)" names the first place
 * (qsort promises no order for them).
 */
void cv_sort_stable(void *base, size_t n, size_t size,
		    int (*cmp)(const void *, const void *));

/* A growable, always NUL-terminated byte string (git's strbuf). */
struct cv_buf {
	char *buf;
	size_t len;
	size_t alloc;
};
#define CV_BUF_INIT { NULL, 0, 0 }

void cv_buf_init(struct cv_buf *b);
void cv_buf_release(struct cv_buf *b);
/* Returns the string and leaves the buffer empty; the caller frees it. */
char *cv_buf_detach(struct cv_buf *b);
void cv_buf_reset(struct cv_buf *b);
void cv_buf_add(struct cv_buf *b, const void *data, size_t n);
void cv_buf_adds(struct cv_buf *b, const char *s);
void cv_buf_addch(struct cv_buf *b, char c);
void cv_buf_addf(struct cv_buf *b, const char *fmt, ...) CV_PRINTF(2, 3);
void cv_buf_vaddf(struct cv_buf *b, const char *fmt, va_list ap)
	CV_PRINTF(2, 0);
/* Returns "" for an empty buffer, never NULL. */
const char *cv_buf_str(const struct cv_buf *b);

/*
 * An arena: many small allocations freed together.  Manifests, models and
 * plans live in one each.  Built with -DCV_ARENA_MALLOC, every allocation
 * is a separate malloc so that AddressSanitizer sees each object.
 */
struct cv_arena_block;
struct cv_arena {
	struct cv_arena_block *blocks;
	char *cur;
	size_t left;
	size_t block;    /* size of the next block; 0: the first size */
};
#define CV_ARENA_INIT { NULL, NULL, 0, 0 }

void cv_arena_init(struct cv_arena *a);
void cv_arena_release(struct cv_arena *a);
void *cv_arena_alloc(struct cv_arena *a, size_t n);   /* zeroed */
char *cv_arena_strdup(struct cv_arena *a, const char *s);  /* NULL -> NULL */
char *cv_arena_strndup(struct cv_arena *a, const char *s, size_t n);
char *cv_arena_printf(struct cv_arena *a, const char *fmt, ...)
	CV_PRINTF(2, 3);
void *cv_arena_memdup(struct cv_arena *a, const void *p, size_t n);

/* String helpers. */
bool cv_starts_with(const char *s, const char *prefix);
bool cv_ends_with(const char *s, const char *suffix);
/* NULL-safe strcmp: NULL sorts before every string. */
int cv_strcmp0(const char *a, const char *b);
bool cv_streq0(const char *a, const char *b);
/* Optimal string alignment distance, for "did you mean" suggestions. */
size_t cv_edit_distance(const char *a, const char *b);

/* Reads a whole file; returns 0 or -errno.  *out is malloc'd, NUL-ended. */
int cv_read_file(const char *path, char **out, size_t *len, size_t max);
int cv_read_stream(int fd, char **out, size_t *len, size_t max);

/*
 * A file that appears whole or not at all (snapshots): cv_partial_create
 * makes "PATH.partial" exclusively with mode 0600 (whatever the umask)
 * and returns its descriptor, *partial set to its malloc'd name; or -1
 * with errno, EEXIST when PATH itself exists already.  Once it is
 * written, cv_partial_publish gives it the name PATH, never replacing a
 * file of that name (0, or -1 with errno).  A process killed in between
 * leaves "PATH.partial", which nothing takes for the finished file.
 */
int cv_partial_create(const char *path, char **partial);
int cv_partial_publish(const char *partial, const char *path);

/*
 * Performance trace (git's GIT_TRACE_PERFORMANCE): with
 * CONVERGE_TRACE_PERFORMANCE set to 1 (stderr) or to an absolute path,
 * each call writes one line with the phase that just ended, the time it
 * took and the time since the first call.  A NULL phase starts a new lap
 * and writes nothing.  Costs one branch when off.
 */
void cv_trace_perf(const char *phase);
/* The same trace: one line with a count (a connection's round trips). */
void cv_trace_count(const char *what, unsigned long n);

#endif
