/* testsrv.c - an OpenAI-shaped server with known timing, for loadgen's tests: every response
 * waits --latency-ms (plus a step by request number), streams tokens every --interval-ms, and
 * fails, hangs or closes on a fixed schedule, so expected percentiles and counts are exact. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <llhttp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_RULES 8

struct sbuf {
	char *p;
	size_t len, cap;
};

struct rule {
	int status, every;
};

static struct {
	char *listen;
	int latency_ms, step_ms, interval_ms, tokens, hang_every, close_every;
	struct rule fail[MAX_RULES];
	int n_fail;
} opt = { .listen = "127.0.0.1:17000", .latency_ms = 20, .interval_ms = 5 };

static struct {
	uint64_t requests, connections, open;
	uint64_t by_status[600];
	char last_host[128], last_test_hdr[128]; /* headers of the last request, for the tests */
} counters;

enum sstate { S_READ, S_WAIT, S_HANG };

struct sconn {
	int fd;
	enum sstate state;
	int64_t due; /* when the timer fires, if hidx >= 0 */
	int hidx;    /* place in the timer heap, -1 when not armed */
	llhttp_t parser;
	struct sbuf in, out, url, body, hname, hval;
	size_t in_off, out_off;
	bool want_out, close_after, closing, dead;
	struct sconn *next_dead;
	/* the response being produced */
	int status, tokens, sent;
	bool stream, chat, usage;
	uint32_t prompt_tokens;
	char model[128];
	int64_t t0;
};

static int epfd;
static llhttp_settings_t settings;
/* Closed connections are freed after the epoll batch: the batch may still name them. */
static struct sconn *graveyard;
/* One heap of deadlines for all connections, waited on by epoll_pwait2: per-connection
 * timerfds cost a syscall per token and limited how many streams one thread could time. */
static struct sconn **heap;
static int heap_n, heap_cap;

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void sb_add(struct sbuf *b, const void *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 512;

		while (cap < b->len + n + 1)
			cap *= 2;
		b->p = realloc(b->p, cap);
		if (!b->p)
			abort(); /* a test fixture: running out of memory is fatal */
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void sb_addf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_addf(struct sbuf *b, const char *fmt, ...)
{
	char tmp[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > 0)
		sb_add(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

static void heap_swap(int a, int b)
{
	struct sconn *t = heap[a];

	heap[a] = heap[b];
	heap[b] = t;
	heap[a]->hidx = a;
	heap[b]->hidx = b;
}

static void heap_fix(int i)
{
	while (i > 0 && heap[(i - 1) / 2]->due > heap[i]->due) {
		heap_swap(i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
	for (;;) {
		int l = 2 * i + 1, r = l + 1, m = i;

		if (l < heap_n && heap[l]->due < heap[m]->due)
			m = l;
		if (r < heap_n && heap[r]->due < heap[m]->due)
			m = r;
		if (m == i)
			return;
		heap_swap(i, m);
		i = m;
	}
}

static void heap_del(struct sconn *c)
{
	int i = c->hidx;

	if (i < 0)
		return;
	c->hidx = -1;
	if (i != --heap_n) {
		heap[i] = heap[heap_n];
		heap[i]->hidx = i;
		heap_fix(i);
	}
}

static void conn_close(struct sconn *c)
{
	close(c->fd);
	heap_del(c);
	c->dead = true;
	c->next_dead = graveyard;
	graveyard = c;
	counters.open--;
}

static void bury(void)
{
	while (graveyard) {
		struct sconn *c = graveyard;

		graveyard = c->next_dead;
		free(c->in.p);
		free(c->out.p);
		free(c->url.p);
		free(c->body.p);
		free(c->hname.p);
		free(c->hval.p);
		free(c);
	}
}

static void watch(struct sconn *c, bool out)
{
	struct epoll_event ev = { .events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = c };

	if (out != c->want_out) {
		epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
		c->want_out = out;
	}
}

/* Returns -1 when the connection was closed. */
static int flush_out(struct sconn *c)
{
	while (c->out_off < c->out.len) {
		ssize_t n = send(c->fd, c->out.p + c->out_off, c->out.len - c->out_off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			watch(c, true);
			return 0;
		}
		if (n < 0) {
			conn_close(c);
			return -1;
		}
		c->out_off += (size_t)n;
	}
	c->out.len = c->out_off = 0;
	watch(c, false);
	if (c->closing) {
		conn_close(c);
		return -1;
	}
	return 0;
}

static void arm(struct sconn *c, int64_t at_ns)
{
	c->due = at_ns;
	if (c->hidx < 0) {
		if (heap_n == heap_cap) {
			heap_cap = heap_cap ? heap_cap * 2 : 1024;
			heap = realloc(heap, (size_t)heap_cap * sizeof(*heap));
			if (!heap)
				abort();
		}
		c->hidx = heap_n;
		heap[heap_n++] = c;
	}
	heap_fix(c->hidx);
}

static void head(struct sconn *c, int status, const char *type, long len)
{
	sb_addf(&c->out, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n", status,
		status == 200 ? "OK" : status == 429 ? "Too Many Requests" : "Error", type);
	if (c->close_after)
		sb_addf(&c->out, "Connection: close\r\n");
	if (len >= 0)
		sb_addf(&c->out, "Content-Length: %ld\r\n\r\n", len);
	else
		sb_addf(&c->out, "Transfer-Encoding: chunked\r\n\r\n");
}

static void chunk(struct sconn *c, const char *data)
{
	size_t n = strlen(data);

	sb_addf(&c->out, "%zx\r\ndata: ", n + 8);
	sb_add(&c->out, data, n);
	sb_add(&c->out, "\n\n\r\n", 4);
}

static void usage_json(struct sbuf *b, struct sconn *c)
{
	sb_addf(b, "\"usage\":{\"prompt_tokens\":%u,\"completion_tokens\":%d,\"total_tokens\":%u}",
		c->prompt_tokens, c->tokens, c->prompt_tokens + (unsigned)c->tokens);
}

static void token_chunk(struct sconn *c, const char *text)
{
	char data[512];

	if (c->chat)
		snprintf(data, sizeof(data), "{\"id\":\"cmpl-t\",\"object\":\"chat.completion.chunk\","
			 "\"created\":0,\"model\":\"%s\",\"choices\":[{\"index\":0,\"delta\":{%s},"
			 "\"finish_reason\":null}]}", c->model, text);
	else
		snprintf(data, sizeof(data), "{\"id\":\"cmpl-t\",\"object\":\"text_completion\","
			 "\"created\":0,\"model\":\"%s\",\"choices\":[{\"index\":0,%s,"
			 "\"finish_reason\":null}]}", c->model, text);
	chunk(c, data);
}

static void finish_response(struct sconn *c);

/* The timer fired: the delayed answer, or the next streamed token, is due. */
static void on_timer(struct sconn *c)
{
	if (c->state != S_WAIT)
		return;
	if (c->status != 200) {
		char body[200];
		int n = snprintf(body, sizeof(body), "{\"error\":{\"message\":\"injected %d\","
				 "\"type\":\"test\",\"code\":%d}}", c->status, c->status);

		head(c, c->status, "application/json", n);
		sb_add(&c->out, body, (size_t)n);
		finish_response(c);
	} else if (!c->stream) {
		struct sbuf b = { 0 };

		sb_addf(&b, "{\"id\":\"cmpl-t\",\"object\":\"%s\",\"created\":0,\"model\":\"%s\","
			"\"choices\":[{\"index\":0,",
			c->chat ? "chat.completion" : "text_completion", c->model);
		sb_addf(&b, c->chat ? "\"message\":{\"role\":\"assistant\",\"content\":\"" : "\"text\":\"");
		for (int i = 0; i < c->tokens; i++)
			sb_add(&b, "tok ", 4);
		sb_addf(&b, "\"%s,\"finish_reason\":\"length\"}],", c->chat ? "}" : "");
		usage_json(&b, c);
		sb_add(&b, "}", 1);
		head(c, 200, "application/json", (long)b.len);
		sb_add(&c->out, b.p, b.len);
		free(b.p);
		finish_response(c);
	} else {
		char text[64];

		snprintf(text, sizeof(text), c->chat ? "\"content\":\"tok%d \"" : "\"text\":\"tok%d \"",
			 c->sent);
		token_chunk(c, text);
		if (++c->sent < c->tokens) {
			arm(c, c->t0 + (opt.latency_ms + (int64_t)c->sent * opt.interval_ms) * 1000000LL);
			flush_out(c);
			return;
		}
		if (c->usage) {
			struct sbuf b = { 0 };

			sb_addf(&b, "{\"id\":\"cmpl-t\",\"object\":\"%s\",\"created\":0,\"model\":\"%s\","
				"\"choices\":[],",
				c->chat ? "chat.completion.chunk" : "text_completion", c->model);
			usage_json(&b, c);
			sb_add(&b, "}", 1);
			chunk(c, b.p);
			free(b.p);
		}
		chunk(c, "[DONE]");
		sb_add(&c->out, "0\r\n\r\n", 5);
		finish_response(c);
	}
}

static int parse_more(struct sconn *c);

static void finish_response(struct sconn *c)
{
	c->state = S_READ;
	if (c->close_after)
		c->closing = true;
	if (flush_out(c) == 0 && !c->closing)
		parse_more(c);
}

static void plan(struct sconn *c)
{
	cJSON *req = cJSON_ParseWithLength(c->body.p ? c->body.p : "", c->body.len);
	const cJSON *v, *so;
	uint64_t n = ++counters.requests;
	int64_t latency = opt.latency_ms + (int64_t)(n % 10) * opt.step_ms;

	c->status = 200;
	for (int i = 0; i < opt.n_fail; i++) {
		if (n % (uint64_t)opt.fail[i].every == 0) {
			c->status = opt.fail[i].status;
			break;
		}
	}
	c->close_after = opt.close_every && n % (uint64_t)opt.close_every == 0;
	c->chat = c->url.p && strstr(c->url.p, "chat/completions");
	c->stream = cJSON_IsTrue(cJSON_GetObjectItem(req, "stream"));
	so = cJSON_GetObjectItem(req, "stream_options");
	c->usage = cJSON_IsTrue(cJSON_GetObjectItem(so, "include_usage"));
	v = cJSON_GetObjectItem(req, "max_tokens");
	c->tokens = opt.tokens ? opt.tokens : cJSON_IsNumber(v) && v->valueint > 0 ? v->valueint : 16;
	v = cJSON_GetObjectItem(req, "model");
	/* echoed into JSON without escaping: keep only plain characters */
	snprintf(c->model, sizeof(c->model), "%s", cJSON_IsString(v) ? v->valuestring : "none");
	for (char *p = c->model; *p; p++)
		if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20)
			*p = '_';
	c->prompt_tokens = (uint32_t)(c->body.len / 4);
	c->sent = 0;
	c->t0 = now_ns();
	cJSON_Delete(req);
	if (c->status < 600)
		counters.by_status[c->status]++;
	if (!req) {
		c->status = 400;
		latency = 0;
	}
	if (opt.hang_every && n % (uint64_t)opt.hang_every == 0) {
		c->state = S_HANG;
		return;
	}
	c->state = S_WAIT;
	if (c->status == 200 && c->stream) {
		/* headers and the role chunk go out at once, as vLLM's do; TTFT waits for content */
		head(c, 200, "text/event-stream", -1);
		token_chunk(c, c->chat ? "\"role\":\"assistant\",\"content\":\"\"" : "\"text\":\"\"");
	}
	arm(c, c->t0 + latency * 1000000LL);
}

static void stats_response(struct sconn *c)
{
	struct sbuf b = { 0 };

	sb_addf(&b, "{\"requests\":%llu,\"connections\":%llu,\"open\":%llu,\"last_host\":\"%s\","
		"\"last_test_header\":\"%s\",\"by_status\":{",
		(unsigned long long)counters.requests, (unsigned long long)counters.connections,
		(unsigned long long)counters.open, counters.last_host, counters.last_test_hdr);
	for (int s = 0, first = 1; s < 600; s++) {
		if (counters.by_status[s]) {
			sb_addf(&b, "%s\"%d\":%llu", first ? "" : ",", s,
				(unsigned long long)counters.by_status[s]);
			first = 0;
		}
	}
	sb_add(&b, "}}\n", 3);
	c->close_after = false;
	head(c, 200, "application/json", (long)b.len);
	sb_add(&c->out, b.p, b.len);
	free(b.p);
}

static int on_url(llhttp_t *p, const char *at, size_t n)
{
	sb_add(&((struct sconn *)p->data)->url, at, n);
	return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t n)
{
	sb_add(&((struct sconn *)p->data)->hname, at, n);
	return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t n)
{
	sb_add(&((struct sconn *)p->data)->hval, at, n);
	return 0;
}

static int on_header_value_complete(llhttp_t *p)
{
	struct sconn *c = p->data;
	bool stats = c->url.p && !strcmp(c->url.p, "/stats");
	char *dst = NULL;

	sb_add(&c->hname, "", 0); /* an empty value leaves a buffer unallocated */
	sb_add(&c->hval, "", 0);
	/* the tests' own /stats questions would hide loadgen's headers */
	if (!stats && !strcasecmp(c->hname.p, "host"))
		dst = counters.last_host;
	else if (!stats && !strcasecmp(c->hname.p, "x-loadgen-test"))
		dst = counters.last_test_hdr;
	/* kept for /stats, which prints them unescaped: plain characters only */
	if (dst && !strpbrk(c->hval.p, "\"\\"))
		snprintf(dst, sizeof(counters.last_host), "%s", c->hval.p);
	c->hname.len = c->hval.len = 0;
	return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t n)
{
	sb_add(&((struct sconn *)p->data)->body, at, n);
	return 0;
}

static int on_message_complete(llhttp_t *p)
{
	(void)p;
	return HPE_PAUSED;
}

/* Parses buffered input while idle; a whole request starts its response. */
static int parse_more(struct sconn *c)
{
	while (c->state == S_READ && c->in_off < c->in.len) {
		llhttp_errno_t err = llhttp_execute(&c->parser, c->in.p + c->in_off, c->in.len - c->in_off);

		if (err == HPE_OK) {
			c->in.len = c->in_off = 0;
			return 0;
		}
		if (err != HPE_PAUSED) {
			conn_close(c);
			return -1;
		}
		c->in_off = (size_t)(llhttp_get_error_pos(&c->parser) - c->in.p);
		llhttp_resume(&c->parser);
		if (llhttp_get_method(&c->parser) == HTTP_GET && c->url.p && !strcmp(c->url.p, "/stats")) {
			stats_response(c);
		} else {
			plan(c);
		}
		c->url.len = c->body.len = 0;
		if (flush_out(c))
			return -1;
	}
	return 0;
}

static void on_readable(struct sconn *c)
{
	char tmp[65536];

	for (;;) {
		ssize_t n = recv(c->fd, tmp, sizeof(tmp), 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			conn_close(c);
			return;
		}
		sb_add(&c->in, tmp, (size_t)n);
	}
	parse_more(c);
}

static void on_accept(int lfd)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct epoll_event ev = { .events = EPOLLIN };
		struct sconn *c;
		int one = 1;

		if (fd < 0)
			return;
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			return;
		}
		/* tokens are small writes: Nagle would hold each behind the last one's ACK */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c->fd = fd;
		c->hidx = -1;
		llhttp_init(&c->parser, HTTP_REQUEST, &settings);
		c->parser.data = c;
		ev.data.ptr = c;
		epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
		counters.connections++;
		counters.open++;
	}
}

static const struct option lopts[] = {
	{ "listen", required_argument, 0, 'l' },   { "latency-ms", required_argument, 0, 'L' },
	{ "latency-step-ms", required_argument, 0, 'S' }, { "interval-ms", required_argument, 0, 'i' },
	{ "tokens", required_argument, 0, 't' },   { "fail", required_argument, 0, 'f' },
	{ "hang-every", required_argument, 0, 'H' }, { "close-every", required_argument, 0, 'c' },
	{ "help", no_argument, 0, 'h' },	   { 0 },
};

static void usage(void)
{
	printf("Usage: loadgen-testsrv [options]\n"
	       "  --listen ADDR:PORT      (default 127.0.0.1:17000)\n"
	       "  --latency-ms N          delay of a whole response, or of the first token (default 20)\n"
	       "  --latency-step-ms S     add (request number %% 10) * S to the delay (default 0)\n"
	       "  --interval-ms N         between streamed tokens (default 5)\n"
	       "  --tokens N              tokens per response (default: the request's max_tokens)\n"
	       "  --fail STATUS:EVERY     answer STATUS to every EVERY-th request (repeatable)\n"
	       "  --hang-every K          never answer every K-th request\n"
	       "  --close-every K         send Connection: close with every K-th response\n"
	       "GET /stats returns the request, connection and status counts.\n");
}

static int listen_on(const char *spec)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	char host[64];
	const char *colon = strrchr(spec, ':');
	int fd, one = 1;

	if (!colon || (size_t)(colon - spec) >= sizeof(host))
		return -1;
	memcpy(host, spec, (size_t)(colon - spec));
	host[colon - spec] = '\0';
	sa.sin_port = htons((uint16_t)atoi(colon + 1));
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		return -1;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 4096)) {
		close(fd);
		return -1;
	}
	return fd;
}

int main(int argc, char **argv)
{
	struct epoll_event evs[256], ev = { .events = EPOLLIN };
	int ch, lfd;

	while ((ch = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
		switch (ch) {
		case 'l': opt.listen = optarg; break;
		case 'L': opt.latency_ms = atoi(optarg); break;
		case 'S': opt.step_ms = atoi(optarg); break;
		case 'i': opt.interval_ms = atoi(optarg); break;
		case 't': opt.tokens = atoi(optarg); break;
		case 'H': opt.hang_every = atoi(optarg); break;
		case 'c': opt.close_every = atoi(optarg); break;
		case 'f':
			if (opt.n_fail == MAX_RULES ||
			    sscanf(optarg, "%d:%d", &opt.fail[opt.n_fail].status, &opt.fail[opt.n_fail].every) != 2 ||
			    opt.fail[opt.n_fail].every <= 0)
				goto bad;
			opt.n_fail++;
			break;
		case 'h': usage(); return 0;
		default: goto bad;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	llhttp_settings_init(&settings);
	settings.on_url = on_url;
	settings.on_header_field = on_header_field;
	settings.on_header_value = on_header_value;
	settings.on_header_value_complete = on_header_value_complete;
	settings.on_body = on_body;
	settings.on_message_complete = on_message_complete;
	lfd = listen_on(opt.listen);
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (lfd < 0 || epfd < 0) {
		fprintf(stderr, "loadgen-testsrv: cannot listen on %s: %s\n", opt.listen, strerror(errno));
		return 1;
	}
	ev.data.ptr = NULL;
	epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev);
	printf("listening on %s\n", opt.listen);
	fflush(stdout);
	for (;;) {
		struct timespec ts, *tsp = NULL;
		int64_t now = now_ns();
		int n;

		while (heap_n && heap[0]->due <= now) {
			struct sconn *c = heap[0];

			heap_del(c);
			on_timer(c);
		}
		bury();
		if (heap_n) {
			int64_t wait = heap[0]->due - now;

			ts.tv_sec = wait / 1000000000LL;
			ts.tv_nsec = wait % 1000000000LL;
			tsp = &ts;
		}
		n = epoll_pwait2(epfd, evs, 256, tsp, NULL);
		for (int i = 0; i < n; i++) {
			struct sconn *c = evs[i].data.ptr;

			if (!c)
				on_accept(lfd);
			else if (c->dead)
				continue;
			else if (evs[i].events & EPOLLOUT)
				flush_out(c);
			else
				on_readable(c);
		}
		bury();
	}
bad:
	fprintf(stderr, "Use --help for the options.\n");
	return 1;
}
