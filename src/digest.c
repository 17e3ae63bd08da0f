/*
 * SHA-256 fingerprints through OpenSSL's EVP (kind.h).
 *
 * Kinds feed millions of short strings; they are gathered in a buffer and
 * handed to EVP in large chunks, because each EVP_DigestUpdate call costs
 * more than hashing a short string.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "converge/kind.h"

#define DIGEST_CHUNK (16 * 1024)

struct cv_digest {
	EVP_MD_CTX *md;
	size_t len;
	unsigned char buf[DIGEST_CHUNK];
};

/*
 * The algorithm is fetched once: EVP_sha256() makes every init look it up
 * in the provider again, which costs more than hashing a revision file
 * (OpenSSL 3's "explicit fetching" advice).  Never freed: it lives as long
 * as the process.
 */
static EVP_MD *sha256(void)
{
	static EVP_MD *md;

	if (!md && OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG, NULL))
		md = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (!md)
		cv_die("cannot initialise SHA-256");
	return md;
}

struct cv_digest *cv_digest_new(void)
{
	struct cv_digest *d = cv_malloc(sizeof(*d));

	d->md = EVP_MD_CTX_new();
	if (!d->md || !EVP_DigestInit_ex(d->md, sha256(), NULL))
		cv_die("cannot initialise SHA-256");
	d->len = 0;
	return d;
}

static void flush(struct cv_digest *d)
{
	if (d->len && !EVP_DigestUpdate(d->md, d->buf, d->len))
		cv_die("SHA-256 update failed");
	d->len = 0;
}

void cv_digest_add(struct cv_digest *d, const void *data, size_t n)
{
	if (n >= DIGEST_CHUNK) {
		flush(d);
		if (!EVP_DigestUpdate(d->md, data, n))
			cv_die("SHA-256 update failed");
		return;
	}
	if (d->len + n > DIGEST_CHUNK)
		flush(d);
	memcpy(d->buf + d->len, data, n);
	d->len += n;
}

void cv_digest_str(struct cv_digest *d, const char *s)
{
	char head[CV_CANON_HEAD];
	const char *h;
	size_t n, len;

	if (!s) {
		cv_digest_add(d, "~", 1);
		return;
	}
	len = strlen(s);
	h = cv_canon_head(head, len, &n);
	cv_digest_add(d, h, n);
	cv_digest_add(d, s, len);
}

static const char *hex(const unsigned char *md, unsigned n,
		       struct cv_arena *arena)
{
	static const char digits[] = "0123456789abcdef";
	char *out = cv_arena_alloc(arena, 7 + 2 * n + 1);
	unsigned i;

	memcpy(out, "sha256:", 7);
	for (i = 0; i < n; i++) {
		out[7 + 2 * i] = digits[md[i] >> 4];
		out[7 + 2 * i + 1] = digits[md[i] & 15];
	}
	out[7 + 2 * n] = '\0';
	return out;
}

const char *cv_digest_finish(struct cv_digest *d, struct cv_arena *arena)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned n = 0;
	const char *out;

	flush(d);
	if (!EVP_DigestFinal_ex(d->md, md, &n))
		cv_die("SHA-256 final failed");
	EVP_MD_CTX_free(d->md);
	free(d);
	out = hex(md, n, arena);
	return out;
}

/*
 * One context, kept for the process: a new one per call costs ten times
 * the hash of a revision file (EVP_MD_CTX_new and the provider's context),
 * and a plan checksums every revision it runs.
 */
const char *cv_sha256_hex(const void *data, size_t n, struct cv_arena *arena)
{
	static EVP_MD_CTX *ctx;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned len = 0;

	if (!ctx && !(ctx = EVP_MD_CTX_new()))
		cv_die("cannot initialise SHA-256");
	if (!EVP_DigestInit_ex(ctx, sha256(), NULL) ||
	    !EVP_DigestUpdate(ctx, data, n) ||
	    !EVP_DigestFinal_ex(ctx, md, &len))
		cv_die("SHA-256 failed");
	return hex(md, len, arena);
}
