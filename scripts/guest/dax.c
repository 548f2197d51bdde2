/*
 * dax: a virtio-fs mount with -o dax in the guest (the "dax" suite): files are
 * read and written through the DAX window, and a shared mapping is the host's
 * page cache, so stores cross in both directions with no request and no
 * timeout.
 *
 *   dax DIR MODE
 *
 * MODE is the mount's dax= mode (always or inode). DIR/ctl/req.SEQ asks the
 * host side (dax_host in scripts/vm-test.sh) for a change ("h2g OFFSET TEXT":
 * write TEXT at OFFSET of DIR/h2g) or a check ("g2h OFFSET TEXT": wait until
 * DIR/g2h holds TEXT at OFFSET, then create DIR/ctl/ok.SEQ, or fail.SEQ after
 * 5 s; "trunc SIZE -": truncate DIR/trunc to SIZE, then create ok.SEQ).
 * Checks:
 *   attr      a 4 MiB file is a DAX file (STATX_ATTR_DAX); under dax=inode a
 *             4 KiB one is not
 *   small     a 100-byte file and a 3 MiB file written, read back, extended
 *             and read again (ranges past the end of the file are mapped)
 *   h2g       a host store into a file the guest holds mapped is seen in the
 *             mapping, with no syscall, within 1 s (prints how soon)
 *   g2h       a guest store into a shared mapping, without msync, is seen by
 *             the host in the file within 5 s
 *   truncate  a file the guest holds mapped is truncated on the host ("trunc
 *             SIZE -": the host side truncates DIR/trunc to SIZE): the
 *             guest's loads past the new end read zeros (QEMU replaces the
 *             lost pages, scripts/qemu/0002) and the VM goes on
 *   pressure  64 files of 4 MiB (more than the window when run with
 *             --dax-window 64M) read twice, their contents checked
 * Prints "dax: P passed, F failed".
 *
 *   dax line DIR
 *
 * Where per-file DAX pays (the "daxline" suite, run on a dax=always and a
 * dax=never mount): for each size, 32 files written, the guest's caches
 * dropped, then each file read whole once (cold) and again (warm); prints
 *   daxline: SIZE cold US warm US
 * in microseconds per file (medians).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef STATX_ATTR_DAX
#define STATX_ATTR_DAX 0x00200000
#endif

#define MIB (1024 * 1024)

static const char *dir;
static int passed, failed, seq;

static double now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static void result(const char *check, int ok, const char *why)
{
	if (ok) {
		passed++;
		printf("dax: ok %s\n", check);
	} else {
		failed++;
		printf("dax: FAIL %s: %s\n", check, why);
	}
}

static char *path(const char *name)
{
	static char p[4][512];
	static int k;
	k = (k + 1) % 4;
	snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
	return p[k];
}

/* A file of `size` bytes whose byte i is pattern(i, salt). */
static unsigned char pattern(size_t i, int salt)
{
	return (unsigned char)((i * 31 + salt * 7 + (i >> 12)) & 0xff);
}

static int put_pattern(const char *p, size_t size, int salt)
{
	unsigned char *buf = malloc(size ? size : 1);
	int fd, ok;
	for (size_t i = 0; i < size; i++)
		buf[i] = pattern(i, salt);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ok = fd >= 0 && write(fd, buf, size) == (ssize_t)size && close(fd) == 0;
	free(buf);
	return ok;
}

/* Whether the file holds pattern(i, salt) for i < size, and nothing more. */
static int check_pattern(const char *p, size_t size, int salt)
{
	unsigned char *buf = malloc(size + 1);
	int fd = open(p, O_RDONLY), ok = 0;
	ssize_t n = -1;
	if (fd >= 0) {
		n = pread(fd, buf, size + 1, 0);
		close(fd);
	}
	if (n == (ssize_t)size) {
		ok = 1;
		for (size_t i = 0; i < size && ok; i++)
			ok = buf[i] == pattern(i, salt);
	}
	free(buf);
	return ok;
}

static int is_dax(const char *p)
{
	struct statx sx;
	if (statx(AT_FDCWD, p, 0, STATX_BASIC_STATS, &sx) != 0)
		return -1;
	return (sx.stx_attributes & STATX_ATTR_DAX) != 0;
}

/*
 * Makes the guest drop its unused dentries and inodes: Linux decides whether a
 * file is a DAX file (dax=inode) when it first sees it, and a file the guest
 * created was empty then.
 */
static void forget(void)
{
	int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);
	if (fd >= 0) {
		if (write(fd, "2", 1) < 0)
			perror("drop_caches");
		close(fd);
	}
}

/* Asks the host side; returns the request's sequence number. */
static int ask(const char *kind, long off, const char *text)
{
	char tmp[512], req[512];
	int n = ++seq;
	FILE *f;
	snprintf(tmp, sizeof tmp, "%s/ctl/tmp.%d", dir, n);
	snprintf(req, sizeof req, "%s/ctl/req.%d", dir, n);
	f = fopen(tmp, "w");
	if (!f)
		return -1;
	fprintf(f, "%s %ld %s\n", kind, off, text);
	fclose(f);
	rename(tmp, req);
	return n;
}

static void check_attr(const char *mode)
{
	int big, small;
	if (!put_pattern(path("attr.big"), 4 * MIB, 1) || !put_pattern(path("attr.small"), 4096, 2)) {
		result("attr", 0, strerror(errno));
		return;
	}
	/* The inode's mode is decided when the guest first sees it: look again. */
	forget();
	big = is_dax(path("attr.big"));
	small = is_dax(path("attr.small"));
	printf("dax: attr: 4 MiB file dax=%d, 4 KiB file dax=%d (mode %s)\n", big, small, mode);
	if (strcmp(mode, "inode") == 0)
		result("attr", big == 1 && small == 0,
		       "not a DAX file at 4 MiB, or one at 4 KiB, under dax=inode");
	else
		result("attr", big == 1 && small == 1, "files are not DAX files under dax=always");
}

static void check_small(void)
{
	const char *p = path("small");
	int ok = put_pattern(p, 100, 3) && check_pattern(p, 100, 3);
	ok = ok && put_pattern(p, 3 * MIB + 5, 4) && check_pattern(p, 3 * MIB + 5, 4);
	/* Extend a file the guest has mapped, then read across the old end. */
	if (ok) {
		int fd = open(p, O_WRONLY | O_APPEND);
		unsigned char b[4096];
		for (size_t i = 0; i < sizeof b; i++)
			b[i] = pattern(3 * MIB + 5 + i, 4);
		ok = fd >= 0 && write(fd, b, sizeof b) == (ssize_t)sizeof b && close(fd) == 0;
		ok = ok && check_pattern(p, 3 * MIB + 5 + sizeof b, 4);
	}
	result("small", ok, "contents differ after write and read back");
}

/*
 * Writes a 4 MiB pattern file, makes the guest look it up anew (so dax=inode
 * maps it) and maps it shared; on failure reports `check` failed and returns
 * MAP_FAILED.
 */
static void *map_pattern(const char *check, const char *p, int salt, int writable, int *fd)
{
	void *m;
	if (!put_pattern(p, 4 * MIB, salt)) {
		result(check, 0, strerror(errno));
		return MAP_FAILED;
	}
	forget();
	*fd = open(p, writable ? O_RDWR : O_RDONLY);
	m = *fd < 0 ? MAP_FAILED
		    : mmap(NULL, 4 * MIB, PROT_READ | (writable ? PROT_WRITE : 0), MAP_SHARED, *fd, 0);
	if (m == MAP_FAILED)
		result(check, 0, strerror(errno));
	return m;
}

static void check_h2g(void)
{
	const char *p = path("h2g");
	const char *text = "host-store-7";
	long off = 3 * MIB + 100;
	volatile char *m;
	double t0, seen = -1;
	int fd;
	m = map_pattern("h2g", p, 5, 0, &fd);
	if (m == MAP_FAILED)
		return;
	(void)m[off]; /* mapped now */
	t0 = now_ms();
	if (ask("h2g", off, text) < 0) {
		result("h2g", 0, "no request");
		return;
	}
	while (now_ms() - t0 < 5000) {
		if (memcmp((const char *)m + off, text, strlen(text)) == 0) {
			seen = now_ms() - t0;
			break;
		}
	}
	printf("dax: h2g: host store seen in the guest's mapping after %.1f ms\n", seen);
	result("h2g", seen >= 0 && seen <= 1000, "not seen within 1 s");
	munmap((void *)m, 4 * MIB);
	close(fd);
}

/* Waits for the host's answer to request n: 1 ok, 0 failed, -1 none in 15 s. */
static int answer(int n)
{
	char ok_path[512], fail_path[512];
	double t0 = now_ms();
	snprintf(ok_path, sizeof ok_path, "%s/ctl/ok.%d", dir, n);
	snprintf(fail_path, sizeof fail_path, "%s/ctl/fail.%d", dir, n);
	while (now_ms() - t0 < 15000) {
		if (access(ok_path, F_OK) == 0)
			return 1;
		if (access(fail_path, F_OK) == 0)
			return 0;
		usleep(10000);
	}
	return -1;
}

static void check_g2h(void)
{
	const char *p = path("g2h");
	const char *text = "guest-store-9";
	long off = MIB + 7;
	char *m;
	int fd, res;
	m = map_pattern("g2h", p, 6, 1, &fd);
	if (m == MAP_FAILED)
		return;
	memcpy(m + off, text, strlen(text)); /* no msync: the window is the host's page cache */
	res = answer(ask("g2h", off, text));
	result("g2h", res == 1, res == 0 ? "the host did not see it within 5 s" : "no answer");
	munmap(m, 4 * MIB);
	close(fd);
}

static void check_truncate(void)
{
	const char *p = path("trunc");
	volatile unsigned char *m;
	unsigned sum = 0;
	struct stat st;
	int fd;
	m = map_pattern("truncate", p, 7, 0, &fd);
	if (m == MAP_FAILED)
		return;
	/* Both 2 MiB ranges mapped, and the bytes as written. */
	if (m[3 * MIB + 1] != pattern(3 * MIB + 1, 7) || m[5] != pattern(5, 7)) {
		result("truncate", 0, "mapped bytes differ before the truncation");
		return;
	}
	if (answer(ask("trunc", MIB, "-")) != 1) {
		result("truncate", 0, "the host did not truncate");
		return;
	}
	/* Past the new end: the host's pages are gone; QEMU must not die of it. */
	for (size_t off = MIB; off < 4 * MIB; off += 4096)
		sum += m[off];
	printf("dax: truncate: loads past the host's new end read %s\n", sum ? "non-zero" : "zeros");
	munmap((void *)m, 4 * MIB);
	close(fd);
	sleep(2); /* past the attribute timeout */
	result("truncate", sum == 0 && stat(p, &st) == 0 && st.st_size == MIB,
	       "bytes past the new end are not zeros, or the size is not the host's");
}

static void check_pressure(void)
{
	char name[64];
	int ok = 1;
	for (int i = 0; i < 64 && ok; i++) {
		snprintf(name, sizeof name, "pressure.%d", i);
		ok = put_pattern(path(name), 4 * MIB, 100 + i);
	}
	for (int round = 0; round < 2 && ok; round++)
		for (int i = 0; i < 64 && ok; i++) {
			snprintf(name, sizeof name, "pressure.%d", i);
			ok = check_pattern(path(name), 4 * MIB, 100 + i);
		}
	result("pressure", ok, "a file read back wrong");
	for (int i = 0; i < 64; i++) {
		snprintf(name, sizeof name, "pressure.%d", i);
		unlink(path(name));
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Reads the whole file; its time in microseconds, or -1. */
static double read_whole(const char *p, unsigned char *buf, size_t size)
{
	double t0 = now_ms();
	int fd = open(p, O_RDONLY);
	ssize_t n, got = 0;
	if (fd < 0)
		return -1;
	while ((n = read(fd, buf + got, size + 1 - got)) > 0)
		got += n;
	close(fd);
	return got == (ssize_t)size ? (now_ms() - t0) * 1e3 : -1;
}

static int line(void)
{
	static const size_t sizes[] = {4096, 65536, 262144, 1 << 20, 2 << 20, 8 << 20};
	enum { FILES = 32 };
	unsigned char *buf = malloc((8 << 20) + 1);
	char name[64];
	for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
		size_t size = sizes[k];
		double cold[FILES], warm[FILES];
		for (int i = 0; i < FILES; i++) {
			snprintf(name, sizeof name, "line.%zu.%d", size, i);
			if (!put_pattern(path(name), size, i)) {
				perror(name);
				return 1;
			}
		}
		sync();
		forget();
		{
			int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);
			if (fd >= 0) {
				if (write(fd, "3", 1) < 0)
					perror("drop_caches");
				close(fd);
			}
		}
		for (int pass = 0; pass < 2; pass++)
			for (int i = 0; i < FILES; i++) {
				snprintf(name, sizeof name, "line.%zu.%d", size, i);
				double us = read_whole(path(name), buf, size);
				if (us < 0) {
					fprintf(stderr, "daxline: %s read short\n", name);
					return 1;
				}
				(pass ? warm : cold)[i] = us;
			}
		qsort(cold, FILES, sizeof cold[0], cmp_double);
		qsort(warm, FILES, sizeof warm[0], cmp_double);
		printf("daxline: %zu cold %.0f warm %.0f\n", size, cold[FILES / 2], warm[FILES / 2]);
		for (int i = 0; i < FILES; i++) {
			snprintf(name, sizeof name, "line.%zu.%d", size, i);
			unlink(path(name));
		}
	}
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "line") == 0) {
		dir = argv[2];
		setvbuf(stdout, NULL, _IOLBF, 0);
		return line();
	}
	if (argc != 3) {
		fprintf(stderr, "usage: dax DIR always|inode, or dax line DIR\n");
		return 2;
	}
	dir = argv[1];
	setvbuf(stdout, NULL, _IOLBF, 0);
	check_attr(argv[2]);
	check_small();
	check_h2g();
	check_g2h();
	check_truncate();
	check_pressure();
	close(open(path("ctl/done"), O_WRONLY | O_CREAT, 0644));
	printf("dax: %d passed, %d failed\n", passed, failed);
	return failed != 0;
}
