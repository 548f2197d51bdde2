/*
 * ferry-perf: the timed parts of the guest's "perf" suite (scripts/guest/perf.sh) that a
 * busybox shell loop would drown in fork/exec cost. Packed statically into perf.cpio.gz by
 * scripts/prepare-guest.sh. Every figure is wall time from CLOCK_MONOTONIC, printed in
 * seconds on stdout as "<seconds> <count>".
 *
 *   ferry-perf create DIR FILES DIRS SIZE   mkdir DIR/dNNN (DIRS of them), then FILES files
 *                                           of SIZE bytes spread round-robin over them
 *                                           (open O_CREAT|O_EXCL, one write, close)
 *   ferry-perf list DIR                     list DIR recursively by name (timed): readdir
 *                                           only, no stat but of a DT_UNKNOWN entry
 *   ferry-perf lstat DIR PASSES             list DIR recursively (not timed), then lstat
 *                                           every entry PASSES times (timed)
 *   ferry-perf run CMD [ARG...]             run CMD with its stdout read through a pipe
 *                                           and thrown away; count = bytes read
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what, const char *path)
{
	fprintf(stderr, "ferry-perf: %s %s: %s\n", what, path ? path : "", strerror(errno));
	exit(1);
}

static int cmd_create(const char *dir, long files, long dirs, long size)
{
	char path[4096];
	char *buf = malloc(size > 0 ? size : 1);
	if (!buf)
		die("malloc", NULL);
	for (long i = 0; i < size; i++)
		buf[i] = 'a' + i % 26;
	double t0 = now();
	if (mkdir(dir, 0755) && errno != EEXIST)
		die("mkdir", dir);
	for (long d = 0; d < dirs; d++) {
		snprintf(path, sizeof path, "%s/d%03ld", dir, d);
		if (mkdir(path, 0755))
			die("mkdir", path);
	}
	for (long i = 0; i < files; i++) {
		snprintf(path, sizeof path, "%s/d%03ld/f%06ld", dir, i % dirs, i);
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
		if (fd < 0)
			die("open", path);
		if (size > 0 && write(fd, buf, size) != size)
			die("write", path);
		if (close(fd))
			die("close", path);
	}
	double t1 = now();
	printf("%.6f %ld\n", t1 - t0, files);
	return 0;
}

static char **paths;
static size_t npaths, cap;

static void walk(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		die("opendir", dir);
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		char *p;
		if (asprintf(&p, "%s/%s", dir, e->d_name) < 0)
			die("asprintf", NULL);
		if (npaths == cap) {
			cap = cap ? cap * 2 : 4096;
			paths = realloc(paths, cap * sizeof *paths);
			if (!paths)
				die("realloc", NULL);
		}
		paths[npaths++] = p;
		struct stat st;
		if (e->d_type == DT_DIR ||
		    (e->d_type == DT_UNKNOWN && !lstat(p, &st) && S_ISDIR(st.st_mode)))
			walk(p);
	}
	closedir(d);
}

static int cmd_list(const char *dir)
{
	double t0 = now();
	walk(dir);
	double t1 = now();
	printf("%.6f %zu\n", t1 - t0, npaths);
	return 0;
}

static void lstat_all(void)
{
	struct stat st;
	for (size_t i = 0; i < npaths; i++)
		if (lstat(paths[i], &st))
			die("lstat", paths[i]);
}

static int cmd_lstat(const char *dir, long passes)
{
	walk(dir);
	double t0 = now();
	for (long k = 0; k < passes; k++)
		lstat_all();
	double t1 = now();
	printf("%.6f %zu\n", t1 - t0, npaths * passes);
	return 0;
}

/* A warm "git status": each pass lists every directory again (readdir, as git looks for
 * untracked files) and lstats every entry (as git checks the index against the tree). */
static int cmd_status(const char *dir, long passes)
{
	walk(dir);
	double t0 = now();
	for (long k = 0; k < passes; k++) {
		for (size_t i = 0; i < npaths; i++)
			free(paths[i]);
		npaths = 0;
		walk(dir);
		lstat_all();
	}
	double t1 = now();
	printf("%.6f %zu\n", t1 - t0, npaths * passes);
	return 0;
}

static int cmd_run(char **argv)
{
	int p[2];
	if (pipe(p))
		die("pipe", NULL);
	double t0 = now();
	pid_t pid = fork();
	if (pid < 0)
		die("fork", NULL);
	if (pid == 0) {
		dup2(p[1], 1);
		close(p[0]);
		close(p[1]);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(p[1]);
	static char buf[1 << 16];
	long long bytes = 0;
	ssize_t n;
	while ((n = read(p[0], buf, sizeof buf)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("read", NULL);
		}
		bytes += n;
	}
	int status;
	if (waitpid(pid, &status, 0) < 0)
		die("waitpid", NULL);
	double t1 = now();
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "ferry-perf: %s failed (status %d)\n", argv[0], status);
		return 1;
	}
	printf("%.6f %lld\n", t1 - t0, bytes);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 6 && !strcmp(argv[1], "create"))
		return cmd_create(argv[2], atol(argv[3]), atol(argv[4]), atol(argv[5]));
	if (argc >= 3 && !strcmp(argv[1], "list"))
		return cmd_list(argv[2]);
	if (argc >= 4 && !strcmp(argv[1], "lstat"))
		return cmd_lstat(argv[2], atol(argv[3]));
	if (argc >= 4 && !strcmp(argv[1], "status"))
		return cmd_status(argv[2], atol(argv[3]));
	if (argc >= 3 && !strcmp(argv[1], "run"))
		return cmd_run(argv + 2);
	fprintf(stderr, "usage: ferry-perf create DIR FILES DIRS SIZE | list DIR | lstat DIR PASSES | "
			"status DIR PASSES | run CMD [ARG...]\n");
	return 2;
}
