/* manifest_fixture.h - shared by the decoder, store and manifest tests: reading fixtures,
 * decoding one YAML document into an object, checking the decoder refuses bad ones. */
#ifndef ILB_TEST_MANIFEST_FIXTURE_H
#define ILB_TEST_MANIFEST_FIXTURE_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "source/manifest.h"
#include "store/store.h"

#define FIXTURES "tests/fixtures/manifests"

/* The whole file, NUL-terminated; NULL if it cannot be read. */
static inline char *fixture_read(const char *name, size_t *len)
{
	char path[512];
	FILE *f;
	char *text;
	long size;

	snprintf(path, sizeof(path), "%s/%s", FIXTURES, name);
	f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	rewind(f);
	text = malloc(size + 1);
	if (text && fread(text, 1, size, f) != (size_t)size) {
		free(text);
		text = NULL;
	}
	fclose(f);
	if (text) {
		text[size] = '\0';
		if (len)
			*len = size;
	}
	return text;
}

/* Decodes document INDEX of a YAML text: the decoder's result, or -EBADMSG if the YAML
 * itself is broken (reason in err either way). */
static inline int decode_yaml_doc(const char *yaml, int index, struct ilb_object *out, char *err, size_t errlen)
{
	cJSON *docs = ilb_yaml_to_json(yaml, strlen(yaml), err, errlen);
	int ret;

	memset(out, 0, sizeof(*out));
	if (!docs)
		return -EBADMSG;
	if (index >= cJSON_GetArraySize(docs)) {
		cJSON_Delete(docs);
		snprintf(err, errlen, "no document %d", index);
		return -ERANGE;
	}
	ret = ilb_decode(cJSON_GetArrayItem(docs, index), out, err, errlen);
	cJSON_Delete(docs);
	return ret;
}

/* Decodes document INDEX of a fixture file; fails the test if anything goes wrong. */
static inline void decode_fixture(const char *name, int index, struct ilb_object *out)
{
	char err[256] = "";
	char *text = fixture_read(name, NULL);
	int ret;

	if (!text)
		fail_msg("cannot read fixture %s", name);
	ret = decode_yaml_doc(text, index, out, err, sizeof(err));
	free(text);
	if (ret != 0)
		fail_msg("%s document %d: expected 0, got %d (%s)", name, index, ret, err);
}

/* A document the decoder must refuse with -EINVAL. */
struct invalid_case {
	const char *desc;
	const char *yaml;
	const char *expected; /* the error starts with this */
};

/* Decodes each case; every one not refused as expected is reported, then the test fails. */
static inline void expect_invalid_cases(const struct invalid_case *cases, size_t n)
{
	int failures = 0;

	for (size_t i = 0; i < n; i++) {
		const struct invalid_case *c = &cases[i];
		struct ilb_object obj;
		char err[256] = "";
		int ret = decode_yaml_doc(c->yaml, 0, &obj, err, sizeof(err));

		if (ret != -EINVAL || strncmp(err, c->expected, strlen(c->expected)) != 0) {
			print_error("%s: expected -EINVAL \"%s...\", got %d \"%s\"\n", c->desc, c->expected, ret, err);
			failures++;
		}
		if (ret == 0)
			ilb_object_free(&obj);
		else /* a failed decode leaves nothing to free */
			assert_int_equal(obj.kind, ILB_KIND_NONE);
	}
	assert_int_equal(failures, 0);
}

#endif
