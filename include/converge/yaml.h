/*
 * A compact YAML document tree built from libyaml's event stream.
 *
 * Scalars stay text: converge applies no implicit typing (YAML 1.2 core
 * schema would turn `on:` into a boolean; SPEC §7 says it is the key "on").
 * Callers ask for the type they expect through the cv_yaml_as_* helpers,
 * which report a located diagnostic when the text does not fit.
 *
 * Anchors and aliases: an alias is one node of its own (its key, its place
 * in its parent) that shares the anchored node's text or entries, so a
 * document never grows by expansion (no billion laughs).  An alias may
 * only name a complete node: the tree has no cycles.  Merge keys
 * (`<<: *base`, `<<: [*a, *b]`) are resolved while the tree is built:
 * the mapping gets the merged entries, explicit keys winning.
 *
 * `${NAME}` in a scalar value (not a key) is replaced by the environment
 * variable NAME when the document is loaded with CV_YAML_EXPAND_ENV; an
 * unset variable is a located error.  `$${` is a literal `${`.  NAME is
 * [A-Za-z_][A-Za-z0-9_]*.  An expanded value is never null, even empty.
 *
 * Tags: `!!str` makes a scalar text (CV_SCALAR_QUOTED); any other tag is
 * an error.  A plain empty key (`: x`) is an error; `"": x` is allowed.
 *
 * Nodes live in the tree's arena; strings live in the string arena the
 * caller passes, so the tree can be released while the strings are kept.
 */
#ifndef CONVERGE_YAML_H
#define CONVERGE_YAML_H

#include "converge/error.h"

enum cv_node_type {
	CV_NODE_SCALAR,
	CV_NODE_SEQ,
	CV_NODE_MAP,
	CV_NODE_ALIAS, /* never made by cv_yaml_parse (see CV_NODE_F_ALIAS);
			  the accessors below follow one all the same */
};

enum cv_scalar_style {
	CV_SCALAR_PLAIN,  /* unquoted: `null`, `~` and empty mean null */
	CV_SCALAR_QUOTED, /* single or double quoted, literal or folded */
};

/*
 * One node: 64 bytes, so that a large manifest stays small in memory.
 * `str` and `child` share storage, as do `len` and `count`: read `str` and
 * `len` only on scalars, `child` and `count` only on sequences and maps
 * (check `type`, or use the accessors below).
 */
struct cv_node {
	struct cv_node *next;   /* next entry of the parent sequence or map */
	union {
		struct cv_node *child; /* first entry (seq, map) or target (alias) */
		const char *str;       /* scalar text, NUL-terminated */
	};
	const char *key;        /* the key, when this is a map entry's value */
	union {
		uint32_t len;   /* scalar length in bytes */
		uint32_t count; /* number of entries (seq, map) */
	};
	uint8_t type;           /* enum cv_node_type */
	uint8_t style;          /* enum cv_scalar_style */
	uint8_t flags;          /* CV_NODE_F_* */
	struct cv_mark mark;    /* where the value starts */
	struct cv_mark key_mark;/* where the key starts (map entries) */
};

enum {
	/* The text came through `${NAME}` expansion (it is never null). */
	CV_NODE_F_EXPANDED = 1 << 0,
	/*
	 * The node stands for an alias `*name`: it has its own key, place and
	 * `next`, and shares the anchored node's text or entries (nothing is
	 * copied below it).  `mark` is where the alias is written.
	 */
	CV_NODE_F_ALIAS = 1 << 1,
	/* A map entry brought in by a merge key `<<`; marks are the source's. */
	CV_NODE_F_MERGED = 1 << 2,
	/*
	 * Not what was written, after an error the parser reported: a scalar
	 * whose `${NAME}` could not be expanded (its text is the one written,
	 * which is no value), or a sequence or mapping that lost an entry (a
	 * duplicate key, a key that is not a scalar, an alias to nothing, a
	 * bad merge).  The typed accessors refuse such a scalar without a
	 * message of their own: it is not checked any further.
	 */
	CV_NODE_F_LOST = 1 << 3,
	/*
	 * A sequence or mapping below this one lost an entry (through aliases
	 * and merge keys too): what this node defines may be incomplete.
	 */
	CV_NODE_F_LOST_BELOW = 1 << 4,
	/*
	 * A sequence whose entries went to a cv_yaml_stream as each was
	 * read: `child` and `count` hold only those that did not (from the
	 * first entry that defines an anchor on, all of them stay).
	 */
	CV_NODE_F_STREAMED = 1 << 5,
};

/*
 * Entries of one top-level sequence handed out as the parser finishes
 * each, then forgotten: a manifest of a million grants need not hold a
 * million subtrees at once.  `key` is the root mapping's key of that
 * sequence; `item` gets each entry (valid during the call only; its
 * strings stay, in the parse's arena).  An entry that defines an anchor,
 * and every one after it, is kept in the tree instead, since an alias
 * may name it later; so is every entry of a sequence that is itself
 * anchored, or of a second one under the same key (a duplicate).
 */
struct cv_yaml_stream {
	const char *key;
	void (*item)(void *arg, const struct cv_node *entry);
	void *arg;
};

struct cv_yaml_doc {
	struct cv_arena nodes;  /* the nodes; strings are elsewhere */
	struct cv_node *root;   /* NULL for an empty document */
};

enum {
	CV_YAML_EXPAND_ENV = 1 << 0,
	CV_YAML_MAX_DEPTH = 64,
};

/*
 * Parses `len` bytes of `text` (the whole content of `path`).  Strings are
 * allocated in `strings`.  Every problem is added to `diags` with its place;
 * returns 0, or CV_EINVAL when anything was reported.  A stream with more
 * than one document is an error; an empty one gives root == NULL.
 * Scalars containing NUL or control characters (other than tab, newline and
 * carriage return) are errors, as are keys that are not scalars and the
 * same key twice in one mapping.
 */
int cv_yaml_parse(struct cv_yaml_doc *out, const char *path,
		  const char *text, size_t len, unsigned flags,
		  struct cv_arena *strings, struct cv_diags *diags);
/* The same, with the entries of one sequence streamed (NULL: none). */
int cv_yaml_parse_stream(struct cv_yaml_doc *out, const char *path,
			 const char *text, size_t len, unsigned flags,
			 struct cv_arena *strings, struct cv_diags *diags,
			 const struct cv_yaml_stream *stream);
void cv_yaml_release(struct cv_yaml_doc *doc);

/* Follows CV_NODE_ALIAS nodes (the parser makes none); NULL stays NULL. */
const struct cv_node *cv_yaml_deref(const struct cv_node *n);
/* First entry of a seq or map (dereferenced), and the next one. */
const struct cv_node *cv_yaml_first(const struct cv_node *n);
const struct cv_node *cv_yaml_next(const struct cv_node *n);
#define cv_yaml_each(var, parent) \
	for (const struct cv_node *var = cv_yaml_first(parent); var; \
	     var = cv_yaml_next(var))
/* The value of `key` in map `n` (dereferenced), or NULL. */
const struct cv_node *cv_yaml_get(const struct cv_node *n, const char *key);

/* "a string", "a list", "a mapping" or "null", for messages. */
const char *cv_yaml_type_name(const struct cv_node *n);
/* A plain "", "~", "null", "Null" or "NULL" (not expanded); and NULL. */
bool cv_yaml_is_null(const struct cv_node *n);

/*
 * Typed access with located errors.  Each returns 0 when the node has the
 * type, else adds "expected X for 'key', got Y" to diags and returns
 * CV_EINVAL (without a message for a CV_NODE_F_LOST scalar, which the
 * parser reported).  `what` names the thing in the message (usually the key); it
 * is quoted unless it is a phrase with a space ("the manifest").
 * A null (plain empty, `~`, `null`) is not a string; booleans and integers
 * must be plain (unquoted) scalars.
 */
int cv_yaml_as_string(const struct cv_node *n, const char *what,
		      struct cv_diags *diags, const char **out);
/* true/false only: yes/no/on/off are errors (SPEC §7). */
int cv_yaml_as_bool(const struct cv_node *n, const char *what,
		    struct cv_diags *diags, bool *out);
int cv_yaml_as_int(const struct cv_node *n, const char *what,
		   struct cv_diags *diags, long long *out);
int cv_yaml_expect(const struct cv_node *n, enum cv_node_type type,
		   const char *what, struct cv_diags *diags);

/*
 * Checks that every key of map `n` is one of `known` (NULL-terminated);
 * an unknown key is an error with "did you mean" when one is close.
 * Returns the number of unknown keys.
 */
size_t cv_yaml_check_keys(const struct cv_node *n, const char *const *known,
			  const char *where, struct cv_diags *diags);
/*
 * The closest of `known` to `word` when close enough to suggest, or NULL.
 * Close enough: an edit distance (cv_edit_distance) of at most a third of
 * the shorter word's length, at least 1, and less than that length (so
 * "x" never suggests "a").  Ties go to the first in `known`.
 */
const char *cv_suggest(const char *word, const char *const *known);

#endif
