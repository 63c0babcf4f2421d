/* yaml2json.h - YAML streams to cJSON, resolving plain scalars the way sigs.k8s.io/yaml
 * (YAML 1.1, go-yaml v2) does, so fixtures mean what they would mean to kubectl. */
#ifndef FAS_YAML2JSON_H
#define FAS_YAML2JSON_H

#include <stddef.h>
#include <cjson/cJSON.h>

/* Returns a cJSON array with one element per non-empty document, or NULL with a
 * reason ("line N: ...") in err. Text starting with '{' or '[' is parsed as JSON. */
cJSON *yaml_to_json(const char *text, size_t len, char *err, size_t errlen);

#endif
