/* fuzz_prom.c - libFuzzer harness: the Prometheus parser and the engine mappings on any bytes.
 * Besides memory errors it checks what the parser promises about each accepted sample. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "inferlb.h"
#include "load/load.h"
#include "load/prom.h"

static int name_ok(const char *s, int colon_ok)
{
	if (!*s || (*s >= '0' && *s <= '9'))
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_' ||
		      (colon_ok && *s == ':')))
			return 0;
	return 1;
}

static int check_sample(const struct ilb_prom_sample *sample, void *ctx)
{
	unsigned *last_line = ctx;

	if (!name_ok(sample->name, 1) || sample->n_labels < 0 || sample->n_labels > ILB_PROM_MAX_LABELS ||
	    sample->line <= *last_line)
		abort();
	*last_line = sample->line;
	for (int i = 0; i < sample->n_labels; i++) {
		const struct ilb_prom_label *label = &sample->labels[i];

		if (!name_ok(label->name, 0) || strlen(label->value) != label->value_len)
			abort();
		for (int j = 0; j < i; j++)
			if (!strcmp(sample->labels[j].name, label->name))
				abort();
		if (ilb_prom_label(sample, label->name) != label->value)
			abort();
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* an exact-size copy, so reading one byte past the input is caught */
	char *text = malloc(size ? size : 1);
	struct ilb_prom_error err;
	unsigned last_line = 0;
	int ret;

	if (!text)
		return 0;
	memcpy(text, data, size);
	ret = ilb_prom_parse(text, size, check_sample, &last_line, &err);
	if (ret && (ret != -EINVAL || !err.msg[0] || err.line == 0))
		abort();
	for (int engine = ILB_ENGINE_VLLM; engine <= ILB_ENGINE_TRTLLM; engine++) {
		struct ilb_pod_load load = { .scraped_ns = 1 };
		char why[128];

		if (ilb_load_from_metrics(text, size, (enum ilb_engine)engine, &load, why, sizeof(why)))
			continue;
		if (ret || isnan(load.waiting) || load.waiting < 0 || load.running < 0 || !(load.kv_usage >= 0) ||
		    load.kv_usage > 1 || load.n_running_lora > ILB_MAX_LORA_NAMES ||
		    load.n_waiting_lora > ILB_MAX_LORA_NAMES || load.scraped_ns != 1)
			abort();
		if (ilb_load_score(&load, 2, 1000) > ILB_SCORE_MAX)
			abort();
	}
	free(text);
	return 0;
}
