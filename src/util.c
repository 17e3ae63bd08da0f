/*
 * Memory, string buffers, arenas and small string helpers (util.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "converge/util.h"

void cv_die(const char *fmt, ...)
{
	va_list ap;

	fputs("converge: fatal: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/*
 * Blocks of this size or more ask for transparent huge pages.  On the
 * virtual machines converge runs on, a page fault costs microseconds, and a
 * plan over a million grants touches 300 MB: 75,000 faults of 4 KiB, or
 * 150 of 2 MiB.  With transparent_hugepage set to "madvise" (the common
 * default) nothing gets huge pages unless it asks.
 */
#define HUGE_BLOCK ((size_t)4 << 20)
#define HUGE_PAGE ((uintptr_t)2 << 20)

void cv_hint_huge(void *p, size_t n)
{
#ifdef MADV_HUGEPAGE
	static uintptr_t page;
	uintptr_t start, end;

	if (!page)
		page = (uintptr_t)sysconf(_SC_PAGESIZE);
	start = (uintptr_t)p & ~(page - 1);
	end = ((uintptr_t)p + n + page - 1) & ~(page - 1);
	/* Only a hint: the pages are the block's own, and nothing depends
	 * on the answer. */
	(void)madvise((void *)start, (size_t)(end - start), MADV_HUGEPAGE);
#else
	(void)p;
	(void)n;
#endif
}

/*
 * A big malloc'd block is its own mapping (main sets malloc's mmap
 * threshold): the advice covers all of it, or mremap could not grow it.
 */
static void hint_block(void *p)
{
	cv_hint_huge(p, malloc_usable_size(p));
}

void *cv_malloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		cv_die("out of memory (%zu bytes)", n);
	if (n >= HUGE_BLOCK)
		hint_block(p);
	return p;
}

void *cv_calloc(size_t n, size_t size)
{
	void *p;

	/* A big block is advised before calloc's memset touches it. */
	if (size && n >= HUGE_BLOCK / size) {
		if (n > SIZE_MAX / size)
			cv_die("out of memory (%zu x %zu bytes)", n, size);
		p = cv_malloc(n * size);
		memset(p, 0, n * size);
		return p;
	}
	p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		cv_die("out of memory (%zu x %zu bytes)", n, size);
	return p;
}

void *cv_realloc(void *p, size_t n)
{
	void *q;

	/*
	 * A block that becomes big moves into memory advised first: realloc
	 * would copy it into fresh pages, faulted 4 KiB at a time before any
	 * hint.  A block that is big already is its own mapping (main sets
	 * malloc's mmap threshold): realloc grows it with mremap, which
	 * keeps the advice.
	 */
	if (n >= HUGE_BLOCK && p) {
		size_t old = malloc_usable_size(p);

		if (old < HUGE_BLOCK) {
			q = cv_malloc(n);
			memcpy(q, p, old < n ? old : n);
			free(p);
			return q;
		}
	}
	q = realloc(p, n ? n : 1);
	if (!q)
		cv_die("out of memory (%zu bytes)", n);
	if (n >= HUGE_BLOCK)
		hint_block(q);
	return q;
}

size_t cv_utf8_char(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	/* The smallest second byte each lead allows, and the largest. */
	unsigned char lo = 0x80, hi = 0xbf;
	size_t width, k;

	if (!n)
		return 0;
	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		width = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		width = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		width = 4;
	else
		return 0;
	if (p[0] == 0xe0)
		lo = 0xa0;	/* overlong */
	else if (p[0] == 0xed)
		hi = 0x9f;	/* surrogates */
	else if (p[0] == 0xf0)
		lo = 0x90;	/* overlong */
	else if (p[0] == 0xf4)
		hi = 0x8f;	/* above U+10FFFF */
	if (n < width || p[1] < lo || p[1] > hi)
		return 0;
	for (k = 2; k < width; k++)
		if ((p[k] & 0xc0) != 0x80)
			return 0;
	return width;
}

bool cv_utf8_valid(const char *s, size_t n)
{
	size_t k;

	for (; n; s += k, n -= k) {
		/* Most of what converge writes is ASCII: a byte, no call
		 * (the plan file checks every scalar of every step). */
		if ((unsigned char)*s < 0x80)
			k = 1;
		else if (!(k = cv_utf8_char(s, n)))
			return false;
	}
	return true;
}

char *cv_strdup(const char *s)
{
	return cv_strndup(s, strlen(s));
}

char *cv_strndup(const char *s, size_t n)
{
	char *p = cv_malloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *cv_asprintf(const char *fmt, ...)
{
	struct cv_buf b = CV_BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	cv_buf_vaddf(&b, fmt, ap);
	va_end(ap);
	return cv_buf_detach(&b);
}

void cv_grow(void **items, size_t *alloc, size_t need, size_t size)
{
	size_t n;

	if (need <= *alloc)
		return;
	n = *alloc ? *alloc : 8;
	while (n < need) {
		if (n > SIZE_MAX / 2 / size)
			cv_die("array too large");
		n *= 2;
	}
	*items = cv_realloc(*items, n * size);
	*alloc = n;
}

int cv_strptr_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

char *cv_dirname(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		return cv_strdup(".");
	if (slash == path)
		return cv_strdup("/");
	return cv_strndup(path, (size_t)(slash - path));
}

/* A path's directory made absolute, then its last name; NULL when the
 * directory does not exist. */
static char *resolved(const char *path)
{
	char *dir = cv_dirname(path), *rdir = realpath(dir, NULL);
	const char *base = strrchr(path, '/');
	char *out = rdir ? cv_asprintf("%s/%s", rdir, base ? base + 1 : path)
			 : NULL;

	free(dir);
	free(rdir);
	return out;
}

bool cv_same_file(const char *a, const char *b)
{
	struct stat sa, sb;
	char *ra, *rb;
	bool same;

	if (stat(a, &sa) == 0 && stat(b, &sb) == 0)
		return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
	ra = resolved(a);
	rb = resolved(b);
	same = ra && rb && strcmp(ra, rb) == 0;
	free(ra);
	free(rb);
	return same;
}

/* Entries of up to this size are sorted in place before qsort is tried. */
#define SORT_ENTRY_MAX 128

/*
 * Long lists are mostly generated, and then mostly in order already (a
 * manifest's grants, a table read in key order): an insertion sort puts
 * the few entries out of place where they belong in one pass over the
 * list.  Once it would have moved more entries than the list holds, the
 * list is not like that, and qsort sorts the rest.  qsort promises no
 * order for entries that compare equal (glibc's happens to keep it, other
 * libcs' do not): callers that need it use cv_sort_stable.
 */
void cv_sort(void *base, size_t n, size_t size,
	     int (*cmp)(const void *, const void *))
{
	char *a = base, tmp[SORT_ENTRY_MAX];
	size_t i, j, moves = 0;

	if (n < 2)
		return;
	for (i = 1; i < n && size <= sizeof(tmp); i++) {
		if (cmp(a + (i - 1) * size, a + i * size) <= 0)
			continue;
		for (j = i - 1; j > 0 && cmp(a + (j - 1) * size, a + i * size) > 0; j--)
			;
		moves += i - j;
		if (moves > n)
			break;
		memcpy(tmp, a + i * size, size);
		memmove(a + (j + 1) * size, a + j * size, (i - j) * size);
		memcpy(a + j * size, tmp, size);
	}
	if (i < n)
		qsort(base, n, size, cmp);
}

/* Bottom-up merge; an array already in order is left as it is. */
void cv_sort_stable(void *base, size_t n, size_t size,
		    int (*cmp)(const void *, const void *))
{
	char *a = base, *tmp;
	size_t width, i;

	for (i = 1; i < n; i++)
		if (cmp(a + (i - 1) * size, a + i * size) > 0)
			break;
	if (i >= n)
		return;
	tmp = cv_malloc(n * size);
	for (width = 1; width < n; width *= 2) {
		size_t lo;

		for (lo = 0; lo < n; lo += 2 * width) {
			size_t mid = lo + width < n ? lo + width : n;
			size_t hi = lo + 2 * width < n ? lo + 2 * width : n;
			size_t l = lo, r = mid, k = lo;

			while (l < mid && r < hi) {
				if (cmp(a + r * size, a + l * size) < 0)
					memcpy(tmp + k++ * size, a + r++ * size, size);
				else
					memcpy(tmp + k++ * size, a + l++ * size, size);
			}
			memcpy(tmp + k * size, a + l * size, (mid - l) * size);
			k += mid - l;
			memcpy(tmp + k * size, a + r * size, (hi - r) * size);
		}
		memcpy(a, tmp, n * size);
	}
	free(tmp);
}

void cv_buf_init(struct cv_buf *b)
{
	b->buf = NULL;
	b->len = 0;
	b->alloc = 0;
}

void cv_buf_release(struct cv_buf *b)
{
	free(b->buf);
	cv_buf_init(b);
}

char *cv_buf_detach(struct cv_buf *b)
{
	char *s = b->buf ? b->buf : cv_strdup("");

	cv_buf_init(b);
	return s;
}

void cv_buf_reset(struct cv_buf *b)
{
	b->len = 0;
	if (b->buf)
		b->buf[0] = '\0';
}

static void buf_reserve(struct cv_buf *b, size_t extra)
{
	if (b->len + extra + 1 > b->alloc) {
		size_t n = b->alloc ? b->alloc : 64;

		while (n < b->len + extra + 1)
			n *= 2;
		b->buf = cv_realloc(b->buf, n);
		b->alloc = n;
	}
}

void cv_buf_add(struct cv_buf *b, const void *data, size_t n)
{
	buf_reserve(b, n);
	if (n)
		memcpy(b->buf + b->len, data, n);
	b->len += n;
	b->buf[b->len] = '\0';
}

void cv_buf_adds(struct cv_buf *b, const char *s)
{
	cv_buf_add(b, s, strlen(s));
}

void cv_buf_addch(struct cv_buf *b, char c)
{
	cv_buf_add(b, &c, 1);
}

void cv_buf_vaddf(struct cv_buf *b, const char *fmt, va_list ap)
{
	va_list cp;
	int n;

	buf_reserve(b, 64);
	va_copy(cp, ap);
	n = vsnprintf(b->buf + b->len, b->alloc - b->len, fmt, cp);
	va_end(cp);
	if (n < 0)
		cv_die("bad format string '%s'", fmt);
	if ((size_t)n >= b->alloc - b->len) {
		buf_reserve(b, (size_t)n);
		vsnprintf(b->buf + b->len, b->alloc - b->len, fmt, ap);
	}
	b->len += (size_t)n;
}

void cv_buf_addf(struct cv_buf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cv_buf_vaddf(b, fmt, ap);
	va_end(ap);
}

const char *cv_buf_str(const struct cv_buf *b)
{
	return b->buf ? b->buf : "";
}

/*
 * Arena blocks are chained; a request larger than a quarter of the block
 * size gets a block of its own so that big arrays do not waste the rest.
 * Blocks double from 64 KiB to 8 MiB: a small manifest stays small, and a
 * big one gets blocks large enough for huge pages (block_new).
 */
#define ARENA_BLOCK ((size_t)64 << 10)
#define ARENA_BLOCK_MAX ((size_t)8 << 20)

struct cv_arena_block {
	struct cv_arena_block *next;
	size_t mapped;   /* the block's size when mmap'd; 0: malloc'd */
	max_align_t data[];
};

/*
 * A block of at least `size` bytes, header included.  From 2 MiB on, a
 * block is its own mapping in whole huge pages, advised as such (see
 * HUGE_BLOCK): fresh from the kernel, it is already zeroed.  Built with
 * CV_ARENA_MALLOC, every block comes from malloc, where AddressSanitizer
 * watches it.
 */
static struct cv_arena_block *block_new(size_t size, bool zero)
{
	struct cv_arena_block *b;

#if defined(MAP_ANONYMOUS) && defined(MADV_HUGEPAGE) && !defined(CV_ARENA_MALLOC)
	if (size >= HUGE_PAGE) {
		size_t mapped = (size + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
		void *p;

		if (mapped < size)
			cv_die("out of memory (%zu bytes)", size);
		p = mmap(NULL, mapped, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			cv_die("out of memory (%zu bytes)", size);
		(void)madvise(p, mapped, MADV_HUGEPAGE);
		b = p;
		b->mapped = mapped;
		return b;
	}
#endif
	b = zero ? cv_calloc(1, size) : cv_malloc(size);
	b->mapped = 0;
	return b;
}

static void block_free(struct cv_arena_block *b)
{
	if (b->mapped)
		munmap(b, b->mapped);
	else
		free(b);
}

void cv_arena_init(struct cv_arena *a)
{
	a->blocks = NULL;
	a->cur = NULL;
	a->left = 0;
	a->block = 0;
}

void cv_arena_release(struct cv_arena *a)
{
	struct cv_arena_block *b = a->blocks;

	while (b) {
		struct cv_arena_block *next = b->next;

		block_free(b);
		b = next;
	}
	cv_arena_init(a);
}

#ifdef CV_ARENA_MALLOC
static void *arena_get(struct cv_arena *a, size_t n, size_t align, bool zero)
{
	struct cv_arena_block *b = block_new(sizeof(*b) + (n ? n : 1), zero);

	(void)align;
	b->next = a->blocks;
	a->blocks = b;
	return b->data;
}
#else
/*
 * Objects are aligned as malloc aligns; strings (align 1) are packed, since
 * a manifest of a million grants holds millions of short ones.
 */
static void *arena_get(struct cv_arena *a, size_t n, size_t align, bool zero)
{
	size_t pad;
	char *p;

	if (n == 0)
		n = 1;
	if (!a->block)
		a->block = ARENA_BLOCK;
	if (n > a->block / 4) {
		struct cv_arena_block *b = block_new(sizeof(*b) + n, zero);

		/* Keep the current block first: it still has room. */
		if (a->blocks) {
			b->next = a->blocks->next;
			a->blocks->next = b;
		} else {
			a->blocks = b;
		}
		return b->data;
	}
	pad = (align - ((uintptr_t)a->cur & (align - 1))) & (align - 1);
	if (!a->cur || n + pad > a->left) {
		/* The header fits inside the block's size: whole huge pages. */
		struct cv_arena_block *b = block_new(a->block, false);

		b->next = a->blocks;
		a->blocks = b;
		a->cur = (char *)b->data;
		a->left = a->block - sizeof(*b);
		if (a->block < ARENA_BLOCK_MAX)
			a->block *= 2;
		pad = 0;
	}
	p = a->cur + pad;
	a->cur += n + pad;
	a->left -= n + pad;
	if (zero)
		memset(p, 0, n);
	return p;
}
#endif

void *cv_arena_alloc(struct cv_arena *a, size_t n)
{
	return arena_get(a, n, _Alignof(max_align_t), true);
}

void *cv_arena_memdup(struct cv_arena *a, const void *p, size_t n)
{
	void *q = arena_get(a, n, _Alignof(max_align_t), false);

	if (n)
		memcpy(q, p, n);
	return q;
}

char *cv_arena_strndup(struct cv_arena *a, const char *s, size_t n)
{
	char *p = arena_get(a, n + 1, 1, false);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *cv_arena_strdup(struct cv_arena *a, const char *s)
{
	return s ? cv_arena_strndup(a, s, strlen(s)) : NULL;
}

char *cv_arena_printf(struct cv_arena *a, const char *fmt, ...)
{
	struct cv_buf b = CV_BUF_INIT;
	va_list ap;
	char *s;

	va_start(ap, fmt);
	cv_buf_vaddf(&b, fmt, ap);
	va_end(ap);
	s = cv_arena_strndup(a, cv_buf_str(&b), b.len);
	cv_buf_release(&b);
	return s;
}

bool cv_starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool cv_ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

int cv_strcmp0(const char *a, const char *b)
{
	if (!a || !b)
		return (a != NULL) - (b != NULL);
	return strcmp(a, b);
}

bool cv_streq0(const char *a, const char *b)
{
	return cv_strcmp0(a, b) == 0;
}

size_t cv_edit_distance(const char *a, const char *b)
{
	size_t n = strlen(a), m = strlen(b), i, j, d;
	size_t *row0, *row1, *row2;

	if (n > 64 || m > 64)
		return SIZE_MAX;
	row0 = cv_calloc(m + 1, sizeof(size_t));
	row1 = cv_calloc(m + 1, sizeof(size_t));
	row2 = cv_calloc(m + 1, sizeof(size_t));
	for (j = 0; j <= m; j++)
		row1[j] = j;
	for (i = 1; i <= n; i++) {
		size_t *t;

		row2[0] = i;
		for (j = 1; j <= m; j++) {
			size_t cost = a[i - 1] != b[j - 1];

			d = row1[j - 1] + cost;
			if (row1[j] + 1 < d)
				d = row1[j] + 1;
			if (row2[j - 1] + 1 < d)
				d = row2[j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
			    a[i - 2] == b[j - 1] && row0[j - 2] + 1 < d)
				d = row0[j - 2] + 1;
			row2[j] = d;
		}
		t = row0;
		row0 = row1;
		row1 = row2;
		row2 = t;
	}
	d = row1[m];
	free(row0);
	free(row1);
	free(row2);
	return d;
}

int cv_read_stream(int fd, char **out, size_t *len, size_t max)
{
	struct cv_buf b = CV_BUF_INIT;
	char chunk[65536];

	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			cv_buf_release(&b);
			return -errno;
		}
		if (n == 0)
			break;
		if (b.len + (size_t)n > max) {
			cv_buf_release(&b);
			return -EFBIG;
		}
		cv_buf_add(&b, chunk, (size_t)n);
	}
	*len = b.len;
	*out = cv_buf_detach(&b);
	return 0;
}

int cv_partial_create(const char *path, char **partial)
{
	int fd, e;

	*partial = NULL;
	if (access(path, F_OK) == 0) {
		errno = EEXIST;
		return -1;
	}
	*partial = cv_asprintf("%s.partial", path);
	fd = open(*partial, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
	if (fd >= 0 && fchmod(fd, 0600) == 0)
		return fd;
	e = errno;
	if (fd >= 0) {
		close(fd);
		unlink(*partial);
	}
	free(*partial);
	*partial = NULL;
	errno = e;
	return -1;
}

int cv_partial_publish(const char *partial, const char *path)
{
	/* link() fails rather than replace; rename() would not. */
	if (link(partial, path) == 0)
		return unlink(partial) == 0 || errno == ENOENT ? 0 : -1;
	/* A file system without hard links (FAT, some network mounts). */
	if (errno != EPERM && errno != EOPNOTSUPP && errno != ENOSYS)
		return -1;
	if (access(path, F_OK) == 0) {
		errno = EEXIST;
		return -1;
	}
	return rename(partial, path);
}

int cv_read_file(const char *path, char **out, size_t *len, size_t max)
{
	struct stat st;
	size_t size, got = 0;
	char *buf;
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	if (S_ISDIR(st.st_mode)) {
		close(fd);
		return -EISDIR;
	}
	if (!S_ISREG(st.st_mode)) {
		/* Pipes and devices: their size is known only at the end. */
		ret = cv_read_stream(fd, out, len, max);
		close(fd);
		return ret;
	}
	if ((size_t)st.st_size > max) {
		close(fd);
		return -EFBIG;
	}
	/* A regular file is read in one allocation, not grown chunk by
	 * chunk: manifests of a million grants are tens of megabytes. */
	size = (size_t)st.st_size;
	buf = cv_malloc(size + 1);
	while (got < size) {
		ssize_t n = read(fd, buf + got, size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ret = n < 0 ? -errno : -EIO;
			free(buf);
			close(fd);
			return ret;
		}
		got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	*out = buf;
	*len = got;
	return 0;
}

static double trace_clock(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Where CONVERGE_TRACE_PERFORMANCE sends its lines, or NULL: off. */
static FILE *trace_out(void)
{
	static int state = -1;	/* -1 unknown, 0 off, 1 on */
	static FILE *out;
	const char *v;

	if (state >= 0)
		return out;
	v = getenv("CONVERGE_TRACE_PERFORMANCE");
	state = 0;
	if (!v || !*v || strcmp(v, "0") == 0 || strcmp(v, "false") == 0)
		return NULL;
	if (*v == '/')
		out = fopen(v, "a");
	else if (strcmp(v, "1") == 0 || strcmp(v, "true") == 0 ||
		 strcmp(v, "2") == 0)
		out = stderr;
	state = out != NULL;
	return out;
}

void cv_trace_count(const char *what, unsigned long n)
{
	FILE *out = trace_out();

	if (!out)
		return;
	fprintf(out, "converge: performance: %-28s %9lu\n", what, n);
	fflush(out);
}

/*
 * Resident memory now and at its peak, after a phase's figure: on a
 * machine where fresh pages are slow to fault in, memory is time.
 * Linux's /proc/self/statm; elsewhere only the peak, from getrusage.
 */
static void trace_memory(FILE *out)
{
	struct rusage ru;
	unsigned long size, resident;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f && fscanf(f, "%lu %lu", &size, &resident) == 2)
		fprintf(out, "  rss %.0f MB", (double)resident *
			(double)sysconf(_SC_PAGESIZE) / 1048576.0);
	if (f)
		fclose(f);
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		fprintf(out, "  (peak %.0f MB)", (double)ru.ru_maxrss / 1024.0);
}

void cv_trace_perf(const char *phase)
{
	static bool started;
	static double start, last;
	FILE *out = trace_out();
	double now;

	if (!out)
		return;
	if (!started) {
		started = true;
		start = last = trace_clock();
	}
	now = trace_clock();
	if (!phase) {
		last = now;	/* a new lap starts; nothing is written */
		return;
	}
	fprintf(out, "converge: performance: %-28s %9.3f s  (total %.3f s)",
		phase, now - last, now - start);
	trace_memory(out);
	fputc('\n', out);
	fflush(out);
	last = now;
}
