/* flags.h - loadgen's configuration: one struct with defaults, filled from an option
 * table that also generates --help. */
#ifndef LOADGEN_FLAGS_H
#define LOADGEN_FLAGS_H

#include <stdbool.h>
#include <stdint.h>

#define LG_MAX_MODELS 64
#define LG_MAX_HEADERS 32

enum lg_workload {
	WL_SHARED_PREFIX,
	WL_SHAREGPT_LIKE,
	WL_LONG_PROMPT,
	WL_LORA_MIX,
};

enum lg_api {
	API_CHAT,	 /* /v1/chat/completions: messages[] */
	API_COMPLETIONS, /* /v1/completions: prompt */
};

struct lg_model {
	char *name;
	double weight;
};

struct lg_config {
	/* target */
	char *url;
	char *host_hdr;
	char *netns;
	char *headers[LG_MAX_HEADERS];
	int n_headers;
	/* parsed from url */
	char *addr; /* host part of the URL */
	char *port;
	char *path;
	enum lg_api api;

	/* load shape */
	double qps;	  /* > 0: open loop */
	int concurrency;  /* closed loop; with qps, a cap on requests in flight */
	double duration;  /* seconds of issuing, 0 = unbounded */
	long requests;	  /* requests to issue, 0 = unbounded */
	double timeout;	  /* seconds per request */
	bool stream;
	bool ignore_eos;

	/* workload */
	enum lg_workload workload;
	uint64_t seed;
	struct lg_model models[LG_MAX_MODELS];
	int n_models;
	int groups;
	int prompts_per_group;
	int system_tokens;
	int question_tokens;
	int output_tokens; /* 0: the workload's own default or distribution */
	long prompt_bytes;

	/* output */
	char *json_path;
	char *records_path;
	char *dump_path;
	bool dry_run;
	bool quiet;
};

/* Fills cfg from argv. Returns 0, 1 when --help was printed, or -EINVAL. */
int flags_parse(struct lg_config *cfg, int argc, char **argv);
void flags_free(struct lg_config *cfg);
const char *workload_name(enum lg_workload w);

#endif
