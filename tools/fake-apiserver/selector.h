/* selector.h - label selectors (a=b, a!=b, a in (x,y), a notin (x), a, !a) and field
 * selectors (a=b, a==b, a!=b), parsed from query parameters and matched on objects. */
#ifndef FAS_SELECTOR_H
#define FAS_SELECTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <cjson/cJSON.h>

enum sel_op { SEL_EQ, SEL_NE, SEL_IN, SEL_NOTIN, SEL_EXISTS, SEL_NOTEXISTS };

struct sel_req {
	char *key;
	enum sel_op op;
	char **vals;
	int nvals;
};

struct selector {
	struct sel_req *reqs;
	int n;
};

/* Both return 0 (an empty string gives an empty selector, which matches everything) or
 * -EINVAL with the reason in err. */
int selector_parse_labels(const char *s, struct selector **out, char *err, size_t errlen);
int selector_parse_fields(const char *s, struct selector **out, char *err, size_t errlen);
bool selector_match_labels(const struct selector *sel, const cJSON *obj);
bool selector_match_fields(const struct selector *sel, const cJSON *obj);
void selector_free(struct selector *sel);

#endif
