/* selector.c - label and field selectors. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "selector.h"

struct lex {
	const char *p;
	char *err;
	size_t errlen;
};

/* Query strings arrive form-decoded, but a '+' left in place still means a space. */
static void skip_ws(struct lex *l)
{
	while (*l->p == ' ' || *l->p == '\t' || *l->p == '+')
		l->p++;
}

static bool ident_char(char c)
{
	return isalnum((unsigned char)c) || c == '-' || c == '_' || c == '.' || c == '/';
}

static char *ident(struct lex *l)
{
	const char *start;

	skip_ws(l);
	start = l->p;
	while (ident_char(*l->p))
		l->p++;
	return strndup(start, (size_t)(l->p - start));
}

static int add_val(struct sel_req *r, char *v)
{
	char **vals;

	if (!v)
		return -ENOMEM;
	vals = realloc(r->vals, sizeof(*vals) * (size_t)(r->nvals + 1));
	if (!vals) {
		free(v);
		return -ENOMEM;
	}
	r->vals = vals;
	r->vals[r->nvals++] = v;
	return 0;
}

static int fail(struct lex *l, const char *what)
{
	snprintf(l->err, l->errlen, "unable to parse requirement: %s at \"%s\"", what, l->p);
	return -EINVAL;
}

static int parse_set(struct lex *l, struct sel_req *r)
{
	skip_ws(l);
	if (*l->p != '(')
		return fail(l, "expected '('");
	l->p++;
	for (;;) {
		char *v = ident(l);
		int err = add_val(r, v);

		if (err)
			return err;
		skip_ws(l);
		if (*l->p == ',') {
			l->p++;
			continue;
		}
		if (*l->p == ')') {
			l->p++;
			return 0;
		}
		return fail(l, "expected ',' or ')'");
	}
}

static int parse_req(struct lex *l, struct sel_req *r, bool fields)
{
	skip_ws(l);
	if (!fields && *l->p == '!') {
		l->p++;
		r->op = SEL_NOTEXISTS;
		r->key = ident(l);
		return r->key && r->key[0] ? 0 : fail(l, "missing key after '!'");
	}
	r->key = ident(l);
	if (!r->key)
		return -ENOMEM;
	if (!r->key[0])
		return fail(l, "missing key");
	skip_ws(l);
	if (l->p[0] == '!' && l->p[1] == '=') {
		l->p += 2;
		r->op = SEL_NE;
	} else if (l->p[0] == '=' && l->p[1] == '=') {
		l->p += 2;
		r->op = SEL_EQ;
	} else if (l->p[0] == '=') {
		l->p++;
		r->op = SEL_EQ;
	} else if (!fields && !strncmp(l->p, "notin", 5) && !ident_char(l->p[5])) {
		l->p += 5;
		r->op = SEL_NOTIN;
		return parse_set(l, r);
	} else if (!fields && !strncmp(l->p, "in", 2) && !ident_char(l->p[2])) {
		l->p += 2;
		r->op = SEL_IN;
		return parse_set(l, r);
	} else if (!fields && (!*l->p || *l->p == ',')) {
		r->op = SEL_EXISTS;
		return 0;
	} else {
		return fail(l, fields ? "expected '=', '==' or '!='" : "expected an operator");
	}
	return add_val(r, ident(l));
}

static int parse(const char *s, bool fields, struct selector **out, char *err, size_t errlen)
{
	struct lex l = { s ? s : "", err, errlen };
	struct selector *sel = calloc(1, sizeof(*sel));
	int ret;

	if (!sel)
		return -ENOMEM;
	skip_ws(&l);
	while (*l.p) {
		struct sel_req *reqs = realloc(sel->reqs, sizeof(*reqs) * (size_t)(sel->n + 1));

		if (!reqs) {
			ret = -ENOMEM;
			goto fail;
		}
		sel->reqs = reqs;
		memset(&sel->reqs[sel->n], 0, sizeof(sel->reqs[0]));
		ret = parse_req(&l, &sel->reqs[sel->n++], fields);
		if (ret)
			goto fail;
		skip_ws(&l);
		if (*l.p == ',') {
			l.p++;
			skip_ws(&l);
			if (!*l.p) {
				ret = fail(&l, "trailing ','");
				goto fail;
			}
		} else if (*l.p) {
			ret = fail(&l, "expected ','");
			goto fail;
		}
	}
	*out = sel;
	return 0;
fail:
	selector_free(sel);
	return ret;
}

int selector_parse_labels(const char *s, struct selector **out, char *err, size_t errlen)
{
	return parse(s, false, out, err, errlen);
}

int selector_parse_fields(const char *s, struct selector **out, char *err, size_t errlen)
{
	return parse(s, true, out, err, errlen);
}

static bool in_vals(const struct sel_req *r, const char *v)
{
	for (int i = 0; i < r->nvals; i++)
		if (!strcmp(r->vals[i], v))
			return true;
	return false;
}

static bool match_one(const struct sel_req *r, const char *v)
{
	switch (r->op) {
	case SEL_EQ:
	case SEL_IN:
		return v && in_vals(r, v);
	case SEL_NE:
	case SEL_NOTIN:
		return !v || !in_vals(r, v);
	case SEL_EXISTS:
		return v != NULL;
	case SEL_NOTEXISTS:
		return v == NULL;
	}
	return false;
}

bool selector_match_labels(const struct selector *sel, const cJSON *obj)
{
	const cJSON *labels;

	if (!sel || !sel->n)
		return true;
	labels = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "labels");
	for (int i = 0; i < sel->n; i++) {
		const cJSON *l = cJSON_GetObjectItemCaseSensitive(labels, sel->reqs[i].key);

		if (!match_one(&sel->reqs[i], cJSON_IsString(l) ? l->valuestring : NULL))
			return false;
	}
	return true;
}

/* A field's value as a field selector sees it: a missing field is the empty string. */
static void field_value(const cJSON *obj, const char *path, char *buf, size_t len)
{
	char part[128];
	const char *p = path, *dot;
	const cJSON *cur = obj;

	buf[0] = '\0';
	while (cur && *p) {
		dot = strchr(p, '.');
		snprintf(part, sizeof(part), "%.*s", dot ? (int)(dot - p) : (int)strlen(p), p);
		cur = cJSON_GetObjectItemCaseSensitive(cur, part);
		p = dot ? dot + 1 : p + strlen(p);
	}
	if (cJSON_IsString(cur))
		snprintf(buf, len, "%s", cur->valuestring);
	else if (cJSON_IsBool(cur))
		snprintf(buf, len, "%s", cJSON_IsTrue(cur) ? "true" : "false");
	else if (cJSON_IsNumber(cur))
		snprintf(buf, len, "%g", cur->valuedouble);
}

bool selector_match_fields(const struct selector *sel, const cJSON *obj)
{
	char v[256];

	if (!sel)
		return true;
	for (int i = 0; i < sel->n; i++) {
		field_value(obj, sel->reqs[i].key, v, sizeof(v));
		if (!match_one(&sel->reqs[i], v))
			return false;
	}
	return true;
}

void selector_free(struct selector *sel)
{
	if (!sel)
		return;
	for (int i = 0; i < sel->n; i++) {
		free(sel->reqs[i].key);
		for (int j = 0; j < sel->reqs[i].nvals; j++)
			free(sel->reqs[i].vals[j]);
		free(sel->reqs[i].vals);
	}
	free(sel->reqs);
	free(sel);
}
