/*
 * POSIX smoke test for a virtio-fs mount, run inside the test guest.
 *
 *   smoke DIR
 *
 * Every check prints "ok NAME", "skip NAME: why" or "FAIL NAME: why", and the
 * last line is "smoke: N passed, N failed, N skipped".  Exit status is 0 iff
 * nothing failed.  DIR/mmap_marker is left behind holding "mmap-marker-ok",
 * written through a MAP_SHARED mapping; the host checks it after the VM exits.
 *
 * Build: gcc -O2 -static -o smoke smoke.c
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#define SKIP 1
#define FUSE_SUPER_MAGIC 0x65735546
#define MARKER "mmap-marker-ok"

static char why[512];

static int failf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	return -1;
}

/* A system call that must not return a negative value. */
#define SYS(x) do { errno = 0; if ((x) < 0) \
	return failf("%s (line %d: %s)", strerror(errno), __LINE__, #x); } while (0)
/* A system call that must fail with errno E. */
#define SYS_ERR(x, e) do { errno = 0; if ((x) >= 0) \
	return failf("succeeded, expected %s (line %d: %s)", strerror(e), __LINE__, #x); \
	else if (errno != (e)) return failf("%s, expected %s (line %d: %s)", \
					    strerror(errno), strerror(e), __LINE__, #x); } while (0)
/* Any other condition. */
#define CHK(c) do { if (!(c)) \
	return failf("check failed (line %d: %s)", __LINE__, #c); } while (0)
#define NOT_SUPPORTED(...) (snprintf(why, sizeof(why), __VA_ARGS__), SKIP)

static int put(const char *path, const char *s)
{
	int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
	if (fd < 0)
		return -1;
	size_t n = strlen(s);
	ssize_t w = write(fd, s, n);
	if (close(fd) < 0 || w != (ssize_t)n)
		return -1;
	return 0;
}

/* Whole content of PATH equals S. */
static int content_is(const char *path, const char *s)
{
	char buf[4096];
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf));
	close(fd);
	return n == (ssize_t)strlen(s) && memcmp(buf, s, n) == 0;
}

static int all_zero(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

static int t_create_write_read(void)
{
	struct stat st;
	unlink("cwr");
	SYS(put("cwr", "hello world"));
	CHK(content_is("cwr", "hello world"));
	SYS(stat("cwr", &st));
	CHK(S_ISREG(st.st_mode) && st.st_size == 11);
	return 0;
}

static int t_append(void)
{
	int fd;
	SYS(put("app", "abc"));
	SYS(fd = open("app", O_WRONLY | O_APPEND));
	SYS(lseek(fd, 0, SEEK_SET));
	CHK(write(fd, "def", 3) == 3);
	SYS(close(fd));
	CHK(content_is("app", "abcdef"));
	return 0;
}

static int t_ftruncate_grow(void)
{
	char buf[4096];
	int fd;
	struct stat st;
	SYS(put("trunc", "hello world"));
	SYS(fd = open("trunc", O_RDWR));
	SYS(ftruncate(fd, 4096));
	SYS(fstat(fd, &st));
	CHK(st.st_size == 4096);
	CHK(pread(fd, buf, sizeof(buf), 0) == 4096);
	CHK(memcmp(buf, "hello world", 11) == 0 && all_zero(buf + 11, 4096 - 11));
	SYS(close(fd));
	return 0;
}

static int t_truncate_shrink_grow(void)
{
	char buf[200];
	struct stat st;
	int fd;
	SYS(truncate("trunc", 5));
	SYS(stat("trunc", &st));
	CHK(st.st_size == 5);
	CHK(content_is("trunc", "hello"));
	SYS(truncate("trunc", 100));
	SYS(fd = open("trunc", O_RDONLY));
	CHK(read(fd, buf, sizeof(buf)) == 100);
	SYS(close(fd));
	CHK(memcmp(buf, "hello", 5) == 0 && all_zero(buf + 5, 95));
	return 0;
}

static int t_rename(void)
{
	SYS(put("ren_a", "A"));
	SYS(rename("ren_a", "ren_b"));
	SYS_ERR(access("ren_a", F_OK), ENOENT);
	CHK(content_is("ren_b", "A"));
	return 0;
}

static int t_rename_over(void)
{
	SYS(put("ren_c", "C"));
	SYS(rename("ren_b", "ren_c"));
	SYS_ERR(access("ren_b", F_OK), ENOENT);
	CHK(content_is("ren_c", "A"));
	return 0;
}

static int t_rename_noreplace(void)
{
	SYS(put("ren_d", "D"));
	SYS_ERR(renameat2(AT_FDCWD, "ren_c", AT_FDCWD, "ren_d", RENAME_NOREPLACE), EEXIST);
	CHK(content_is("ren_c", "A") && content_is("ren_d", "D"));
	return 0;
}

/* Whether /mnt (where the suite runs) is a 9P mount. Not by statfs: a 9P server reports
 * the host's filesystem type there (QEMU's does), or v9fs's own (ferryd's). */
static int on_9p(void)
{
	char line[512];
	int found = 0;
	FILE *f = fopen("/proc/mounts", "r");
	if (!f)
		return 0;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, " /mnt 9p ") != NULL;
	fclose(f);
	return found;
}

/* The share is served by a POSIX-only backend (SMOKE_POSIX=1: ferryd --backend portable),
 * which has neither renameat2's flags nor fallocate's modes. */
static int posix_only(void)
{
	const char *v = getenv("SMOKE_POSIX");
	return v && strcmp(v, "1") == 0;
}

static int t_rename_exchange(void)
{
	/* 9P2000.L's Trenameat has no flags: Linux's client refuses RENAME_EXCHANGE itself. */
	if ((on_9p() || posix_only()) &&
	    renameat2(AT_FDCWD, "ren_c", AT_FDCWD, "ren_d", RENAME_EXCHANGE) < 0 && errno == EINVAL) {
		SYS(unlink("ren_c"));
		SYS(unlink("ren_d"));
		return NOT_SUPPORTED("RENAME_EXCHANGE: EINVAL from %s",
				     on_9p() ? "the 9P client" : "a POSIX-only backend");
	}
	SYS(renameat2(AT_FDCWD, "ren_c", AT_FDCWD, "ren_d", RENAME_EXCHANGE));
	CHK(content_is("ren_c", "D") && content_is("ren_d", "A"));
	SYS(unlink("ren_c"));
	SYS(unlink("ren_d"));
	return 0;
}

static int t_symlink(void)
{
	char buf[256];
	struct stat st;
	ssize_t n;
	unlink("sl");
	SYS(symlink("cwr", "sl"));
	SYS(n = readlink("sl", buf, sizeof(buf)));
	CHK(n == 3 && memcmp(buf, "cwr", 3) == 0);
	SYS(lstat("sl", &st));
	CHK(S_ISLNK(st.st_mode));
	CHK(content_is("sl", "hello world")); /* followed */
	return 0;
}

static int t_hardlink(void)
{
	struct stat a, b;
	unlink("hl");
	SYS(link("cwr", "hl"));
	SYS(stat("cwr", &a));
	SYS(stat("hl", &b));
	CHK(a.st_ino == b.st_ino && a.st_nlink == 2 && b.st_nlink == 2);
	SYS(unlink("hl"));
	SYS(stat("cwr", &a));
	CHK(a.st_nlink == 1);
	return 0;
}

static int t_chmod(void)
{
	struct stat st;
	int fd;
	SYS(chmod("cwr", 0640));
	SYS(stat("cwr", &st));
	CHK((st.st_mode & 07777) == 0640);
	SYS(fd = open("cwr", O_RDONLY));
	SYS(fchmod(fd, 0604));
	SYS(fstat(fd, &st));
	SYS(close(fd));
	CHK((st.st_mode & 07777) == 0604);
	return 0;
}

static int t_chown(void)
{
	struct stat st;
	SYS(chown("cwr", 1000, 1000));
	SYS(stat("cwr", &st));
	CHK(st.st_uid == 1000 && st.st_gid == 1000);
	SYS(chown("cwr", 0, 0));
	return 0;
}

static int t_utimensat(void)
{
	struct timespec ts[2] = { { 1000000000, 123456789 }, { 1500000000, 500000000 } };
	struct stat st;
	SYS(utimensat(AT_FDCWD, "cwr", ts, 0));
	SYS(stat("cwr", &st));
	CHK(st.st_atim.tv_sec == ts[0].tv_sec && st.st_atim.tv_nsec == ts[0].tv_nsec);
	CHK(st.st_mtim.tv_sec == ts[1].tv_sec && st.st_mtim.tv_nsec == ts[1].tv_nsec);
	return 0;
}

/* Write S through a MAP_SHARED mapping of a fresh file of exactly strlen(S). */
static int mmap_write(const char *path, const char *s)
{
	size_t n = strlen(s);
	char *p;
	int fd;
	SYS(fd = open(path, O_CREAT | O_TRUNC | O_RDWR, 0644));
	SYS(ftruncate(fd, n));
	errno = 0;
	p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return failf("%s (mmap)", strerror(errno));
	memcpy(p, s, n);
	SYS(msync(p, n, MS_SYNC));
	SYS(munmap(p, n));
	SYS(close(fd));
	return 0;
}

static int t_mmap_shared(void)
{
	char buf[64];
	int fd;
	if (mmap_write("mm", "written-through-mmap") < 0)
		return -1;
	SYS(fd = open("mm", O_RDONLY));
	CHK(read(fd, buf, sizeof(buf)) == 20 && memcmp(buf, "written-through-mmap", 20) == 0);
	SYS(close(fd));
	SYS(unlink("mm"));
	return 0;
}

static int t_mmap_marker(void)
{
	if (mmap_write("mmap_marker", MARKER) < 0)
		return -1;
	CHK(content_is("mmap_marker", MARKER));
	return 0;
}

static int t_fsync(void)
{
	int fd;
	SYS(fd = open("cwr", O_RDWR));
	CHK(pwrite(fd, "H", 1, 0) == 1);
	SYS(fsync(fd));
	CHK(pwrite(fd, "h", 1, 0) == 1);
	SYS(fdatasync(fd));
	SYS(close(fd));
	CHK(content_is("cwr", "hello world"));
	return 0;
}

static int xattr_ok = 1;

static int t_setxattr(void)
{
	errno = 0;
	if (setxattr("cwr", "user.ferry", "value", 5, 0) < 0 &&
	    (errno == EOPNOTSUPP || errno == ENOTSUP)) {
		xattr_ok = 0;
		return NOT_SUPPORTED("xattrs not supported");
	}
	SYS(setxattr("cwr", "user.ferry", "value", 5, XATTR_REPLACE));
	return 0;
}

static int t_getxattr(void)
{
	char buf[64];
	ssize_t n;
	if (!xattr_ok)
		return NOT_SUPPORTED("xattrs not supported");
	SYS(n = getxattr("cwr", "user.ferry", buf, sizeof(buf)));
	CHK(n == 5 && memcmp(buf, "value", 5) == 0);
	return 0;
}

static int t_listxattr(void)
{
	char buf[4096];
	ssize_t n;
	if (!xattr_ok)
		return NOT_SUPPORTED("xattrs not supported");
	SYS(n = listxattr("cwr", buf, sizeof(buf)));
	for (ssize_t i = 0; i < n; i += strlen(buf + i) + 1)
		if (strcmp(buf + i, "user.ferry") == 0)
			return 0;
	return failf("user.ferry not in listxattr");
}

static int t_removexattr(void)
{
	char buf[64];
	if (!xattr_ok)
		return NOT_SUPPORTED("xattrs not supported");
	SYS(removexattr("cwr", "user.ferry"));
	SYS_ERR(getxattr("cwr", "user.ferry", buf, sizeof(buf)), ENODATA);
	return 0;
}

static int t_flock(void)
{
	int a, b;
	SYS(a = open("cwr", O_RDONLY));
	SYS(b = open("cwr", O_RDONLY));
	SYS(flock(a, LOCK_EX));
	SYS_ERR(flock(b, LOCK_EX | LOCK_NB), EWOULDBLOCK);
	SYS(flock(a, LOCK_UN));
	SYS(flock(b, LOCK_EX | LOCK_NB));
	SYS(close(a));
	SYS(close(b));
	return 0;
}

static int t_fcntl_lock(void)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0 };
	int fd, status;
	pid_t pid;
	SYS(fd = open("cwr", O_RDWR));
	SYS(fcntl(fd, F_SETLK, &fl));
	SYS(pid = fork());
	if (pid == 0) {
		struct flock q = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
		int cfd = open("cwr", O_RDWR);
		if (cfd < 0 || fcntl(cfd, F_GETLK, &q) < 0)
			_exit(2);
		if (q.l_type != F_WRLCK)
			_exit(3); /* conflict not seen */
		q.l_type = F_WRLCK;
		if (fcntl(cfd, F_SETLK, &q) == 0 || (errno != EAGAIN && errno != EACCES))
			_exit(4); /* lock granted despite the conflict */
		_exit(0);
	}
	SYS(waitpid(pid, &status, 0));
	fl.l_type = F_UNLCK;
	SYS(fcntl(fd, F_SETLK, &fl));
	SYS(close(fd));
	CHK(WIFEXITED(status));
	if (WEXITSTATUS(status) != 0)
		return failf("child exit %d (2: syscall, 3: no conflict, 4: lock granted)",
			     WEXITSTATUS(status));
	return 0;
}

#define BIG ((off_t)5 << 30)

static int t_sparse(void)
{
	char c = 0, z[4096];
	struct stat st;
	int fd;
	unlink("sparse");
	SYS(fd = open("sparse", O_CREAT | O_RDWR, 0644));
	CHK(pwrite(fd, "X", 1, BIG) == 1);
	SYS(fstat(fd, &st));
	CHK(st.st_size == BIG + 1);
	CHK(pread(fd, &c, 1, BIG) == 1 && c == 'X');
	CHK(pread(fd, z, sizeof(z), (off_t)1 << 30) == sizeof(z) && all_zero(z, sizeof(z)));
	SYS(close(fd));
	return 0;
}

static int t_seek_data_hole(void)
{
	off_t data, hole;
	int fd;
	SYS(fd = open("sparse", O_RDONLY));
	errno = 0;
	data = lseek(fd, 0, SEEK_DATA);
	if (data < 0 && (errno == EINVAL || errno == EOPNOTSUPP)) {
		close(fd);
		return NOT_SUPPORTED("SEEK_DATA: %s", strerror(errno));
	}
	if (data < 0)
		return close(fd), failf("%s (lseek SEEK_DATA)", strerror(errno));
	SYS(hole = lseek(fd, 0, SEEK_HOLE));
	/* Without hole support the whole file is data: data 0, hole at EOF. */
	CHK(data >= 0 && data <= BIG);
	CHK(hole == 0 || hole == BIG + 1);
	CHK(lseek(fd, BIG, SEEK_HOLE) == BIG + 1);
	SYS_ERR(lseek(fd, BIG + 1, SEEK_DATA), ENXIO);
	SYS(close(fd));
	SYS(unlink("sparse"));
	return 0;
}

#define NFILES 50

static int t_mkdir_readdir(void)
{
	char name[64], seen[NFILES] = { 0 };
	struct dirent *de;
	struct stat st;
	int n = 0;
	DIR *d;
	SYS(mkdir("d50", 0755));
	SYS(stat("d50", &st));
	CHK(S_ISDIR(st.st_mode));
	for (int i = 0; i < NFILES; i++) {
		snprintf(name, sizeof(name), "d50/file-%02d", i);
		SYS(put(name, name));
	}
	errno = 0;
	if (!(d = opendir("d50")))
		return failf("%s (opendir)", strerror(errno));
	while ((de = readdir(d))) {
		int i;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (sscanf(de->d_name, "file-%d", &i) == 1 && i >= 0 && i < NFILES && !seen[i])
			seen[i] = 1, n++;
		else
			return closedir(d), failf("unexpected entry %s", de->d_name);
	}
	closedir(d);
	CHK(n == NFILES);
	return 0;
}

/* Linux file systems, and virtiofsd, list "." and ".." too. */
static int t_readdir_dots(void)
{
	struct dirent *de;
	int dot = 0, dotdot = 0;
	DIR *d;
	errno = 0;
	if (!(d = opendir("d50")))
		return failf("%s (opendir)", strerror(errno));
	while ((de = readdir(d))) {
		dot += !strcmp(de->d_name, ".");
		dotdot += !strcmp(de->d_name, "..");
	}
	closedir(d);
	if (dot != 1 || dotdot != 1)
		return failf("readdir listed \".\" %d times and \"..\" %d times", dot, dotdot);
	return 0;
}

static int t_rmdir(void)
{
	char name[64];
	SYS_ERR(rmdir("d50"), ENOTEMPTY);
	for (int i = 0; i < NFILES; i++) {
		snprintf(name, sizeof(name), "d50/file-%02d", i);
		SYS(unlink(name));
	}
	SYS(rmdir("d50"));
	SYS_ERR(access("d50", F_OK), ENOENT);
	return 0;
}

static int t_unlink(void)
{
	char buf[16];
	int fd;
	SYS(put("unl", "still here"));
	SYS(fd = open("unl", O_RDONLY));
	SYS(unlink("unl"));
	SYS_ERR(access("unl", F_OK), ENOENT);
	CHK(read(fd, buf, sizeof(buf)) == 10 && memcmp(buf, "still here", 10) == 0);
	SYS(close(fd));
	return 0;
}

static int t_statfs(void)
{
	struct statfs sf;
	SYS(statfs(".", &sf));
	CHK(sf.f_type == FUSE_SUPER_MAGIC || on_9p());
	CHK(sf.f_bsize > 0 && sf.f_blocks > 0 && sf.f_bfree <= sf.f_blocks);
	return 0;
}

static int t_o_excl(void)
{
	int fd;
	unlink("excl");
	SYS(fd = open("excl", O_CREAT | O_EXCL | O_WRONLY, 0600));
	SYS(close(fd));
	SYS_ERR(open("excl", O_CREAT | O_EXCL | O_WRONLY, 0600), EEXIST);
	SYS(unlink("excl"));
	return 0;
}

static int t_fallocate(void)
{
	struct stat st;
	int fd, r;
	SYS(fd = open("falloc", O_CREAT | O_TRUNC | O_RDWR, 0644));
	errno = 0;
	r = fallocate(fd, 0, 0, 1 << 20);
	if (r < 0 && errno == EOPNOTSUPP) {
		close(fd);
		return NOT_SUPPORTED("fallocate: %s", strerror(errno));
	}
	SYS(r);
	SYS(fstat(fd, &st));
	CHK(st.st_size == 1 << 20 && st.st_blocks * 512 >= (1 << 20));
	r = fallocate(fd, FALLOC_FL_KEEP_SIZE, 1 << 20, 1 << 20);
	if (r < 0 && errno == EOPNOTSUPP && posix_only()) {
		close(fd);
		SYS(unlink("falloc"));
		return NOT_SUPPORTED("FALLOC_FL_KEEP_SIZE: not POSIX");
	}
	SYS(r);
	SYS(fstat(fd, &st));
	CHK(st.st_size == 1 << 20);
	SYS(close(fd));
	SYS(unlink("falloc"));
	return 0;
}

static int t_copy_file_range(void)
{
	static char src[100000], dst[100000];
	loff_t in = 0, out = 0;
	ssize_t n;
	int a, b;
	for (size_t i = 0; i < sizeof(src); i++)
		src[i] = (char)(i * 7 + i / 251);
	SYS(a = open("cfr_src", O_CREAT | O_TRUNC | O_RDWR, 0644));
	CHK(write(a, src, sizeof(src)) == sizeof(src));
	SYS(b = open("cfr_dst", O_CREAT | O_TRUNC | O_RDWR, 0644));
	while (in < (loff_t)sizeof(src)) {
		SYS(n = copy_file_range(a, &in, b, &out, sizeof(src) - in, 0));
		CHK(n > 0);
	}
	CHK(pread(b, dst, sizeof(dst), 0) == sizeof(dst) && memcmp(src, dst, sizeof(src)) == 0);
	SYS(close(a));
	SYS(close(b));
	SYS(unlink("cfr_src"));
	SYS(unlink("cfr_dst"));
	return 0;
}

/*
 * POSIX ACLs, when the share has them (SMOKE_ACL=1 in the environment: ferry.acl=1
 * on the guest's command line, for ferryd --posix-acl): a default ACL on a
 * directory decides a new file's mode instead of the umask (022 here) and is
 * inherited as its access ACL, and the kernel enforces a named user's entry.
 * (Without FUSE_POSIX_ACL the guest passes the xattrs through unenforced, so
 * the mount itself cannot tell.)
 */
static void acl_entry(unsigned char *p, uint16_t tag, uint16_t perm, uint32_t id)
{
	memcpy(p, &tag, 2);
	memcpy(p + 2, &perm, 2);
	memcpy(p + 4, &id, 4);
}

static int as_user_open(const char *path, uid_t uid)
{
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (setgid(uid) < 0 || setuid(uid) < 0)
			_exit(2);
		int fd = open(path, O_WRONLY);
		_exit(fd >= 0 ? 0 : errno == EACCES ? 1 : 3);
	}
	int st;
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

static int t_posix_acl(void)
{
	unsigned char acl[4 + 5 * 8], got[256];
	uint32_t version = 2;
	if (!getenv("SMOKE_ACL"))
		return NOT_SUPPORTED("the share was not started with POSIX ACLs (ferry.acl=1)");
	memcpy(acl, &version, 4);
	acl_entry(acl + 4, 0x01, 7, (uint32_t)-1);   /* user::rwx */
	acl_entry(acl + 12, 0x02, 7, 1000);          /* user:1000:rwx */
	acl_entry(acl + 20, 0x04, 5, (uint32_t)-1);  /* group::r-x */
	acl_entry(acl + 28, 0x10, 7, (uint32_t)-1);  /* mask::rwx */
	acl_entry(acl + 36, 0x20, 5, (uint32_t)-1);  /* other::r-x */
	SYS(mkdir("acl", 0777));
	if (setxattr("acl", "system.posix_acl_default", acl, sizeof(acl), 0) < 0) {
		int e = errno;
		rmdir("acl");
		return failf("setxattr system.posix_acl_default: %s", strerror(e));
	}
	int fd;
	SYS(fd = open("acl/f", O_CREAT | O_WRONLY, 0666));
	close(fd);
	struct stat st;
	SYS(stat("acl/f", &st));
	if ((st.st_mode & 07777) != 0664)
		return failf("mode %o under a default ACL, expected 664", st.st_mode & 07777);
	ssize_t n;
	SYS(n = getxattr("acl/f", "system.posix_acl_access", got, sizeof(got)));
	CHK(n == (ssize_t)sizeof(acl));
	/* user 1000 may write (rwx within mask rw-); user 2000 (other r--) may not. */
	CHK(as_user_open("acl/f", 1000) == 0);
	CHK(as_user_open("acl/f", 2000) == 1);
	SYS(unlink("acl/f"));
	SYS(rmdir("acl"));
	return 0;
}

static const struct {
	const char *name;
	int (*fn)(void);
} tests[] = {
	{ "create_write_read", t_create_write_read },
	{ "append", t_append },
	{ "ftruncate_grow", t_ftruncate_grow },
	{ "truncate_shrink_grow", t_truncate_shrink_grow },
	{ "rename", t_rename },
	{ "rename_over", t_rename_over },
	{ "rename_noreplace", t_rename_noreplace },
	{ "rename_exchange", t_rename_exchange },
	{ "symlink_readlink", t_symlink },
	{ "hardlink", t_hardlink },
	{ "chmod", t_chmod },
	{ "chown", t_chown },
	{ "utimensat", t_utimensat },
	{ "mmap_shared", t_mmap_shared },
	{ "mmap_marker", t_mmap_marker },
	{ "fsync_fdatasync", t_fsync },
	{ "setxattr", t_setxattr },
	{ "getxattr", t_getxattr },
	{ "listxattr", t_listxattr },
	{ "removexattr", t_removexattr },
	{ "flock", t_flock },
	{ "fcntl_lock", t_fcntl_lock },
	{ "sparse_5g", t_sparse },
	{ "seek_data_hole", t_seek_data_hole },
	{ "mkdir_readdir", t_mkdir_readdir },
	{ "readdir_dots", t_readdir_dots },
	{ "rmdir", t_rmdir },
	{ "unlink", t_unlink },
	{ "statfs", t_statfs },
	{ "o_excl", t_o_excl },
	{ "fallocate", t_fallocate },
	{ "copy_file_range", t_copy_file_range },
	{ "posix_acl", t_posix_acl },
};

int main(int argc, char **argv)
{
	int pass = 0, fail = 0, skip = 0;
	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	if (chdir(argv[1]) < 0) {
		printf("FAIL chdir: %s\n", strerror(errno));
		printf("smoke: 0 passed, 1 failed, 0 skipped\n");
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	umask(022);
	for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
		why[0] = 0;
		int r = tests[i].fn();
		if (r == 0)
			printf("ok %s\n", tests[i].name), pass++;
		else if (r == SKIP)
			printf("skip %s: %s\n", tests[i].name, why), skip++;
		else
			printf("FAIL %s: %s\n", tests[i].name, why), fail++;
	}
	unlink("cwr");
	unlink("app");
	unlink("trunc");
	unlink("sl");
	unlink("sparse");
	printf("smoke: %d passed, %d failed, %d skipped\n", pass, fail, skip);
	return fail != 0;
}
