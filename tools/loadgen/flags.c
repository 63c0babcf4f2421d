/* flags.c - the option table: parsing, validation and the generated --help.
 * Each option names its field by offset, so adding a flag is one table line. */
#include "flags.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_MODEL "/models/Qwen1.5-4B-Chat/"

enum opt_kind { K_STR, K_INT, K_LONG, K_U64, K_DBL, K_BOOL, K_NOBOOL, K_WORKLOAD, K_MODEL, K_HEADER };

struct opt {
	const char *name;
	enum opt_kind kind;
	size_t off;
	const char *metavar;
	const char *help;
};

#define F(field) offsetof(struct lg_config, field)

static const char *const workload_names[] = {
	[WL_SHARED_PREFIX] = "shared-prefix",
	[WL_SHAREGPT_LIKE] = "sharegpt-like",
	[WL_LONG_PROMPT] = "long-prompt",
	[WL_LORA_MIX] = "lora-mix",
};

static const struct opt opts[] = {
	{ "url", K_STR, F(url), "URL", "target, http://IP:PORT/v1/chat/completions or .../v1/completions" },
	{ "host", K_STR, F(host_hdr), "HOST", "Host header (default: the URL's host:port)" },
	{ "header", K_HEADER, 0, "'NAME: VALUE'", "extra request header (repeatable)" },
	{ "netns", K_STR, F(netns), "NAME", "connect from network namespace /var/run/netns/NAME" },
	{ "model", K_MODEL, 0, "NAME[:WEIGHT]", "model or LoRA adapter to request, weight 1 by default (repeatable)" },
	{ "workload", K_WORKLOAD, F(workload), "KIND", "shared-prefix | sharegpt-like | long-prompt | lora-mix" },
	{ "seed", K_U64, F(seed), "N", "seed of every random choice (prompts, lengths, models, arrivals)" },
	{ "qps", K_DBL, F(qps), "RATE", "open loop: Poisson arrivals at RATE requests/s" },
	{ "concurrency", K_INT, F(concurrency), "N", "closed loop: N requests in flight (with --qps: a cap)" },
	{ "duration", K_DBL, F(duration), "SECONDS", "stop issuing after SECONDS" },
	{ "requests", K_LONG, F(requests), "N", "stop issuing after N requests" },
	{ "timeout", K_DBL, F(timeout), "SECONDS", "per-request timeout, connect included" },
	{ "stream", K_BOOL, F(stream), NULL, "stream responses (SSE, usage in the last chunk)" },
	{ "no-stream", K_NOBOOL, F(stream), NULL, "ask for whole responses" },
	{ "ignore-eos", K_BOOL, F(ignore_eos), NULL, "send ignore_eos so that servers generate max_tokens" },
	{ "groups", K_INT, F(groups), "G", "shared-prefix: groups sharing one system prompt" },
	{ "prompts-per-group", K_INT, F(prompts_per_group), "P", "shared-prefix: distinct questions per group" },
	{ "system-tokens", K_INT, F(system_tokens), "N", "shared-prefix: system prompt length" },
	{ "question-tokens", K_INT, F(question_tokens), "N", "shared-prefix: question length" },
	{ "output-tokens", K_INT, F(output_tokens), "N",
	  "max_tokens of every request (0: shared-prefix 1000, long-prompt 128, others drawn)" },
	{ "prompt-bytes", K_LONG, F(prompt_bytes), "N", "long-prompt: prompt size in bytes" },
	{ "json", K_STR, F(json_path), "FILE", "write the summary as JSON ('-': stdout)" },
	{ "records", K_STR, F(records_path), "FILE", "write one JSON line per request" },
	{ "dump-requests", K_STR, F(dump_path), "FILE", "write each request body as one line ('-': stdout)" },
	{ "dry-run", K_BOOL, F(dry_run), NULL, "generate --requests bodies, send nothing" },
	{ "quiet", K_BOOL, F(quiet), NULL, "no text summary" },
	{ "help", K_BOOL, 0, NULL, "this text" },
};

#define N_OPTS (sizeof(opts) / sizeof(opts[0]))

static void set_defaults(struct lg_config *c)
{
	*c = (struct lg_config){
		.workload = WL_SHAREGPT_LIKE,
		.seed = 1,
		.timeout = 60,
		.stream = true,
		.groups = 150,
		.prompts_per_group = 5,
		.system_tokens = 6000,
		.question_tokens = 1200,
		.prompt_bytes = 220 * 1024,
	};
}

const char *workload_name(enum lg_workload w)
{
	return workload_names[w];
}

static void print_default(const struct opt *o, const struct lg_config *d)
{
	const void *p = (const char *)d + o->off;

	switch (o->kind) {
	case K_INT:
		if (*(const int *)p)
			printf(" (default %d)", *(const int *)p);
		break;
	case K_LONG:
		if (*(const long *)p)
			printf(" (default %ld)", *(const long *)p);
		break;
	case K_U64:
		printf(" (default %llu)", (unsigned long long)*(const uint64_t *)p);
		break;
	case K_DBL:
		if (*(const double *)p)
			printf(" (default %g)", *(const double *)p);
		break;
	case K_BOOL:
		if (o->off && *(const bool *)p)
			printf(" (default)");
		break;
	case K_WORKLOAD:
		printf(" (default %s)", workload_names[*(const enum lg_workload *)p]);
		break;
	case K_MODEL:
		printf(" (default %s)", DEFAULT_MODEL);
		break;
	default:
		break;
	}
}

static void usage(void)
{
	struct lg_config d;

	set_defaults(&d);
	printf("Usage: loadgen --url URL [options]\n"
	       "Drives an OpenAI-compatible server open loop (--qps) or closed loop (--concurrency)\n"
	       "and reports TTFT, TPOT and end-to-end latency percentiles.\n\nOptions:\n");
	for (size_t i = 0; i < N_OPTS; i++) {
		char left[64];

		snprintf(left, sizeof(left), "--%s%s%s", opts[i].name, opts[i].metavar ? " " : "",
			 opts[i].metavar ? opts[i].metavar : "");
		printf("  %-30s %s", left, opts[i].help);
		print_default(&opts[i], &d);
		printf("\n");
	}
}

static int parse_num(const char *s, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(*out) || *out < 0)
		return -EINVAL;
	return 0;
}

/* NAME[:WEIGHT]: the weight is taken only when what follows the last ':' is a number,
 * so names with colons still work. */
static int add_model(struct lg_config *c, const char *arg)
{
	const char *colon = strrchr(arg, ':');
	double w = 1;
	size_t n = strlen(arg);

	if (c->n_models >= LG_MAX_MODELS)
		return -E2BIG;
	if (colon && colon != arg && !parse_num(colon + 1, &w))
		n = (size_t)(colon - arg);
	else
		w = 1;
	if (!n || w <= 0)
		return -EINVAL;
	c->models[c->n_models].name = strndup(arg, n);
	if (!c->models[c->n_models].name)
		return -ENOMEM;
	c->models[c->n_models++].weight = w;
	return 0;
}

static int set_opt(struct lg_config *c, const struct opt *o, const char *arg)
{
	void *p = (char *)c + o->off;
	double v;
	int i;

	switch (o->kind) {
	case K_STR:
		free(*(char **)p);
		*(char **)p = strdup(arg);
		return *(char **)p ? 0 : -ENOMEM;
	case K_BOOL:
		*(bool *)p = true;
		return 0;
	case K_NOBOOL:
		*(bool *)p = false;
		return 0;
	case K_WORKLOAD:
		for (i = 0; i < (int)(sizeof(workload_names) / sizeof(workload_names[0])); i++) {
			if (!strcmp(arg, workload_names[i])) {
				*(enum lg_workload *)p = i;
				return 0;
			}
		}
		return -EINVAL;
	case K_MODEL:
		return add_model(c, arg);
	case K_HEADER:
		if (c->n_headers >= LG_MAX_HEADERS || !strchr(arg, ':') || strpbrk(arg, "\r\n"))
			return -EINVAL;
		c->headers[c->n_headers] = strdup(arg);
		return c->headers[c->n_headers++] ? 0 : -ENOMEM;
	default:
		break;
	}
	if (parse_num(arg, &v))
		return -EINVAL;
	switch (o->kind) {
	case K_INT:
		if (v > INT_MAX || v != floor(v))
			return -EINVAL;
		*(int *)p = (int)v;
		break;
	case K_LONG:
		if (v > LONG_MAX / 2 || v != floor(v))
			return -EINVAL;
		*(long *)p = (long)v;
		break;
	case K_U64:
		/* strtoull keeps full 64-bit seeds exact */
		*(uint64_t *)p = strtoull(arg, NULL, 0);
		break;
	default:
		*(double *)p = v;
		break;
	}
	return 0;
}

/* http://HOST[:PORT]/PATH, HOST may be [v6]; https would need TLS, which load tests of
 * the gateway do not. */
static int parse_url(struct lg_config *c)
{
	const char *hp, *slash, *colon, *a, *a_end;

	if (strncmp(c->url, "http://", 7)) {
		fprintf(stderr, "loadgen: only http:// URLs are supported: %s\n", c->url);
		return -EINVAL;
	}
	hp = c->url + 7;
	slash = hp + strcspn(hp, "/");
	if (hp[0] == '[') {
		a = hp + 1;
		a_end = memchr(a, ']', (size_t)(slash - a));
		if (!a_end)
			return -EINVAL;
		colon = a_end + 1 < slash && a_end[1] == ':' ? a_end + 1 : NULL;
	} else {
		a = hp;
		colon = memchr(hp, ':', (size_t)(slash - hp));
		a_end = colon ? colon : slash;
	}
	c->addr = strndup(a, (size_t)(a_end - a));
	c->port = colon ? strndup(colon + 1, (size_t)(slash - colon - 1)) : strdup("80");
	c->path = strdup(*slash ? slash : "/");
	if (!c->host_hdr)
		c->host_hdr = strndup(hp, (size_t)(slash - hp));
	if (!c->addr || !c->port || !c->path || !c->host_hdr)
		return -ENOMEM;
	if (!*c->addr || !*c->port)
		return -EINVAL;
	c->api = strstr(c->path, "chat/completions") || !strstr(c->path, "completions") ?
			 API_CHAT : API_COMPLETIONS;
	return 0;
}

static int validate(struct lg_config *c)
{
	if (!c->url && !c->dry_run) {
		fprintf(stderr, "loadgen: --url is required\n");
		return -EINVAL;
	}
	if (c->url && parse_url(c))
		return -EINVAL;
	if (c->qps <= 0 && c->concurrency <= 0)
		c->concurrency = 1;
	if (!c->duration && !c->requests) {
		if (c->dry_run) {
			fprintf(stderr, "loadgen: --dry-run needs --requests\n");
			return -EINVAL;
		}
		c->requests = 1000;
	}
	if (c->timeout <= 0 || c->groups <= 0 || c->prompts_per_group <= 0 || c->system_tokens < 0 ||
	    c->question_tokens < 0 || c->output_tokens < 0 || c->prompt_bytes <= 0) {
		fprintf(stderr, "loadgen: sizes and --timeout must be positive\n");
		return -EINVAL;
	}
	if (!c->n_models) {
		int err = add_model(c, DEFAULT_MODEL);

		if (err)
			return err;
	}
	if (c->workload == WL_LORA_MIX && c->n_models < 2) {
		fprintf(stderr, "loadgen: lora-mix needs --model BASE and at least one --model ADAPTER\n");
		return -EINVAL;
	}
	return 0;
}

int flags_parse(struct lg_config *c, int argc, char **argv)
{
	struct option lopts[N_OPTS + 1];
	int idx, ch, err;

	set_defaults(c);
	memset(lopts, 0, sizeof(lopts));
	for (size_t i = 0; i < N_OPTS; i++) {
		lopts[i].name = opts[i].name;
		lopts[i].has_arg = opts[i].metavar ? required_argument : no_argument;
		lopts[i].val = 0x100 + (int)i;
	}
	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", lopts, &idx)) != -1) {
		const struct opt *o;

		if (ch == 'h' || (ch >= 0x100 && !strcmp(opts[ch - 0x100].name, "help"))) {
			usage();
			return 1;
		}
		if (ch < 0x100)
			goto bad;
		o = &opts[ch - 0x100];
		err = set_opt(c, o, optarg);
		if (err) {
			fprintf(stderr, "loadgen: bad value for --%s: %s\n", o->name, optarg);
			goto bad;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "loadgen: unexpected argument: %s\n", argv[optind]);
		goto bad;
	}
	if (validate(c))
		goto bad;
	return 0;
bad:
	fprintf(stderr, "Use --help for the options.\n");
	return -EINVAL;
}

void flags_free(struct lg_config *c)
{
	for (int i = 0; i < c->n_models; i++)
		free(c->models[i].name);
	for (int i = 0; i < c->n_headers; i++)
		free(c->headers[i]);
	free(c->url);
	free(c->host_hdr);
	free(c->netns);
	free(c->addr);
	free(c->port);
	free(c->path);
	free(c->json_path);
	free(c->records_path);
	free(c->dump_path);
}
