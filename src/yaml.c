/*
 * The YAML tree (yaml.h): libyaml's event stream in, a compact tree out.
 *
 * The builder keeps an explicit stack of open collections instead of
 * recursing, so its cost is one small step per event whatever the shape of
 * the document; nesting is capped at CV_YAML_MAX_DEPTH.  Nodes come from
 * the tree's arena and text from the caller's string arena; keys are
 * interned, so that the thousand `subject:` keys of a grants list share one
 * string and duplicate keys are found by comparing pointers.
 *
 * Anchors and aliases: an alias becomes one node of its own (its own key,
 * place and `next`) that shares the anchored node's text or entry list.
 * Nothing below it is copied, so a "billion laughs" document costs one node
 * per alias written.  An alias may only name a node that is complete, so
 * the tree never has a cycle.
 */
#include <limits.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include <yaml.h>

#include "converge/yaml.h"

_Static_assert(sizeof(struct cv_node) <= 64, "struct cv_node must stay small");

#define TAG_STR "tag:yaml.org,2002:str"
#define TAG_PREFIX "tag:yaml.org,2002:"

/* Maps at most this long are searched for duplicate keys by walking them. */
#define SMALL_MAP 8

/* An open sequence or mapping: where its next entry goes. */
struct frame {
	struct cv_node *node;
	struct cv_node *tail;
	size_t anchor;           /* index + 1 in the anchor table, 0 for none */

	/* Mappings: the key waiting for its value. */
	bool have_key;           /* a key was read; the value comes next */
	bool merge;              /* ... and it is the merge key `<<` */
	const char *key;         /* interned; NULL when the key was refused */
	struct cv_mark key_mark;
	bool has_merge;          /* a `<<` was seen in this mapping */
	struct cv_mark merge_mark;

	/* The mappings `<<` merges in, applied when the mapping ends. */
	struct cv_node **merges;
	size_t nmerges, merges_alloc;

	/*
	 * Entries by key pointer once the mapping outgrows SMALL_MAP; an
	 * open-addressing table of set_cap slots (0: not in use).  The storage
	 * stays with the frame for the next mapping at this depth.
	 */
	struct cv_node **set;
	size_t set_cap, set_alloc;

	/* Sequences whose entries are streamed (cv_yaml_stream): where the
	 * node pool stood when the entry being read began, to give its
	 * nodes back once it is handed out, and the anchors known then. */
	bool streaming;
	char *item_cur;
	size_t item_left;
	size_t item_anchors;
};

struct intern_slot {
	const char *s;
	uint32_t len;
	uint32_t hash;
};

struct anchor {
	const char *name;        /* in st->tmp */
	struct cv_node *node;
	bool done;               /* false while the node is being built */
};

/*
 * Carves nodes (or strings) out of big arena allocations.  A large chunk
 * comes straight from the system already zeroed, so a node costs neither
 * a call nor a memset, and strings need no alignment padding.  Chunks
 * grow from 4 KiB so that a small manifest stays small.  Built with
 * CV_ARENA_MALLOC, every object is an allocation of its own for ASan.
 */
struct pool {
	char *cur;
	size_t left;
	size_t chunk;
};

#define POOL_FIRST ((size_t)4 << 10)
#define POOL_MAX ((size_t)8 << 20)
/* Room for the arena's block header: a chunk and its header fill whole
 * huge pages (cv_malloc). */
#define POOL_SLACK 64

struct state {
	struct cv_yaml_doc *doc;
	struct pool node_pool;
	struct pool str_pool;
	struct cv_arena *strings;
	struct cv_diags *diags;
	const char *path;
	const char *text;
	size_t len;
	unsigned flags;
	int docs;
	const struct cv_yaml_stream *stream;
	const char *stream_key;     /* interned */
	struct cv_mark end;         /* the end of the last line, once known */

	size_t sp, frames_used;

	struct intern_slot *keys;   /* interned keys */
	size_t keys_cap, keys_nr;

	struct anchor *anchors;
	size_t anchors_nr, anchors_alloc;
	uint32_t *anchor_index;     /* open addressing: anchor index + 1 */
	size_t anchor_cap;

	struct cv_arena tmp;        /* anchor names */
	struct cv_buf buf;          /* scratch: expansions, messages */

	/*
	 * Last, and left out of the state's zeroing: each frame is zeroed
	 * on first use (up to frames_used), since a small file touches a few
	 * and 200 revision files should not clear 64 frames each.
	 */
	struct frame frames[CV_YAML_MAX_DEPTH];
};

static struct cv_mark mark_of(const struct state *st, yaml_mark_t m)
{
	struct cv_mark mark;

	mark.file = st->path;
	mark.line = (unsigned)m.line + 1;
	mark.col = (unsigned)m.column + 1;
	return mark;
}

static void clamp_to_text(struct state *st, struct cv_mark *mark);

static void diag(struct state *st, const struct cv_mark *mark,
		 const char *fmt, ...) CV_PRINTF(3, 4);
static void diag(struct state *st, const struct cv_mark *mark,
		 const char *fmt, ...)
{
	struct cv_buf b = CV_BUF_INIT;
	struct cv_mark at = *mark;
	va_list ap;

	va_start(ap, fmt);
	cv_buf_vaddf(&b, fmt, ap);
	va_end(ap);
	/* An empty value libyaml made up at the end of the stream. */
	clamp_to_text(st, &at);
	cv_diag_error(st->diags, &at, "%s", cv_buf_str(&b));
	cv_buf_release(&b);
}

/* A collection that lost an entry, or holds one that did. */
static bool lost_entries(const struct cv_node *n)
{
	return n->type != CV_NODE_SCALAR &&
	       (n->flags & (CV_NODE_F_LOST | CV_NODE_F_LOST_BELOW));
}

/* Tells the `depth` outermost open collections that one below lost an
 * entry. */
static void lost_below(struct state *st, size_t depth)
{
	size_t i;

	for (i = 0; i < depth; i++)
		st->frames[i].node->flags |= CV_NODE_F_LOST_BELOW;
}

/* The innermost open collection lost an entry after a reported error. */
static void lose_entry(struct state *st)
{
	if (!st->sp)
		return;
	st->frames[st->sp - 1].node->flags |= CV_NODE_F_LOST;
	lost_below(st, st->sp - 1);
}

/* `n` zeroed bytes aligned to `align` (a power of two, at most 16). */
static void *pool_alloc(struct pool *p, struct cv_arena *a, size_t n,
			size_t align)
{
#ifdef CV_ARENA_MALLOC
	(void)p;
	(void)align;
	return cv_arena_alloc(a, n);
#else
	size_t pad = (size_t)(-(uintptr_t)p->cur) & (align - 1);
	void *r;

	if (n + pad > p->left) {
		if (!p->chunk)
			p->chunk = POOL_FIRST;
		if (n > p->chunk / 4)
			return cv_arena_alloc(a, n);
		p->cur = cv_arena_alloc(a, p->chunk - POOL_SLACK);
		p->left = p->chunk - POOL_SLACK;
		if (p->chunk < POOL_MAX)
			p->chunk *= 2;
		pad = 0;
	}
	r = p->cur + pad;
	p->cur += n + pad;
	p->left -= n + pad;
	return r;
#endif
}

static char *pool_strndup(struct state *st, const char *s, size_t n)
{
	char *r = pool_alloc(&st->str_pool, st->strings, n + 1, 1);

	memcpy(r, s, n);
	r[n] = '\0';
	return r;
}

static struct cv_node *alloc_node(struct state *st)
{
	return pool_alloc(&st->node_pool, &st->doc->nodes,
			  sizeof(struct cv_node), 16);
}

static uint32_t hash_bytes(const char *s, size_t n)
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 16777619u;
	}
	return h;
}

static size_t hash_ptr(const void *p)
{
	uint64_t x = (uint64_t)(uintptr_t)p;

	x ^= x >> 29;
	x *= 0x9e3779b97f4a7c15ull;
	return (size_t)(x >> 32);
}

/* Returns the one copy of key `s` in the string arena. */
static const char *intern(struct state *st, const char *s, size_t n)
{
	uint32_t h = hash_bytes(s, n);
	size_t i, mask;
	char *copy;

	if (2 * (st->keys_nr + 1) > st->keys_cap) {
		size_t cap = st->keys_cap ? 2 * st->keys_cap : 32;
		struct intern_slot *slots = cv_calloc(cap, sizeof(*slots));

		for (i = 0; i < st->keys_cap; i++) {
			const struct intern_slot *o = &st->keys[i];
			size_t j;

			if (!o->s)
				continue;
			for (j = o->hash & (cap - 1); slots[j].s; j = (j + 1) & (cap - 1))
				;
			slots[j] = *o;
		}
		free(st->keys);
		st->keys = slots;
		st->keys_cap = cap;
	}
	mask = st->keys_cap - 1;
	for (i = h & mask; st->keys[i].s; i = (i + 1) & mask) {
		const struct intern_slot *k = &st->keys[i];

		if (k->hash == h && k->len == n && memcmp(k->s, s, n) == 0)
			return k->s;
	}
	copy = pool_strndup(st, s, n);
	st->keys[i].s = copy;
	st->keys[i].len = (uint32_t)n;
	st->keys[i].hash = h;
	st->keys_nr++;
	return copy;
}

static struct anchor *find_anchor(const struct state *st, const char *name)
{
	size_t i, mask;

	if (!st->anchor_cap)
		return NULL;
	mask = st->anchor_cap - 1;
	for (i = hash_bytes(name, strlen(name)) & mask; st->anchor_index[i];
	     i = (i + 1) & mask) {
		struct anchor *a = &st->anchors[st->anchor_index[i] - 1];

		if (strcmp(a->name, name) == 0)
			return a;
	}
	return NULL;
}

/*
 * Registers `name` for `node`; a later anchor of the same name replaces
 * the earlier one for the aliases that follow it, as YAML says.  Returns
 * the anchor's index + 1.
 */
static size_t add_anchor(struct state *st, const char *name,
			 struct cv_node *node, bool done)
{
	struct anchor *a = find_anchor(st, name);
	size_t i, mask;

	if (a) {
		a->node = node;
		a->done = done;
		return (size_t)(a - st->anchors) + 1;
	}
	if (2 * (st->anchors_nr + 1) > st->anchor_cap) {
		size_t cap = st->anchor_cap ? 2 * st->anchor_cap : 64;

		free(st->anchor_index);
		st->anchor_index = cv_calloc(cap, sizeof(*st->anchor_index));
		st->anchor_cap = cap;
		for (i = 0; i < st->anchors_nr; i++) {
			const char *n = st->anchors[i].name;
			size_t j = hash_bytes(n, strlen(n)) & (cap - 1);

			while (st->anchor_index[j])
				j = (j + 1) & (cap - 1);
			st->anchor_index[j] = (uint32_t)i + 1;
		}
	}
	CV_GROW(st->anchors, st->anchors_nr + 1, st->anchors_alloc);
	a = &st->anchors[st->anchors_nr++];
	a->name = cv_arena_strdup(&st->tmp, name);
	a->node = node;
	a->done = done;
	mask = st->anchor_cap - 1;
	for (i = hash_bytes(name, strlen(name)) & mask; st->anchor_index[i];
	     i = (i + 1) & mask)
		;
	st->anchor_index[i] = (uint32_t)st->anchors_nr;
	return st->anchors_nr;
}

static struct cv_node *new_node(struct state *st, enum cv_node_type type,
				const struct cv_mark *mark)
{
	struct cv_node *n = alloc_node(st);

	n->type = (uint8_t)type;
	n->mark = *mark;
	return n;
}

/* The entry of the mapping open in `f` whose key is `key`, or NULL. */
static struct cv_node *find_entry(const struct frame *f, const char *key)
{
	const struct cv_node *e;

	if (f->set_cap) {
		size_t mask = f->set_cap - 1, i;

		for (i = hash_ptr(key) & mask; f->set[i]; i = (i + 1) & mask)
			if (f->set[i]->key == key)
				return f->set[i];
		return NULL;
	}
	for (e = f->node->child; e; e = e->next)
		if (e->key == key)
			return (struct cv_node *)e;
	return NULL;
}

static void set_insert(struct frame *f, struct cv_node *n)
{
	size_t mask = f->set_cap - 1, i;

	for (i = hash_ptr(n->key) & mask; f->set[i]; i = (i + 1) & mask)
		;
	f->set[i] = n;
}

/* Sizes the key table for `need` entries and fills it from the mapping. */
static void set_rebuild(struct frame *f, size_t need)
{
	struct cv_node *e;
	size_t cap = 32;

	while (cap < 2 * need)
		cap *= 2;
	CV_GROW(f->set, cap, f->set_alloc);
	memset(f->set, 0, cap * sizeof(*f->set));
	f->set_cap = cap;
	for (e = f->node->child; e; e = e->next)
		set_insert(f, e);
}

/* Appends `n` to the collection open in `f`. */
static void link_entry(struct frame *f, struct cv_node *n)
{
	struct cv_node *parent = f->node;

	if (f->tail)
		f->tail->next = n;
	else
		parent->child = n;
	f->tail = n;
	parent->count++;
	if (parent->type != CV_NODE_MAP)
		return;
	if (f->set_cap && 2 * parent->count <= f->set_cap)
		set_insert(f, n);
	else if (f->set_cap || parent->count > SMALL_MAP)
		set_rebuild(f, parent->count);
}

static const char *type_name(const struct cv_node *n)
{
	return cv_yaml_type_name(n);
}

/*
 * Checks scalar text for control characters: C0 (but tab, newline and
 * carriage return), DEL and C1.  libyaml refuses them as raw input but
 * lets escapes such as "\0" or "\x01" through.  Returns the code point of
 * the first one, or -1.
 */
static long find_control(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = p[i];

		if (c >= 0x20 && c != 0x7f && c != 0xc2)
			continue;
		if (c == '\t' || c == '\n' || c == '\r')
			continue;
		if (c == 0xc2) {
			if (i + 1 < n && p[i + 1] >= 0x80 && p[i + 1] <= 0x9f)
				return p[i + 1];
			continue;
		}
		return c;
	}
	return -1;
}

static bool is_name_start(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static bool is_name_char(char c)
{
	return is_name_start(c) || (c >= '0' && c <= '9');
}

/*
 * Expands `${NAME}` in s[0..n) into st->buf; `$${` stands for a literal
 * `${`.  Every problem is reported at `mark` (the scalar's start: inside a
 * quoted or folded scalar, text offsets do not map back to columns).
 * Returns 0 or CV_EINVAL.
 */
static int expand_env(struct state *st, const char *s, size_t n,
		      const struct cv_mark *mark)
{
	struct cv_buf name = CV_BUF_INIT;
	size_t i = 0;
	int ret = 0;

	cv_buf_reset(&st->buf);
	while (i < n) {
		const char *close, *value;
		size_t j;

		if (s[i] != '$') {
			const char *dollar = memchr(s + i, '$', n - i);
			size_t run = dollar ? (size_t)(dollar - (s + i)) : n - i;

			cv_buf_add(&st->buf, s + i, run);
			i += run;
			continue;
		}
		if (i + 2 < n && s[i + 1] == '$' && s[i + 2] == '{') {
			cv_buf_adds(&st->buf, "${");
			i += 3;
			continue;
		}
		if (i + 1 >= n || s[i + 1] != '{') {
			cv_buf_addch(&st->buf, '$');
			i++;
			continue;
		}
		close = memchr(s + i + 2, '}', n - i - 2);
		if (!close) {
			diag(st, mark, "unterminated '${' in '%s' (expected '}')",
			     cv_shorten(s));
			ret = CV_EINVAL;
			break;
		}
		cv_buf_reset(&name);
		cv_buf_add(&name, s + i + 2, (size_t)(close - (s + i + 2)));
		i = (size_t)(close - s) + 1;
		for (j = 0; j < name.len; j++)
			if (!(j ? is_name_char : is_name_start)(name.buf[j]))
				break;
		if (!name.len || j < name.len) {
			diag(st, mark,
			     "invalid environment variable name '%s' (expected letters, digits and '_', not starting with a digit)",
			     cv_shorten(cv_buf_str(&name)));
			ret = CV_EINVAL;
			continue;
		}
		value = getenv(name.buf);
		if (!value) {
			diag(st, mark, "environment variable '%s' is not set",
			     cv_shorten(name.buf));
			ret = CV_EINVAL;
			continue;
		}
		cv_buf_adds(&st->buf, value);
	}
	cv_buf_release(&name);
	return ret;
}

/*
 * A scalar in key position.  A plain empty key is refused (`: x` is
 * almost always a mistake); `"": x` is the empty string.  The plain key
 * `<<` is the merge key.
 */
static void take_key(struct state *st, struct frame *f, const char *s,
		     size_t n, bool plain, const struct cv_mark *mark)
{
	f->have_key = true;
	f->merge = false;
	f->key = NULL;
	f->key_mark = *mark;
	if (plain && n == 0) {
		diag(st, mark, "empty mapping key (write \"\" for an empty string)");
		lose_entry(st);
		return;
	}
	if (plain && n == 2 && s[0] == '<' && s[1] == '<') {
		if (f->has_merge) {
			diag(st, mark, "duplicate key '<<' (first defined at %s:%u:%u)",
			     f->merge_mark.file, f->merge_mark.line,
			     f->merge_mark.col);
			lose_entry(st);
			return;
		}
		f->has_merge = true;
		f->merge_mark = *mark;
		f->merge = true;
		f->key = "<<";
		return;
	}
	f->key = intern(st, s, n);
}

/* The value of a merge key: a mapping, or a list of mappings. */
static void take_merge(struct state *st, struct frame *f, struct cv_node *n)
{
	struct cv_node *e;

	if (n->type == CV_NODE_MAP) {
		CV_GROW(f->merges, f->nmerges + 1, f->merges_alloc);
		f->merges[f->nmerges++] = n;
		return;
	}
	if (n->type != CV_NODE_SEQ) {
		diag(st, &n->mark,
		     "merge key '<<' expects a mapping or a list of mappings, got %s",
		     type_name(n));
		lose_entry(st);
		return;
	}
	for (e = n->child; e; e = e->next) {
		if (e->type != CV_NODE_MAP) {
			diag(st, &e->mark,
			     "merge key '<<' expects a mapping or a list of mappings, got %s in the list",
			     type_name(e));
			lose_entry(st);
			continue;
		}
		CV_GROW(f->merges, f->nmerges + 1, f->merges_alloc);
		f->merges[f->nmerges++] = e;
	}
}

/*
 * Adds the merged entries when a mapping ends: every key of every merged
 * mapping that the mapping does not define itself.  The explicit keys are
 * all known by now, and the earlier mappings of a `<<` list are taken
 * first, so they win over later ones (YAML's merge key type).
 */
static void apply_merges(struct state *st, struct frame *f)
{
	size_t i;

	for (i = 0; i < f->nmerges; i++) {
		const struct cv_node *e;

		for (e = f->merges[i]->child; e; e = e->next) {
			struct cv_node *copy;

			if (find_entry(f, e->key))
				continue;
			copy = alloc_node(st);
			*copy = *e;
			copy->next = NULL;
			copy->flags |= CV_NODE_F_MERGED;
			link_entry(f, copy);
		}
	}
	f->nmerges = 0;
}

/*
 * Hands entry n of the streamed sequence open in f to the stream, and
 * gives its nodes back to the pool (zeroed again, as the pool gives them
 * out) when nothing else took nodes from it meanwhile.  An entry that
 * defined an anchor is kept, and so is every later one.
 */
static bool stream_entry(struct state *st, struct frame *f, struct cv_node *n)
{
	struct pool *p = &st->node_pool;

	if (st->anchors_nr != f->item_anchors) {
		f->streaming = false;
		return false;
	}
	st->stream->item(st->stream->arg, n);
	f->node->flags |= CV_NODE_F_STREAMED;
	if (p->cur && f->item_cur && p->cur >= f->item_cur &&
	    (size_t)(p->cur - f->item_cur) == f->item_left - p->left) {
		memset(f->item_cur, 0, (size_t)(p->cur - f->item_cur));
		p->cur = f->item_cur;
		p->left = f->item_left;
	} else {
		f->item_cur = p->cur;
		f->item_left = p->left;
	}
	return true;
}

/* Puts a finished node where it belongs: root, list entry, key or value. */
static void attach(struct state *st, struct cv_node *n)
{
	struct frame *f;
	struct cv_node *first;

	if (!st->sp) {
		/* A document of nothing but `---` is as empty as no document. */
		if (n->type == CV_NODE_SCALAR && n->style == CV_SCALAR_PLAIN &&
		    !n->len && !(n->flags & CV_NODE_F_ALIAS))
			return;
		st->doc->root = n;
		return;
	}
	f = &st->frames[st->sp - 1];
	if (f->node->type == CV_NODE_SEQ) {
		if (!f->streaming || !stream_entry(st, f, n))
			link_entry(f, n);
		return;
	}
	if (!f->have_key) {
		/* Only aliases and collections get here: scalar keys do not. */
		if (n->type == CV_NODE_SCALAR) {
			take_key(st, f, n->str, n->len,
				 n->style == CV_SCALAR_PLAIN, &n->mark);
			return;
		}
		diag(st, &n->mark, "mapping keys must be scalars, got %s",
		     type_name(n));
		lose_entry(st);
		f->have_key = true;
		f->merge = false;
		f->key = NULL;
		return;
	}
	f->have_key = false;
	if (!f->key)
		return; /* the key was refused, reported and lost */
	if (f->merge) {
		take_merge(st, f, n);
		return;
	}
	first = find_entry(f, f->key);
	if (first) {
		diag(st, &f->key_mark, "duplicate key '%s' (first defined at %s:%u:%u)",
		     cv_shorten(f->key), first->key_mark.file,
		     first->key_mark.line, first->key_mark.col);
		lose_entry(st);
		return;
	}
	n->key = f->key;
	n->key_mark = f->key_mark;
	link_entry(f, n);
}

/*
 * Takes the place of a node that could not be made (an undefined alias),
 * so that the mapping around it keeps its keys and values paired without
 * a second error about the same place.
 */
static void skip_value(struct state *st)
{
	struct frame *f = st->sp ? &st->frames[st->sp - 1] : NULL;

	if (!f || f->node->type != CV_NODE_MAP)
		return;
	if (f->have_key) {
		f->have_key = false;
	} else {
		f->have_key = true;
		f->merge = false;
		f->key = NULL;
	}
}

static const char *tag_name(const char *tag)
{
	static char buf[80];

	if (cv_starts_with(tag, TAG_PREFIX)) {
		snprintf(buf, sizeof(buf), "!!%s", tag + strlen(TAG_PREFIX));
		return cv_shorten(buf);
	}
	return cv_shorten(tag);
}

static int on_scalar(struct state *st, const yaml_event_t *ev)
{
	const char *s = (const char *)ev->data.scalar.value;
	const char *tag = (const char *)ev->data.scalar.tag;
	const char *anchor = (const char *)ev->data.scalar.anchor;
	size_t n = ev->data.scalar.length;
	struct cv_mark mark = mark_of(st, ev->start_mark);
	struct frame *f = st->sp ? &st->frames[st->sp - 1] : NULL;
	bool plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
	struct cv_node *node;
	long ctl;
	uint8_t flags = 0;

	if (n > UINT32_MAX) {
		diag(st, &mark, "string too long (%zu bytes)", n);
		return -1;
	}
	if (tag) {
		if (strcmp(tag, TAG_STR) == 0)
			plain = false;
		else
			diag(st, &mark, "tags are not supported (found '%s')",
			     tag_name(tag));
	}
	ctl = find_control(s, n);
	if (ctl >= 0)
		diag(st, &mark, "control character in string (U+%04lX)",
		     (unsigned long)ctl);

	if (f && f->node->type == CV_NODE_MAP && !f->have_key) {
		take_key(st, f, s, n, plain, &mark);
		if (anchor && f->key) {
			/* Kept only for the aliases that name it. */
			node = new_node(st, CV_NODE_SCALAR, &mark);
			node->style = plain ? CV_SCALAR_PLAIN : CV_SCALAR_QUOTED;
			node->str = f->key;
			node->len = (uint32_t)n;
			add_anchor(st, anchor, node, true);
		}
		return 0;
	}

	if ((st->flags & CV_YAML_EXPAND_ENV) && ctl < 0 && memchr(s, '$', n)) {
		if (expand_env(st, s, n, &mark)) {
			/* Reported: the text written stays, and is no value. */
			flags |= CV_NODE_F_LOST;
		} else if (st->buf.len != n || memcmp(st->buf.buf, s, n) != 0) {
			s = cv_buf_str(&st->buf);
			n = st->buf.len;
			flags |= CV_NODE_F_EXPANDED;
			ctl = find_control(s, n);
			if (ctl >= 0)
				diag(st, &mark, "control character in string (U+%04lX, from the environment)",
				     (unsigned long)ctl);
			if (n > UINT32_MAX) {
				diag(st, &mark, "string too long (%zu bytes)", n);
				return -1;
			}
		}
	}
	node = new_node(st, CV_NODE_SCALAR, &mark);
	node->style = plain ? CV_SCALAR_PLAIN : CV_SCALAR_QUOTED;
	node->flags = flags;
	node->str = pool_strndup(st, s, n);
	node->len = (uint32_t)n;
	if (anchor)
		add_anchor(st, anchor, node, true);
	attach(st, node);
	return 0;
}

static int on_alias(struct state *st, const yaml_event_t *ev)
{
	const char *name = (const char *)ev->data.alias.anchor;
	struct cv_mark mark = mark_of(st, ev->start_mark);
	const struct anchor *a = find_anchor(st, name);
	struct cv_node *node;

	if (!a || !a->done) {
		if (!a)
			diag(st, &mark, "undefined alias '%s'", cv_shorten(name));
		else
			diag(st, &mark,
			     "alias '%s' is used inside the node it names (recursive structures are not supported)",
			     cv_shorten(name));
		lose_entry(st);
		skip_value(st);
		return 0;
	}
	node = alloc_node(st);
	*node = *a->node;
	node->next = NULL;
	node->key = NULL;
	memset(&node->key_mark, 0, sizeof(node->key_mark));
	node->mark = mark;
	node->flags |= CV_NODE_F_ALIAS;
	if (lost_entries(node))
		lost_below(st, st->sp);
	attach(st, node);
	return 0;
}

static int on_start(struct state *st, const yaml_event_t *ev,
		    enum cv_node_type type)
{
	const char *anchor, *tag;
	struct cv_mark mark = mark_of(st, ev->start_mark);
	struct frame *f;

	if (type == CV_NODE_MAP) {
		anchor = (const char *)ev->data.mapping_start.anchor;
		tag = (const char *)ev->data.mapping_start.tag;
	} else {
		anchor = (const char *)ev->data.sequence_start.anchor;
		tag = (const char *)ev->data.sequence_start.tag;
	}
	if (st->sp == CV_YAML_MAX_DEPTH) {
		diag(st, &mark, "nesting too deep (more than %d levels)",
		     CV_YAML_MAX_DEPTH);
		return -1;
	}
	if (tag)
		diag(st, &mark, "tags are not supported (found '%s')",
		     tag_name(tag));
	f = &st->frames[st->sp++];
	if (st->sp > st->frames_used) {
		memset(f, 0, sizeof(*f));
		st->frames_used = st->sp;
	}
	f->node = new_node(st, type, &mark);
	f->tail = NULL;
	f->anchor = anchor ? add_anchor(st, anchor, f->node, false) : 0;
	f->have_key = false;
	f->merge = false;
	f->key = NULL;
	f->has_merge = false;
	f->nmerges = 0;
	f->set_cap = 0;
	/* The streamed sequence: the root mapping's value for the key. */
	f->streaming = type == CV_NODE_SEQ && st->stream_key && !anchor &&
		       st->sp == 2 && st->frames[0].node->type == CV_NODE_MAP &&
		       st->frames[0].have_key && !st->frames[0].merge &&
		       st->frames[0].key == st->stream_key &&
		       !find_entry(&st->frames[0], st->stream_key);
	if (f->streaming) {
		f->item_cur = st->node_pool.cur;
		f->item_left = st->node_pool.left;
		f->item_anchors = st->anchors_nr;
	}
	return 0;
}

static int on_end(struct state *st)
{
	struct frame *f = &st->frames[st->sp - 1];
	struct cv_node *node = f->node;

	if (node->type == CV_NODE_MAP && f->nmerges)
		apply_merges(st, f);
	if (f->anchor && st->anchors[f->anchor - 1].node == node)
		st->anchors[f->anchor - 1].done = true;
	st->sp--;
	attach(st, node);
	return 0;
}

/* One event; returns 0 to go on, 1 at the end of the stream, -1 to stop. */
static int on_event(struct state *st, const yaml_event_t *ev)
{
	switch (ev->type) {
	case YAML_DOCUMENT_START_EVENT:
		if (++st->docs > 1) {
			struct cv_mark mark = mark_of(st, ev->start_mark);

			diag(st, &mark,
			     "more than one document in the file (a manifest is one YAML document)");
			return -1;
		}
		return 0;
	case YAML_SCALAR_EVENT:
		return on_scalar(st, ev);
	case YAML_ALIAS_EVENT:
		return on_alias(st, ev);
	case YAML_SEQUENCE_START_EVENT:
		return on_start(st, ev, CV_NODE_SEQ);
	case YAML_MAPPING_START_EVENT:
		return on_start(st, ev, CV_NODE_MAP);
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		return on_end(st);
	case YAML_STREAM_END_EVENT:
		return 1;
	default:
		return 0;
	}
}

/*
 * The place of byte `offset` (libyaml's reader reports bytes, its scanner
 * lines and columns in characters; both become line and column here).
 */
static struct cv_mark mark_at_offset(const struct state *st, size_t offset)
{
	struct cv_mark mark = { st->path, 1, 1 };
	size_t i;

	if (offset > st->len)
		offset = st->len;
	for (i = 0; i < offset; i++) {
		unsigned char c = (unsigned char)st->text[i];

		if (c == '\n') {
			mark.line++;
			mark.col = 1;
		} else if ((c & 0xc0) != 0x80) {
			mark.col++;
		}
	}
	return mark;
}

/* The byte at 0-based line and character column, or NULL. */
static const char *char_at(const struct state *st, size_t line, size_t col)
{
	const char *p = st->text, *end = st->text + st->len;

	while (line && p < end) {
		p = memchr(p, '\n', (size_t)(end - p));
		if (!p)
			return NULL;
		p++;
		line--;
	}
	while (p < end && *p != '\n') {
		if (((unsigned char)*p & 0xc0) != 0x80 && !col--)
			return p;
		p++;
	}
	return NULL;
}

/*
 * libyaml puts an error at the end of the stream on the line after the
 * last newline, a line the file does not have: no source line nor caret
 * could be shown.  Such a mark goes to the end of the last line (found
 * once: a file of a million grants may have as many errors).
 */
static void clamp_to_text(struct state *st, struct cv_mark *mark)
{
	size_t len = st->len;

	if (!mark->line)
		return;
	if (!st->end.line) {
		if (len && st->text[len - 1] == '\n')
			len--;
		if (len && st->text[len - 1] == '\r')
			len--;
		st->end = mark_at_offset(st, len);
	}
	if (mark->line > st->end.line) {
		mark->line = st->end.line;
		mark->col = st->end.col;
	}
}

/* Whether g is not a follow-on of the syntax error *at (or is it). */
static bool not_after(const struct cv_diag *g, const void *at)
{
	const struct cv_mark *a = &g->mark, *b = at;

	return a == b || a->file != b->file || !a->line ||
	       a->line < b->line || (a->line == b->line && a->col < b->col);
}

/*
 * libyaml reads ahead: before it finds that a flow mapping is never
 * closed (`{a: 1, <<` at the end), it hands out the key's empty value,
 * which may be an error of its own (a merge key needs a mapping).  The
 * problems this parse reported from its `first` on that are not before
 * the syntax error (the last one) follow from it, and are dropped.
 */
static void drop_follow_ons(struct state *st, size_t first)
{
	struct cv_diags *d = st->diags;
	const struct cv_mark *at = &d->items[d->nr - 1].mark;

	if (at->line)	/* 0: out of memory, no place to compare with */
		cv_diags_keep(d, first, not_after, at);
}

/* Turns libyaml's error into one located diagnostic. */
static void report_parser_error(struct state *st, const yaml_parser_t *p)
{
	struct cv_buf msg = CV_BUF_INIT;
	struct cv_mark mark;
	const char *problem = p->problem ? p->problem : "invalid YAML";
	const char *at;
	yaml_mark_t where;

	switch (p->error) {
	case YAML_MEMORY_ERROR:
		mark.file = st->path;
		mark.line = mark.col = 0;
		cv_buf_adds(&msg, "out of memory while parsing YAML");
		break;
	case YAML_READER_ERROR:
		mark = mark_at_offset(st, p->problem_offset);
		cv_buf_adds(&msg, problem);
		if (p->problem_value >= 0)
			cv_buf_addf(&msg, " (0x%02x)", (unsigned)p->problem_value);
		break;
	case YAML_SCANNER_ERROR:
		/*
		 * The scanner's context is the token it was reading (a key, a
		 * quoted string) and its problem is often where it gave up: the
		 * next line, or the end of the file.  The token is what the
		 * user has to fix, so that is the place.
		 */
		where = p->context ? p->context_mark : p->problem_mark;
		mark = mark_of(st, where);
		if (p->context)
			cv_buf_addf(&msg, "%s: ", p->context);
		cv_buf_adds(&msg, problem);
		at = char_at(st, where.line, where.column);
		if (at && *at == '\t')
			cv_buf_adds(&msg, " (a tab cannot indent YAML: use spaces)");
		break;
	default:
		/*
		 * The parser's context is the enclosing collection, which may
		 * start far above; the problem is where the structure broke.
		 */
		mark = mark_of(st, p->problem_mark);
		if (p->context) {
			cv_buf_adds(&msg, p->context);
			if (p->context_mark.line != p->problem_mark.line)
				cv_buf_addf(&msg, " at line %zu, column %zu",
					    p->context_mark.line + 1,
					    p->context_mark.column + 1);
			cv_buf_adds(&msg, ": ");
		}
		cv_buf_adds(&msg, problem);
		at = char_at(st, p->problem_mark.line, p->problem_mark.column);
		if (at && *at == '\t')
			cv_buf_adds(&msg, " (a tab cannot indent YAML: use spaces)");
		break;
	}
	if (msg.buf[0] >= 'A' && msg.buf[0] <= 'Z' && msg.buf[1] >= 'a')
		msg.buf[0] = (char)(msg.buf[0] - 'A' + 'a');
	clamp_to_text(st, &mark);
	cv_diag_error(st->diags, &mark, "%s", msg.buf);
	cv_buf_release(&msg);
}

int cv_yaml_parse(struct cv_yaml_doc *out, const char *path,
		  const char *text, size_t len, unsigned flags,
		  struct cv_arena *strings, struct cv_diags *diags)
{
	return cv_yaml_parse_stream(out, path, text, len, flags, strings,
				    diags, NULL);
}

int cv_yaml_parse_stream(struct cv_yaml_doc *out, const char *path,
			 const char *text, size_t len, unsigned flags,
			 struct cv_arena *strings, struct cv_diags *diags,
			 const struct cv_yaml_stream *stream)
{
	struct state *st = NULL;
	yaml_parser_t parser;
	bool parser_ready = false;
	size_t errors = diags->errors, first = diags->nr, i;
	int ret = 0;

	cv_arena_init(&out->nodes);
	out->root = NULL;

	st = cv_malloc(sizeof(*st));
	memset(st, 0, offsetof(struct state, frames));
	st->doc = out;
	st->strings = strings;
	/*
	 * The strings outlive the parse, in the caller's arena: a small file
	 * starts with a small chunk, or 200 revision files would leave 200
	 * mostly empty 4 KiB chunks behind (a page fault each).
	 */
	st->str_pool.chunk = 256;
	while (st->str_pool.chunk < POOL_FIRST && st->str_pool.chunk < len / 4)
		st->str_pool.chunk *= 2;
	/*
	 * A UTF-8 byte order mark is not content.  libyaml would skip it
	 * only when left to guess the encoding (and UTF-8 is set, so that
	 * UTF-16 is refused); told the encoding, it reads the mark as a
	 * character in column 0 that puts the first key in column 1, and
	 * the second line's key at column 0 then ends the document.  Cut
	 * off here, it leaves libyaml's marks and ours on the same text.
	 */
	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0) {
		text += 3;
		len -= 3;
	}
	st->diags = diags;
	st->path = path;
	st->text = text;
	st->len = len;
	st->flags = flags;
	cv_arena_init(&st->tmp);
	st->stream = stream;
	if (stream)
		st->stream_key = intern(st, stream->key, strlen(stream->key));

	if (!yaml_parser_initialize(&parser)) {
		struct cv_mark mark = { path, 0, 0 };

		cv_diag_error(diags, &mark, "out of memory while parsing YAML");
		ret = CV_EINVAL;
		goto out;
	}
	parser_ready = true;
	yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);

	for (;;) {
		yaml_event_t ev;
		int r;

		if (!yaml_parser_parse(&parser, &ev)) {
			report_parser_error(st, &parser);
			drop_follow_ons(st, first);
			ret = CV_EINVAL;
			break;
		}
		r = on_event(st, &ev);
		yaml_event_delete(&ev);
		if (r < 0)
			ret = CV_EINVAL;
		if (r)
			break;
	}
	/* A tree cut short by a fatal error is not handed out. */
	if (ret)
		out->root = NULL;

out:
	if (parser_ready)
		yaml_parser_delete(&parser);
	if (st) {
		for (i = 0; i < st->frames_used; i++) {
			free(st->frames[i].merges);
			free(st->frames[i].set);
		}
		free(st->keys);
		free(st->anchors);
		free(st->anchor_index);
		cv_arena_release(&st->tmp);
		cv_buf_release(&st->buf);
		free(st);
	}
	if (diags->errors > errors)
		ret = CV_EINVAL;
	return ret;
}

void cv_yaml_release(struct cv_yaml_doc *doc)
{
	if (!doc)
		return;
	cv_arena_release(&doc->nodes);
	doc->root = NULL;
}

const struct cv_node *cv_yaml_deref(const struct cv_node *n)
{
	/* The parser makes no CV_NODE_ALIAS nodes; a hand-built tree may. */
	while (n && n->type == CV_NODE_ALIAS)
		n = n->child;
	return n;
}

const struct cv_node *cv_yaml_first(const struct cv_node *n)
{
	n = cv_yaml_deref(n);
	if (!n || (n->type != CV_NODE_SEQ && n->type != CV_NODE_MAP))
		return NULL;
	return n->child;
}

const struct cv_node *cv_yaml_next(const struct cv_node *n)
{
	return n ? n->next : NULL;
}

const struct cv_node *cv_yaml_get(const struct cv_node *n, const char *key)
{
	const struct cv_node *e;

	n = cv_yaml_deref(n);
	if (!n || n->type != CV_NODE_MAP)
		return NULL;
	for (e = n->child; e; e = e->next)
		if (strcmp(e->key, key) == 0)
			return cv_yaml_deref(e);
	return NULL;
}

bool cv_yaml_is_null(const struct cv_node *n)
{
	n = cv_yaml_deref(n);
	if (!n)
		return true;
	if (n->type != CV_NODE_SCALAR || n->style != CV_SCALAR_PLAIN ||
	    (n->flags & CV_NODE_F_EXPANDED))
		return false;
	return n->len == 0 || strcmp(n->str, "~") == 0 ||
	       strcmp(n->str, "null") == 0 || strcmp(n->str, "Null") == 0 ||
	       strcmp(n->str, "NULL") == 0;
}

const char *cv_yaml_type_name(const struct cv_node *n)
{
	n = cv_yaml_deref(n);
	if (cv_yaml_is_null(n))
		return "null";
	switch (n->type) {
	case CV_NODE_SEQ:
		return "a list";
	case CV_NODE_MAP:
		return "a mapping";
	default:
		return "a string";
	}
}

/*
 * "expected EXPECTED for 'what', got GOT": `what` is quoted when it is a
 * name (a key), and left as it is when it is a phrase ("the manifest").
 * A scalar is shown as its text, saying so when quotes made it a string.
 */
static void type_error(const struct cv_node *n, const char *expected,
		       const char *what, const char *note,
		       struct cv_diags *diags)
{
	struct cv_buf b = CV_BUF_INIT;

	/* The parser said why the text written is no value: once is enough. */
	if (n && (n->flags & CV_NODE_F_LOST) && n->type == CV_NODE_SCALAR)
		return;
	cv_buf_addf(&b, "expected %s for ", expected);
	if (strchr(what, ' '))
		cv_buf_adds(&b, what);
	else
		cv_buf_addf(&b, "'%s'", cv_shorten(what));
	cv_buf_adds(&b, ", got ");
	if (n && n->type == CV_NODE_SCALAR && !cv_yaml_is_null(n) &&
	    strcmp(expected, "a string") != 0) {
		cv_buf_addf(&b, "'%s'", cv_shorten(n->str));
		if (n->style == CV_SCALAR_QUOTED)
			cv_buf_adds(&b, " (a quoted string)");
	} else {
		cv_buf_adds(&b, cv_yaml_type_name(n));
	}
	if (note)
		cv_buf_addf(&b, " (%s)", note);
	cv_diag_error(diags, n ? &n->mark : NULL, "%s", cv_buf_str(&b));
	cv_buf_release(&b);
}

int cv_yaml_as_string(const struct cv_node *n, const char *what,
		      struct cv_diags *diags, const char **out)
{
	n = cv_yaml_deref(n);
	if (!n || n->type != CV_NODE_SCALAR || cv_yaml_is_null(n) ||
	    (n->flags & CV_NODE_F_LOST)) {
		type_error(n, "a string", what, NULL, diags);
		return CV_EINVAL;
	}
	*out = n->str;
	return 0;
}

int cv_yaml_as_bool(const struct cv_node *n, const char *what,
		    struct cv_diags *diags, bool *out)
{
	n = cv_yaml_deref(n);
	if (n && n->type == CV_NODE_SCALAR && n->style == CV_SCALAR_PLAIN) {
		if (strcmp(n->str, "true") == 0) {
			*out = true;
			return 0;
		}
		if (strcmp(n->str, "false") == 0) {
			*out = false;
			return 0;
		}
	}
	type_error(n, "true or false", what, NULL, diags);
	return CV_EINVAL;
}

/* A plain decimal integer with an optional sign; false when out of range. */
static bool parse_int(const char *s, bool *range, long long *out)
{
	unsigned long long v = 0, limit = LLONG_MAX;
	bool neg = false;

	*range = true;
	if (*s == '+' || *s == '-')
		neg = *s++ == '-';
	if (neg)
		limit = (unsigned long long)LLONG_MAX + 1;
	if (!*s)
		return false;
	for (; *s; s++) {
		unsigned d;

		if (*s < '0' || *s > '9')
			return false;
		d = (unsigned)(*s - '0');
		if (v > (limit - d) / 10) {
			*range = false;
			return false;
		}
		v = v * 10 + d;
	}
	if (neg)
		*out = v == (unsigned long long)LLONG_MAX + 1 ? LLONG_MIN
							      : -(long long)v;
	else
		*out = (long long)v;
	return true;
}

int cv_yaml_as_int(const struct cv_node *n, const char *what,
		   struct cv_diags *diags, long long *out)
{
	bool in_range = true;

	n = cv_yaml_deref(n);
	if (n && n->type == CV_NODE_SCALAR && n->style == CV_SCALAR_PLAIN &&
	    parse_int(n->str, &in_range, out))
		return 0;
	type_error(n, "an integer", what, in_range ? NULL : "out of range",
		   diags);
	return CV_EINVAL;
}

int cv_yaml_expect(const struct cv_node *n, enum cv_node_type type,
		   const char *what, struct cv_diags *diags)
{
	static const char *const names[] = {
		[CV_NODE_SCALAR] = "a string",
		[CV_NODE_SEQ] = "a list",
		[CV_NODE_MAP] = "a mapping",
		[CV_NODE_ALIAS] = "an alias",
	};

	n = cv_yaml_deref(n);
	if (n && n->type == type)
		return 0;
	type_error(n, names[type], what, NULL, diags);
	return CV_EINVAL;
}

size_t cv_yaml_check_keys(const struct cv_node *n, const char *const *known,
			  const char *where, struct cv_diags *diags)
{
	const struct cv_node *e;
	size_t unknown = 0, i;

	n = cv_yaml_deref(n);
	if (!n || n->type != CV_NODE_MAP)
		return 0;
	for (e = n->child; e; e = e->next) {
		const char *hint;
		struct cv_buf b = CV_BUF_INIT;

		for (i = 0; known[i]; i++)
			if (strcmp(known[i], e->key) == 0)
				break;
		if (known[i])
			continue;
		unknown++;
		cv_buf_addf(&b, "unknown key '%s'", cv_shorten(e->key));
		if (where)
			cv_buf_addf(&b, " in %s", where);
		hint = cv_suggest(e->key, known);
		if (hint)
			cv_buf_addf(&b, " (did you mean '%s'?)", hint);
		cv_diag_error(diags, &e->key_mark, "%s", cv_buf_str(&b));
		cv_buf_release(&b);
	}
	return unknown;
}

const char *cv_suggest(const char *word, const char *const *known)
{
	const char *best = NULL;
	size_t best_d = SIZE_MAX, i;

	for (i = 0; known[i]; i++) {
		size_t la = strlen(word), lb = strlen(known[i]);
		size_t shorter = la < lb ? la : lb;
		size_t limit = shorter / 3 > 1 ? shorter / 3 : 1;
		size_t d = cv_edit_distance(word, known[i]);

		if (d <= limit && d < shorter && d < best_d) {
			best = known[i];
			best_d = d;
		}
	}
	return best;
}
