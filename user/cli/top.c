/* top.c - `inferlb top`: a live view refreshed every second. On a terminal it draws with
 * ncurses and quits on q; otherwise (a pipe, a log, -j) it prints one block per refresh. */
#include <errno.h>
#include <locale.h>
#include <ncurses.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "cli.h"
#include "params.h"
#include "top_view.h"

#define TOP_DEFAULT_INTERVAL_MS 1000

struct top_cfg {
	unsigned int count;
	unsigned int interval_ms;
};

static const struct ilb_option top_options[] = {
	ILB_OPT(struct top_cfg, count, .type = ILB_OPT_UINT, .name = "count", .short_name = 'c',
		.metavar = "N", .help = "stop after N refreshes (default: until q or Ctrl-C)"),
	ILB_OPT(struct top_cfg, interval_ms, .type = ILB_OPT_UINT, .name = "interval",
		.short_name = 'i', .metavar = "MS", .help = "milliseconds between refreshes (default 1000)"),
	{ 0 },
};

const struct cli_spec top_spec = {
	.name = "top",
	.summary = "Live view per pool and pod: queue, KV cache, in-flight, picks/s, sheds; lane counters.",
	.options = top_options,
};

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

/* No SA_RESTART: a signal cuts the sleep or getch short, so the loop ends at once. */
static void install_stop_handlers(void)
{
	struct sigaction sa = { .sa_handler = on_stop_signal };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void print_title(FILE *out, const struct top_cfg *cfg, bool interactive)
{
	char clock[16] = "";
	time_t t = time(NULL);
	struct tm tm;

	if (localtime_r(&t, &tm))
		strftime(clock, sizeof(clock), "%H:%M:%S", &tm);
	fprintf(out, "inferlb top  %s  agent %s  every %.1fs%s\n\n", clock, cli.socket_path,
		cfg->interval_ms / 1000.0, interactive ? "  (q quits)" : "");
}

/* Plain mode: one block per refresh. Exits 1 when the last refresh could not reach the agent. */
static int run_plain(const struct top_cfg *cfg)
{
	struct top_history history = { 0 };
	struct top_snapshot snap;
	bool agent_ok = false;

	for (unsigned int n = 0; !stop_requested && (!cfg->count || n < cfg->count); n++) {
		if (n)
			sleep_ms(cfg->interval_ms);
		if (stop_requested)
			break;
		top_snapshot_take(&snap);
		agent_ok = snap.pools && snap.backends;
		if (cli.json) {
			top_render_json(&history, &snap, stdout);
		} else {
			print_title(stdout, cfg, false);
			top_render_text(&history, &snap, stdout);
			fputc('\n', stdout);
		}
		fflush(stdout);
		top_history_update(&history, &snap);
		top_snapshot_free(&snap);
	}
	top_history_free(&history);
	return agent_ok ? CLI_EXIT_OK : CLI_EXIT_ERROR;
}

/* Draws text (lines separated by '\n') clipped to the screen; the first line in reverse. */
static void draw_screen(const char *text)
{
	int row = 0;

	erase();
	for (const char *line = text; *line && row < LINES; row++) {
		const char *end = strchrnul(line, '\n');

		if (row == 0)
			attron(A_REVERSE);
		else if (!strncmp(line, "Agent unreachable", 17))
			attron(A_BOLD);
		mvaddnstr(row, 0, line, (int)(end - line) < COLS ? (int)(end - line) : COLS);
		attrset(A_NORMAL);
		line = *end ? end + 1 : end;
	}
	refresh();
}

/* Renders one refresh into a string, the same text plain mode prints. */
static char *render_to_string(const struct top_cfg *cfg, const struct top_history *h,
			      const struct top_snapshot *s)
{
	char *text = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&text, &len);

	if (!mem)
		return NULL;
	print_title(mem, cfg, true);
	top_render_text(h, s, mem);
	fclose(mem);
	return text;
}

static int run_curses(const struct top_cfg *cfg)
{
	struct top_history history = { 0 };
	struct top_snapshot snap;
	char *text = NULL;
	bool quit = false;

	setlocale(LC_ALL, "");
	if (!initscr()) {
		cli_error("cannot start the terminal view");
		return CLI_EXIT_ERROR;
	}
	cbreak();
	noecho();
	curs_set(0);
	keypad(stdscr, TRUE);

	for (unsigned int n = 0; !quit && !stop_requested && (!cfg->count || n < cfg->count); n++) {
		double next = now_ms() + cfg->interval_ms;

		top_snapshot_take(&snap);
		free(text);
		text = render_to_string(cfg, &history, &snap);
		top_history_update(&history, &snap);
		top_snapshot_free(&snap);
		draw_screen(text ? text : "out of memory\n");

		/* wait for the next refresh, answering keys and resizes meanwhile */
		while (!quit && !stop_requested) {
			double left = next - now_ms();
			int key;

			if (left <= 0)
				break;
			timeout((int)left);
			key = getch();
			if (key == 'q' || key == 'Q')
				quit = true;
			else if (key == KEY_RESIZE)
				draw_screen(text ? text : "");
		}
	}
	endwin();
	free(text);
	top_history_free(&history);
	return CLI_EXIT_OK;
}

int do_top(int argc, char **argv)
{
	struct top_cfg cfg = { .interval_ms = TOP_DEFAULT_INTERVAL_MS };
	int rc = cli_parse_or_exit(&top_spec, &cfg, argc, argv);

	if (rc >= 0)
		return rc;
	if (cfg.interval_ms < 100)
		return cli_usage_error("top: --interval must be at least 100 ms");
	install_stop_handlers();
	if (!cli.json && isatty(STDOUT_FILENO) && isatty(STDIN_FILENO))
		return run_curses(&cfg);
	return run_plain(&cfg);
}
