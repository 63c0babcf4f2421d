/* fuzz_yaml.c - libFuzzer harness for the manifest path: YAML bytes to JSON documents,
 * each decoded to an object, copied, compared and put through a store. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "source/manifest.h"
#include "store/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ilb_store *store = ilb_store_new();
	char err[256];
	cJSON *docs, *doc;

	if (!store)
		return 0;
	docs = ilb_yaml_to_json((const char *)data, size, err, sizeof(err));
	cJSON_ArrayForEach(doc, docs)
	{
		struct ilb_object obj, copy;
		struct ilb_endpoint *eps;
		int n;

		if (ilb_decode(doc, &obj, err, sizeof(err)) != 0)
			continue;
		if (ilb_object_copy(&copy, &obj) == 0) {
			if (!ilb_object_equal(&copy, &obj))
				abort();
			ilb_object_free(&copy);
		}
		if (ilb_store_apply(store, &obj) == 1 && ilb_store_apply(store, &obj) != 0)
			abort(); /* applying the same object twice must be a no-op */
		if (obj.kind == ILB_KIND_POOL) {
			n = ilb_pool_endpoints(store, &obj.pool, &eps);
			if (n >= 0)
				free(eps);
		}
		ilb_object_free(&obj);
	}
	cJSON_Delete(docs);
	ilb_store_free(store);
	return 0;
}
