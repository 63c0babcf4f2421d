/* main.c - vllm-sim: an OpenAI-compatible model server that behaves like vLLM under load.
 * Parses the flags (help is generated from the option table) and wires engine and HTTP. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "config.h"
#include "engine.h"
#include "http.h"
#include "metrics.h"

enum opt_kind { OPT_STR, OPT_INT, OPT_DBL, OPT_U64, OPT_FLAG, OPT_SPECIAL };

struct opt {
	const char *name;
	enum opt_kind kind;
	const char *metavar;
	const char *help;
	size_t off;			/* offset into struct sim_config, for plain kinds */
};

#define CO(field) offsetof(struct sim_config, field)

enum { OPT_ID_SERVED = 1000, OPT_ID_LORA };

static const struct opt opts[] = {
	{ "model", OPT_STR, "NAME", "model path or id; the served name defaults to it", CO(model) },
	{ "served-model-name", OPT_SPECIAL, "NAME...", "names the model answers to (repeatable; first is used in metrics)", 0 },
	{ "host", OPT_STR, "ADDR", "address to listen on (default 0.0.0.0)", CO(host) },
	{ "port", OPT_INT, "PORT", "port to listen on (default 8000)", CO(port) },
	{ "lora-modules", OPT_SPECIAL, "NAME=PATH...", "LoRA adapters to serve (repeatable)", 0 },
	{ "max-loras", OPT_INT, "N", "adapters that can be active in one batch (default 1)", CO(max_loras) },
	{ "max-num-seqs", OPT_INT, "N", "maximum sequences in the running batch (default 256)", CO(max_num_seqs) },
	{ "num-gpu-blocks", OPT_INT, "N", "KV cache size in blocks (default 2048)", CO(num_gpu_blocks) },
	{ "block-size", OPT_INT, "TOKENS", "tokens per KV cache block (default 16)", CO(block_size) },
	{ "max-model-len", OPT_INT, "TOKENS", "longest prompt + output (default 4096)", CO(max_model_len) },
	{ "time-scale", OPT_DBL, "F", "wall time per simulated second; 0.1 = 10x faster, 0 = instant (default 1)", CO(time_scale) },
	{ "seed", OPT_U64, "N", "seed for generated text and lengths (default 0)", CO(seed) },
	{ "engine", OPT_SPECIAL, "vllm|sglang|trtllm", "metric names to expose (default vllm)", 0 },
	{ "legacy-metrics", OPT_FLAG, NULL, "also expose vllm:gpu_cache_usage_perc, as older vLLM", CO(legacy_metrics) },
	{ "prefill-us-per-token", OPT_DBL, "US", "prefill cost per uncached prompt token (default 80)", CO(prefill_us_per_token) },
	{ "decode-step-ms", OPT_SPECIAL, "MS", "decode step time at batch size 1 (default 10)", 0 },
	{ "decode-us-per-seq", OPT_DBL, "US", "extra decode step time per running sequence (default 150)", CO(decode_us_per_seq) },
	{ "lora-load-ms", OPT_SPECIAL, "MS", "time to load an adapter the first time (default 200)", 0 },
	{ "output-len", OPT_SPECIAL, "MIN[:MAX]", "natural answer length in tokens when max_tokens allows (default 16:256)", 0 },
	{ "verbose", OPT_FLAG, NULL, "log every request", CO(verbose) },
	{ "help", OPT_SPECIAL, NULL, "show this help", 0 },
};

#define N_OPTS (sizeof(opts) / sizeof(opts[0]))

static void usage(FILE *f)
{
	fprintf(f, "Usage: vllm-sim [OPTIONS]\n\n"
		   "An OpenAI-compatible model server that simulates a GPU running vLLM: a running batch,\n"
		   "a waiting queue, a paged KV cache with a prefix cache, LoRA slots, vLLM's /metrics.\n"
		   "Tokens are counted as ~%d characters each.\n\nOptions:\n", SIM_CHARS_PER_TOKEN);
	for (size_t i = 0; i < N_OPTS; i++) {
		char left[64];
		snprintf(left, sizeof(left), "--%s%s%s", opts[i].name, opts[i].metavar ? " " : "",
			 opts[i].metavar ? opts[i].metavar : "");
		fprintf(f, "  %-34s %s\n", left, opts[i].help);
	}
}

static int parse_int(const char *s, long min, long max, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 0);
	if (errno || end == s || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_dbl(const char *s, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || v < 0)
		return -EINVAL;
	*out = v;
	return 0;
}

static int add_lora(struct sim_config *c, const char *arg)
{
	const char *eq = strchr(arg, '=');
	if (!eq || eq == arg || !eq[1] || c->n_loras >= SIM_MAX_NAMES)
		return -EINVAL;
	/* vLLM also takes a JSON object here; name=path is the form deployments use. */
	c->loras[c->n_loras].name = strndup(arg, eq - arg);
	c->loras[c->n_loras].path = strdup(eq + 1);
	if (!c->loras[c->n_loras].name || !c->loras[c->n_loras].path)
		return -ENOMEM;
	c->n_loras++;
	return 0;
}

/* Flags that take several values (vLLM's nargs="+") consume the following
 * non-option words too: --served-model-name a b --port 1. */
static int take_rest(int argc, char **argv, struct sim_config *c, int id)
{
	while (optind < argc && argv[optind][0] != '-') {
		const char *v = argv[optind++];
		if (id == OPT_ID_LORA) {
			if (add_lora(c, v))
				return -EINVAL;
		} else {
			if (c->n_served >= SIM_MAX_NAMES)
				return -EINVAL;
			c->served[c->n_served++] = v;
		}
	}
	return 0;
}

static int set_plain(struct sim_config *c, const struct opt *o, const char *arg)
{
	char *p = (char *)c + o->off;
	long l;
	double d;

	switch (o->kind) {
	case OPT_STR:
		*(const char **)p = arg;
		return 0;
	case OPT_INT:
		if (parse_int(arg, 0, INT_MAX, &l))
			return -EINVAL;
		*(int *)p = (int)l;
		return 0;
	case OPT_U64: {
		char *end;
		errno = 0;
		unsigned long long v = strtoull(arg, &end, 0);
		if (errno || end == arg || *end)
			return -EINVAL;
		*(uint64_t *)p = v;
		return 0;
	}
	case OPT_DBL:
		if (parse_dbl(arg, &d))
			return -EINVAL;
		*(double *)p = d;
		return 0;
	case OPT_FLAG:
		*(bool *)p = true;
		return 0;
	default:
		return -EINVAL;
	}
}

static int set_special(struct sim_config *c, const char *name, const char *arg)
{
	double d;
	long a, b;

	if (!strcmp(name, "engine")) {
		if (!strcmp(arg, "vllm"))
			c->engine = SIM_ENGINE_VLLM;
		else if (!strcmp(arg, "sglang"))
			c->engine = SIM_ENGINE_SGLANG;
		else if (!strcmp(arg, "trtllm") || !strcmp(arg, "trt-llm"))
			c->engine = SIM_ENGINE_TRTLLM;
		else
			return -EINVAL;
	} else if (!strcmp(name, "decode-step-ms")) {
		if (parse_dbl(arg, &d))
			return -EINVAL;
		c->decode_step_us = d * 1000;
	} else if (!strcmp(name, "lora-load-ms")) {
		if (parse_dbl(arg, &d))
			return -EINVAL;
		c->lora_load_us = d * 1000;
	} else if (!strcmp(name, "output-len")) {
		char buf[64];
		snprintf(buf, sizeof(buf), "%s", arg);
		char *colon = strchr(buf, ':');
		if (colon)
			*colon = 0;
		if (parse_int(buf, 1, 1 << 20, &a))
			return -EINVAL;
		b = a;
		if (colon && parse_int(colon + 1, a, 1 << 20, &b))
			return -EINVAL;
		c->out_len_min = (int)a;
		c->out_len_max = (int)b;
	} else {
		return -EINVAL;
	}
	return 0;
}

static int parse_args(int argc, char **argv, struct sim_config *c)
{
	struct option lo[N_OPTS + 1];
	memset(lo, 0, sizeof(lo));
	for (size_t i = 0; i < N_OPTS; i++) {
		lo[i].name = opts[i].name;
		lo[i].has_arg = opts[i].metavar ? required_argument : no_argument;
		lo[i].val = 2000 + (int)i;
	}

	int ch;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		if (ch == 'h') {
			usage(stdout);
			exit(EXIT_SUCCESS);
		}
		if (ch < 2000 || ch >= 2000 + (int)N_OPTS) {
			fprintf(stderr, "vllm-sim: unknown option '%s'. Use --help\n", argv[optind - 1]);
			return -EINVAL;
		}
		const struct opt *o = &opts[ch - 2000];
		int err;
		if (!strcmp(o->name, "help")) {
			usage(stdout);
			exit(EXIT_SUCCESS);
		} else if (!strcmp(o->name, "served-model-name")) {
			err = c->n_served < SIM_MAX_NAMES ? 0 : -EINVAL;
			if (!err) {
				c->served[c->n_served++] = optarg;
				err = take_rest(argc, argv, c, OPT_ID_SERVED);
			}
		} else if (!strcmp(o->name, "lora-modules")) {
			err = add_lora(c, optarg);
			if (!err)
				err = take_rest(argc, argv, c, OPT_ID_LORA);
		} else if (o->kind == OPT_SPECIAL) {
			err = set_special(c, o->name, optarg);
		} else {
			err = set_plain(c, o, optarg);
		}
		if (err) {
			fprintf(stderr, "vllm-sim: bad value for --%s. Use --help\n", o->name);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "vllm-sim: unexpected argument '%s'. Use --help\n", argv[optind]);
		return -EINVAL;
	}
	if (!c->n_served)
		c->served[c->n_served++] = c->model;
	if (c->max_num_seqs < 1 || c->num_gpu_blocks < 1 || c->block_size < 1 || c->max_loras < 1 ||
	    c->port < 1 || c->port > 65535 || c->max_model_len < 1) {
		fprintf(stderr, "vllm-sim: sizes must be positive. Use --help\n");
		return -EINVAL;
	}
	return 0;
}

static void config_defaults(struct sim_config *c)
{
	memset(c, 0, sizeof(*c));
	c->host = "0.0.0.0";
	c->port = 8000;
	c->model = "facebook/opt-125m";	/* vLLM's default --model */
	c->max_loras = 1;
	c->max_num_seqs = 256;
	c->num_gpu_blocks = 2048;
	c->block_size = 16;
	c->max_model_len = 4096;
	c->time_scale = 1.0;
	c->engine = SIM_ENGINE_VLLM;
	/* Roughly a 4B model on one data-centre GPU. */
	c->prefill_us_per_token = 80;
	c->decode_step_us = 10000;
	c->decode_us_per_seq = 150;
	c->lora_load_us = 200000;
	c->out_len_min = 16;
	c->out_len_max = 256;
}

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

/* Thousands of streaming clients need as many descriptors. */
static void raise_nofile(void)
{
	struct rlimit rl;
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int main(int argc, char **argv)
{
	struct sim_config cfg;
	struct metrics *m = NULL;
	struct engine *eng = NULL;
	struct http_server *srv = NULL;
	int err;

	config_defaults(&cfg);
	if (parse_args(argc, argv, &cfg))
		return EXIT_FAILURE;

	raise_nofile();
	signal(SIGPIPE, SIG_IGN);
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	err = -ENOMEM;
	m = metrics_new(&cfg);
	if (!m)
		goto out;
	eng = engine_new(&cfg, m, http_wake);
	if (!eng)
		goto out;
	err = engine_start(eng);
	if (err) {
		fprintf(stderr, "vllm-sim: cannot start the engine: %s\n", strerror(-err));
		goto out;
	}
	err = http_start(&cfg, eng, m, &srv);
	if (err) {
		fprintf(stderr, "vllm-sim: cannot listen on %s:%d: %s\n", cfg.host, cfg.port, strerror(-err));
		goto out;
	}
	fprintf(stderr, "vllm-sim: serving %s on http://%s:%d (engine %s, time scale %g)\n",
		cfg.served[0], cfg.host, cfg.port,
		cfg.engine == SIM_ENGINE_SGLANG ? "sglang" : cfg.engine == SIM_ENGINE_TRTLLM ? "trtllm" : "vllm",
		cfg.time_scale);

	while (!stop_flag)
		pause();
	err = 0;
out:
	/* Suspended connections cannot be stopped cleanly by the HTTP library, so
	 * the engine is stopped first and the process exits with the server up. */
	if (eng)
		engine_stop(eng);
	return err ? EXIT_FAILURE : EXIT_SUCCESS;
}
