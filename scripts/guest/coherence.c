/*
 * coherence: how soon the guest sees host changes, through its caches and its
 * inotify watchers (the "coherence" suite; run with ferry-guest watch attached).
 *
 *   coherence DIR N
 *
 * For each kind of change (create, modify, chmod, delete, rename, mkdir,
 * rmdir) and i < N: the guest sets the stage through the share (and caches it:
 * stat, read, listing), asks the host for the change by creating
 * DIR/ctl/req.SEQ ("KIND I"; the host side is coherence_host in
 * scripts/vm-test.sh), then polls every 2 ms until both stat/read/readdir show
 * the change and its inotify watcher on DIR/w got the expected event. Times
 * are from the request (so they include the host's reaction). Prints
 *   coherence: KIND view median M ms max X ms, event median M ms max X ms
 * and "coherence: P passed, F failed": a kind passes when both medians are
 * <= 200 ms and both maxima <= 1000 ms. A change not seen within 5 s fails.
 * The guest's own changes must not come back as a second event (an echo):
 * each name the guest created must have exactly one IN_CREATE.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *dir;
static int ino_fd;

static double now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static void die(const char *what)
{
	printf("coherence: FAIL %s: %s\n", what, strerror(errno));
	printf("coherence: 0 passed, 1 failed\n");
	exit(1);
}

static void pathf(char *out, size_t n, const char *fmt, int i)
{
	char name[64];
	snprintf(name, sizeof name, fmt, i);
	snprintf(out, n, "%s/w/%s", dir, name);
}

static void put(const char *path, const char *data)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, data, strlen(data)) < 0 || close(fd) < 0)
		die(path);
}

static int get(const char *path, char *buf, size_t n)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	ssize_t r = read(fd, buf, n - 1);
	close(fd);
	if (r < 0)
		return -1;
	buf[r] = 0;
	return 0;
}

static int listed(const char *name)
{
	char w[4096];
	snprintf(w, sizeof w, "%s/w", dir);
	DIR *d = opendir(w);
	if (!d)
		return -1;
	struct dirent *e;
	int found = 0;
	while ((e = readdir(d)))
		if (!strcmp(e->d_name, name))
			found = 1;
	closedir(d);
	return found;
}

/* Names the guest created itself, with their IN_CREATE counts. */
#define MAX_OWN 4096
static char own[MAX_OWN][48];
static int own_creates[MAX_OWN];
static int n_own;

static void own_name(const char *name)
{
	if (n_own < MAX_OWN)
		snprintf(own[n_own++], sizeof own[0], "%s", name);
}

/* Expected event: mask bits and name; set when seen. */
static unsigned want_mask;
static char want_name[64];
static char want_name2[64];
static int seen1, seen2;

static void drain_events(void)
{
	char buf[64 * 1024] __attribute__((aligned(8)));
	for (;;) {
		ssize_t n = read(ino_fd, buf, sizeof buf);
		if (n <= 0)
			return;
		for (char *p = buf; p < buf + n;) {
			struct inotify_event *ev = (struct inotify_event *)p;
			const char *name = ev->len ? ev->name : "";
			if (ev->mask & IN_CREATE)
				for (int k = 0; k < n_own; k++)
					if (!strcmp(own[k], name))
						own_creates[k]++;
			if (want_mask & IN_MOVED_FROM) {
				if ((ev->mask & IN_MOVED_FROM) && !strcmp(name, want_name))
					seen1 = 1;
				if ((ev->mask & IN_MOVED_TO) && !strcmp(name, want_name2))
					seen2 = 1;
			} else if ((ev->mask & want_mask) && !strcmp(name, want_name)) {
				seen1 = seen2 = 1;
			}
			p += sizeof *ev + ev->len;
		}
	}
}

enum kind { CREATE, MODIFY, CHMOD, DELETE, RENAME, MKDIR, RMDIR, KINDS };
static const char *kind_name[KINDS] = { "create", "modify", "chmod", "delete",
					"rename", "mkdir", "rmdir" };
static const char *fmt[KINDS] = { "new.%d", "mod.%d", "chm.%d", "del.%d",
				  "ren.%d", "dir.%d", "rdir.%d" };

/* Sets the stage for change i of kind k and fills the guest's caches. */
static void stage(enum kind k, int i, char *p, size_t n)
{
	char q[4200], buf[64];
	struct stat st;
	pathf(p, n, fmt[k], i);
	const char *name = strrchr(p, '/') + 1;
	switch (k) {
	case CREATE:
	case MKDIR:
		stat(p, &st); /* a negative entry */
		break;
	case MODIFY:
		put(p, "v0");
		own_name(name);
		get(p, buf, sizeof buf); /* cached pages */
		break;
	case CHMOD:
	case DELETE:
		put(p, "x");
		own_name(name);
		stat(p, &st);
		break;
	case RENAME:
		put(p, "r");
		own_name(name);
		stat(p, &st);
		snprintf(q, sizeof q, "%s.new", p);
		stat(q, &st);
		break;
	case RMDIR:
		if (mkdir(p, 0755))
			die(p);
		own_name(name);
		stat(p, &st);
		break;
	default:
		break;
	}
	listed(name); /* a cached listing */
}

/* Whether the guest's view shows change i of kind k. */
static int visible(enum kind k, const char *p)
{
	struct stat st;
	char buf[64], q[4200];
	const char *name = strrchr(p, '/') + 1;
	switch (k) {
	case CREATE:
		return stat(p, &st) == 0 && listed(name) == 1;
	case MODIFY:
		return get(p, buf, sizeof buf) == 0 && !strcmp(buf, "v1-longer\n");
	case CHMOD:
		return stat(p, &st) == 0 && (st.st_mode & 07777) == 0600;
	case DELETE:
	case RMDIR:
		return stat(p, &st) < 0 && errno == ENOENT && listed(name) == 0;
	case RENAME:
		snprintf(q, sizeof q, "%s.new", p);
		return stat(p, &st) < 0 && stat(q, &st) == 0 && listed(name) == 0;
	case MKDIR:
		return stat(p, &st) == 0 && S_ISDIR(st.st_mode) && listed(name) == 1;
	default:
		return 0;
	}
}

static void expect(enum kind k, const char *p)
{
	const char *name = strrchr(p, '/') + 1;
	static const unsigned mask[KINDS] = { IN_CREATE, IN_MODIFY | IN_CLOSE_WRITE, IN_ATTRIB,
					      IN_DELETE, IN_MOVED_FROM, IN_CREATE, IN_DELETE };
	want_mask = mask[k];
	snprintf(want_name, sizeof want_name, "%s", name);
	snprintf(want_name2, sizeof want_name2, "%s.new", name);
	seen1 = seen2 = 0;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: coherence DIR N\n");
		return 2;
	}
	dir = argv[1];
	int n = atoi(argv[2]);
	if (n < 1 || n > 500)
		n = 20;
	char w[4000], ctl[4000];
	snprintf(w, sizeof w, "%s/w", dir);
	snprintf(ctl, sizeof ctl, "%s/ctl", dir);
	mkdir(dir, 0755);
	if ((mkdir(w, 0755) && errno != EEXIST) || (mkdir(ctl, 0755) && errno != EEXIST))
		die("mkdir");
	ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (ino_fd < 0 || inotify_add_watch(ino_fd, w, IN_ALL_EVENTS) < 0)
		die("inotify");

	double *view = calloc((size_t)n * KINDS, sizeof(double));
	double *event = calloc((size_t)n * KINDS, sizeof(double));
	int passed = 0, failed = 0, seq = 0;
	for (int k = 0; k < KINDS; k++) {
		int missed = 0;
		for (int i = 0; i < n; i++) {
			char p[4000], req[4096], line[64];
			stage(k, i, p, sizeof p);
			drain_events();
			expect(k, p);
			snprintf(req, sizeof req, "%s/req.%d", ctl, seq++);
			snprintf(line, sizeof line, "%s %d\n", kind_name[k], i);
			double t0 = now_ms(), tv = -1, te = -1;
			put(req, line);
			while (now_ms() - t0 < 5000 && (tv < 0 || te < 0)) {
				drain_events();
				if (te < 0 && seen1 && seen2)
					te = now_ms() - t0;
				if (tv < 0 && visible(k, p))
					tv = now_ms() - t0;
				usleep(2000);
			}
			if (tv < 0 || te < 0) {
				printf("coherence: %s %d: %s not seen in 5 s\n", kind_name[k], i,
				       tv < 0 ? "the change" : "the inotify event");
				missed++;
			}
			view[k * n + i] = tv < 0 ? 5000 : tv;
			event[k * n + i] = te < 0 ? 5000 : te;
		}
		qsort(view + k * n, n, sizeof(double), cmp);
		qsort(event + k * n, n, sizeof(double), cmp);
		double vm = view[k * n + n / 2], vx = view[k * n + n - 1];
		double em = event[k * n + n / 2], ex = event[k * n + n - 1];
		printf("coherence: %s view median %.0f ms max %.0f ms, event median %.0f ms max %.0f ms\n",
		       kind_name[k], vm, vx, em, ex);
		if (!missed && vm <= 200 && em <= 200 && vx <= 1000 && ex <= 1000)
			passed++;
		else
			failed++;
	}
	drain_events();
	int echoes = 0;
	for (int k = 0; k < n_own; k++)
		if (own_creates[k] != 1) {
			if (echoes++ < 5)
				printf("coherence: %s: %d IN_CREATE events (want 1)\n", own[k],
				       own_creates[k]);
		}
	if (echoes)
		failed++;
	else
		passed++;
	printf("coherence: no echoes of the guest's own %d creates: %s\n", n_own,
	       echoes ? "FAIL" : "ok");
	char done[4096];
	snprintf(done, sizeof done, "%s/done", ctl);
	put(done, "");
	printf("coherence: %d passed, %d failed\n", passed, failed);
	return failed != 0;
}
