/*
 * Linux peer of Ferrite's kbench (user/demo/src/bin/kbench.rs): the same
 * cases, done the Linux way, timed with RDTSC.
 *
 * `cargo xtask bench --peer` builds this file with `gcc -static -O2`, puts
 * it as /init in an initramfs and boots Debian's kernel under QEMU with the
 * flags it gives Ferrite (`-icount shift=0`, one CPU, `-cpu qemu64`). Under
 * `-icount shift=0` the guest TSC advances by one per executed instruction,
 * so every figure is an instruction count of the whole path, user and
 * kernel, the same instrument kbench uses.
 *
 * Environment (the kernel passes unknown KEY=value words of its command
 * line to init): PEER_REPS (repetitions, default 5) and PEER_SIZES (sizes in
 * pages, comma-separated, default 16384).
 *
 * Output: `LPEER case=<name> pages=<n> insns=<median> how=<what>` per case
 * and size, `lpeer:` notes, `lpeer: done` at the end; then power-off.
 * A failure prints `lpeer: FAILED ...` and powers off without `done`.
 *
 * Cases (Ferrite's counterpart in brackets):
 *   null_syscall  getpid through syscall(2), per call [YIELD_THREAD alone]
 *   fork          glibc fork() in the parent until it returns; the child
 *                 _exits at once [the runtime's fork()]
 *   dup_copy      the same fork() with N private pages resident [RGN_DUP copy]
 *   dup_share     fork() with N MAP_SHARED pages resident [RGN_DUP share]
 *   mclone        mmap(MAP_SHARED|MAP_POPULATE) of an N-page memfd in another
 *                 process (a forked child) [MCLONE into another process]
 *   first_touch   first write to every page of a fresh anonymous region
 *   cow_fault     first write to every page in the child of a fork
 *   teardown      exit + wait of a child holding N written private pages
 *                 [DESTROY of the copy's owner]
 *   ipc_rtt_0b, ipc_rtt_64b  round trip between two processes, best of a
 *                 pipe, a unix SEQPACKET socket and a futex in shared memory
 *   pull_in_fault first read of each of 256 pages of a region whose missing
 *                 pages another process supplies (userfaultfd, UFFDIO_COPY
 *                 of a page it fills with a pattern) [a mapper-backed region]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <linux/userfaultfd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGE 4096UL
#define MAX_REPS 15
#define MAX_SIZES 8
#define NULL_CALLS 1000
#define IPC_WARMUP 5000
#define IPC_BATCH 2000
#define IPC_BATCHES 5
#define IPC_MAX 64

static int reps = 5;
static unsigned long sizes[MAX_SIZES];
static int nsizes;
/* One shared page: results from children, and the futex channel. */
static volatile uint64_t *shared;

static inline uint64_t tsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi)::"memory");
	return ((uint64_t)hi << 32) | lo;
}

static void power_off(void)
{
	fflush(stdout);
	sync();
	reboot(RB_POWER_OFF);
	_exit(1);
}

static void die(const char *what)
{
	printf("lpeer: FAILED %s: %s\n", what, strerror(errno));
	power_off();
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static uint64_t median(uint64_t *s, int n)
{
	qsort(s, n, sizeof *s, cmp_u64);
	return s[n / 2];
}

static void emit(const char *name, unsigned long pages, uint64_t insns, const char *how)
{
	printf("LPEER case=%s pages=%lu insns=%llu how=%s\n", name, pages,
	       (unsigned long long)insns, how);
}

/* Writes the first word of every page. */
static void touch(char *base, unsigned long npages, uint64_t value)
{
	for (unsigned long p = 0; p < npages; p++)
		*(volatile uint64_t *)(base + p * PAGE) = value + p;
}

/* A fresh anonymous region without transparent huge pages. */
static char *anon(unsigned long npages, int flags)
{
	char *p = mmap(NULL, npages * PAGE, PROT_READ | PROT_WRITE, flags | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		die("mmap");
	if (madvise(p, npages * PAGE, MADV_NOHUGEPAGE))
		die("madvise(MADV_NOHUGEPAGE)");
	return p;
}

static void reap(pid_t pid)
{
	int status;
	if (pid < 0)
		die("fork");
	if (waitpid(pid, &status, 0) != pid)
		die("waitpid");
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		errno = 0;
		die("child did not exit with 0");
	}
}

/* fork() in the parent, from the call until it returns; the child exits at once. */
static uint64_t timed_fork(void)
{
	uint64_t t0 = tsc();
	pid_t pid = fork();
	uint64_t t1 = tsc();
	if (pid == 0)
		_exit(0);
	reap(pid);
	return t1 - t0;
}

/* The kB figure of one /proc/meminfo field, or -1. */
static long meminfo_kb(const char *field)
{
	char line[256];
	long kb = -1;
	size_t len = strlen(field);
	FILE *f = fopen("/proc/meminfo", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (!strncmp(line, field, len) && line[len] == ':')
			kb = strtol(line + len + 1, NULL, 10);
	fclose(f);
	return kb;
}

static void check_no_huge_pages(unsigned long npages)
{
	long kb = meminfo_kb("AnonHugePages");
	if (kb != 0) {
		printf("lpeer: FAILED pages=%lu: AnonHugePages is %ld kB, not 0\n", npages, kb);
		power_off();
	}
}

static void bench_small(void)
{
	uint64_t s[MAX_REPS];
	for (int r = 0; r < reps; r++) {
		uint64_t t0 = tsc();
		for (int i = 0; i < NULL_CALLS; i++)
			syscall(SYS_getpid);
		s[r] = (tsc() - t0) / NULL_CALLS;
	}
	emit("null_syscall", 0, median(s, reps), "getpid");
	for (int r = 0; r < reps; r++)
		s[r] = timed_fork();
	emit("fork", 0, median(s, reps), "fork");
}

/* fork() of a process holding N MAP_SHARED pages. */
static void bench_share(unsigned long n)
{
	uint64_t s[MAX_REPS];
	char *sh = anon(n, MAP_SHARED);
	touch(sh, n, 3);
	for (int r = 0; r < reps; r++)
		s[r] = timed_fork();
	emit("dup_share", n, median(s, reps), "fork_shared");
	munmap(sh, n * PAGE);
}

/* A child maps an N-page memfd (all pages in memory) with MAP_POPULATE. */
static void bench_mclone(unsigned long n)
{
	uint64_t s[MAX_REPS];
	int fd = memfd_create("peer", 0);
	if (fd < 0 || ftruncate(fd, n * PAGE))
		die("memfd");
	char *src = mmap(NULL, n * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (src == MAP_FAILED)
		die("mmap memfd");
	touch(src, n, 5);
	for (int r = 0; r < reps; r++) {
		pid_t pid = fork();
		if (pid == 0) {
			uint64_t t0 = tsc();
			char *p = mmap(NULL, n * PAGE, PROT_READ | PROT_WRITE,
				       MAP_SHARED | MAP_POPULATE, fd, 0);
			uint64_t t1 = tsc();
			if (p == MAP_FAILED)
				_exit(1);
			shared[0] = t1 - t0;
			_exit(0);
		}
		reap(pid);
		s[r] = shared[0];
	}
	emit("mclone", n, median(s, reps), "memfd_populate");
	munmap(src, n * PAGE);
	close(fd);
}

static void bench_private(unsigned long n)
{
	uint64_t s[MAX_REPS];
	char *region = anon(n, MAP_PRIVATE);
	touch(region, n, 1ULL << 32);
	check_no_huge_pages(n);

	for (int r = 0; r < reps; r++) {
		char *fresh = anon(n, MAP_PRIVATE);
		uint64_t t0 = tsc();
		touch(fresh, n, (uint64_t)(r + 7) << 32);
		s[r] = tsc() - t0;
		check_no_huge_pages(n);
		munmap(fresh, n * PAGE);
	}
	emit("first_touch", n, median(s, reps), "anon_fault");

	for (int r = 0; r < reps; r++)
		s[r] = timed_fork();
	uint64_t fork_median = median(s, reps);
	emit("fork", n, fork_median, "fork");
	emit("dup_copy", n, fork_median, "fork");

	for (int r = 0; r < reps; r++) {
		pid_t pid = fork();
		if (pid == 0) {
			uint64_t t0 = tsc();
			touch(region, n, (uint64_t)(r + 2) << 32);
			shared[0] = tsc() - t0;
			_exit(0);
		}
		reap(pid);
		s[r] = shared[0];
	}
	emit("cow_fault", n, median(s, reps), "cow_in_child");

	for (int r = 0; r < reps; r++) {
		pid_t pid = fork();
		if (pid == 0) {
			touch(region, n, (uint64_t)(r + 4) << 32);
			shared[0] = tsc();
			_exit(0);
		}
		reap(pid);
		s[r] = tsc() - shared[0];
	}
	emit("teardown", n, median(s, reps), "exit_wait");
	munmap(region, n * PAGE);
}

/* IPC: one round trip = the client sends `size` bytes, the server sends them back. */
enum channel { PIPE, SOCKET, FUTEX };
static const char *const channel_names[] = { "pipe", "socket", "futex" };

static void futex_op(volatile uint64_t *word, int op, uint32_t value)
{
	syscall(SYS_futex, (uint32_t *)word, op, value, NULL, NULL, 0);
}

/* The futex channel: shared[1] is the turn (1: the server's, 2: the client's), the message from shared[2]. */
static void futex_send(uint32_t turn, const char *msg, size_t size)
{
	memcpy((char *)&shared[2], msg, size);
	__atomic_store_n((uint32_t *)&shared[1], turn, __ATOMIC_RELEASE);
	futex_op(&shared[1], FUTEX_WAKE, 1);
}

static void futex_recv(uint32_t turn, char *msg, size_t size)
{
	uint32_t v;
	while ((v = __atomic_load_n((uint32_t *)&shared[1], __ATOMIC_ACQUIRE)) != turn)
		futex_op(&shared[1], FUTEX_WAIT, v);
	memcpy(msg, (char *)&shared[2], size);
}

static void xfer(enum channel ch, int fd, int send, char *msg, size_t size, uint32_t turn)
{
	ssize_t n;
	if (ch == FUTEX) {
		if (send)
			futex_send(turn, msg, size);
		else
			futex_recv(turn, msg, size);
		return;
	}
	n = send ? write(fd, msg, size) : read(fd, msg, size);
	if (n != (ssize_t)size)
		die(send ? "ipc write" : "ipc read");
}

/* Median round trip over IPC_BATCHES batches, after IPC_WARMUP untimed ones. */
static uint64_t ipc_rtt(enum channel ch, size_t size)
{
	int to_server[2], to_client[2];
	const int total = IPC_WARMUP + IPC_BATCH * IPC_BATCHES;
	char msg[IPC_MAX];
	uint64_t s[IPC_BATCHES];

	memset(msg, 0x5a, sizeof msg);
	shared[1] = 0;
	if (ch == PIPE && (pipe(to_server) || pipe(to_client)))
		die("pipe");
	if (ch == SOCKET) {
		if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, to_server))
			die("socketpair");
		to_client[0] = to_server[0];
		to_client[1] = to_server[1];
	}
	/* Pipes: the server reads to_server[0], writes to_client[1]; the
	 * socket pair: the server uses end 1, the client end 0. */
	int server_in = ch == SOCKET ? to_server[1] : to_server[0];
	int server_out = ch == SOCKET ? to_server[1] : to_client[1];
	int client_out = ch == SOCKET ? to_server[0] : to_server[1];
	int client_in = ch == SOCKET ? to_server[0] : to_client[0];

	pid_t pid = fork();
	if (pid == 0) {
		for (int i = 0; i < total; i++) {
			xfer(ch, server_in, 0, msg, size, 1);
			xfer(ch, server_out, 1, msg, size, 2);
		}
		_exit(0);
	}
	if (pid < 0)
		die("fork");
	for (int i = 0; i < IPC_WARMUP; i++) {
		xfer(ch, client_out, 1, msg, size, 1);
		xfer(ch, client_in, 0, msg, size, 2);
	}
	for (int b = 0; b < IPC_BATCHES; b++) {
		uint64_t t0 = tsc();
		for (int i = 0; i < IPC_BATCH; i++) {
			xfer(ch, client_out, 1, msg, size, 1);
			xfer(ch, client_in, 0, msg, size, 2);
		}
		s[b] = (tsc() - t0) / IPC_BATCH;
	}
	reap(pid);
	if (ch != FUTEX) {
		close(to_server[0]);
		close(to_server[1]);
		if (ch == PIPE) {
			close(to_client[0]);
			close(to_client[1]);
		}
	}
	return median(s, IPC_BATCHES);
}

static void bench_ipc(const char *name, size_t size)
{
	uint64_t best = UINT64_MAX;
	enum channel best_ch = PIPE;
	/* Pipes and sockets move at least one byte; the futex moves `size`. */
	size_t stream_size = size ? size : 1;
	for (enum channel ch = PIPE; ch <= FUTEX; ch++) {
		uint64_t rtt = ipc_rtt(ch, ch == FUTEX ? size : stream_size);
		printf("lpeer: %s via %s (%zu bytes): %llu\n", name, channel_names[ch],
		       ch == FUTEX ? size : stream_size, (unsigned long long)rtt);
		if (rtt < best) {
			best = rtt;
			best_ch = ch;
		}
	}
	emit(name, 0, best, channel_names[best_ch]);
}

/* Pages per pull_in_fault repetition (as kbench's FAULT_PAGES). */
#define PULL_PAGES 256UL

/* The user-space pager: serves `n` missing-page faults of `region` through
 * `uffd`, each page filled with the pattern kbench's mapper uses. */
static void serve_faults(int uffd, char *region, unsigned long n)
{
	static uint64_t page[PAGE / 8] __attribute__((aligned(4096)));
	for (unsigned long served = 0; served < n; served++) {
		struct uffd_msg msg;
		if (read(uffd, &msg, sizeof msg) != sizeof msg || msg.event != UFFD_EVENT_PAGEFAULT)
			_exit(1);
		unsigned long addr = msg.arg.pagefault.address & ~(PAGE - 1);
		uint64_t offset = addr - (unsigned long)region;
		for (unsigned long i = 0; i < PAGE / 8; i++)
			page[i] = offset + 8 * i;
		struct uffdio_copy copy = {
			.dst = addr, .src = (unsigned long)page, .len = PAGE, .mode = 0
		};
		if (ioctl(uffd, UFFDIO_COPY, &copy))
			_exit(2);
	}
	_exit(0);
}

static void bench_pull_in(void)
{
	uint64_t s[MAX_REPS];
	for (int r = 0; r < reps; r++) {
		int uffd = syscall(SYS_userfaultfd, O_CLOEXEC);
		struct uffdio_api api = { .api = UFFD_API };
		if (uffd < 0 || ioctl(uffd, UFFDIO_API, &api))
			die("userfaultfd");
		char *region = anon(PULL_PAGES, MAP_PRIVATE);
		struct uffdio_register reg = {
			.range = { .start = (unsigned long)region, .len = PULL_PAGES * PAGE },
			.mode = UFFDIO_REGISTER_MODE_MISSING,
		};
		if (ioctl(uffd, UFFDIO_REGISTER, &reg))
			die("UFFDIO_REGISTER");
		pid_t pid = fork();
		if (pid == 0)
			serve_faults(uffd, region, PULL_PAGES);
		uint64_t sum = 0, t0 = tsc();
		for (unsigned long p = 0; p < PULL_PAGES; p++)
			sum += *(volatile uint64_t *)(region + p * PAGE);
		s[r] = tsc() - t0;
		reap(pid);
		if (sum != PULL_PAGES * (PULL_PAGES - 1) / 2 * PAGE) {
			errno = 0;
			die("pull_in_fault: pages do not hold the pager's pattern");
		}
		close(uffd);
		munmap(region, PULL_PAGES * PAGE);
	}
	emit("pull_in_fault", PULL_PAGES, median(s, reps), "userfaultfd");
}

static void calibrate(void)
{
	static uint64_t buffer[512];
	unsigned long n = 1000000, count = 4096 / 8;
	uint64_t t0 = tsc();
	__asm__ volatile("1: dec %0\n\tjnz 1b" : "+r"(n));
	uint64_t loop = tsc() - t0;
	uint64_t *dst = buffer;
	buffer[0] = 1; /* fault the page in before timing */
	t0 = tsc();
	__asm__ volatile("rep stosq" : "+D"(dst), "+c"(count) : "a"(0UL) : "memory");
	uint64_t stos = tsc() - t0;
	uint32_t a = 7, b, c = 0, d;
	__asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
	printf("lpeer: calibration: a loop of 2000000 instructions read %llu ticks; "
	       "a 4 KiB rep stosq read %llu; ERMS %s\n",
	       (unsigned long long)loop, (unsigned long long)stos, (b >> 9) & 1 ? "yes" : "no");
}

static void parse_env(void)
{
	const char *r = getenv("PEER_REPS");
	const char *list = getenv("PEER_SIZES");
	if (r) {
		reps = atoi(r);
		if (reps < 1 || reps > MAX_REPS) {
			errno = EINVAL;
			die("PEER_REPS must be 1..15");
		}
	}
	if (!list)
		list = "16384";
	while (*list && nsizes < MAX_SIZES) {
		char *end;
		unsigned long n = strtoul(list, &end, 10);
		if (end == list || n == 0) {
			errno = EINVAL;
			die("PEER_SIZES must be comma-separated page counts");
		}
		sizes[nsizes++] = n;
		list = *end == ',' ? end + 1 : end;
	}
}

int main(void)
{
	struct utsname u;
	setvbuf(stdout, NULL, _IONBF, 0);
	mkdir("/proc", 0555);
	if (mount("proc", "/proc", "proc", 0, NULL))
		die("mount /proc");
	shared = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shared == MAP_FAILED)
		die("mmap shared page");
	parse_env();
	uname(&u);
	printf("lpeer: Linux %s %s; %d repetitions, medians; %ld kB RAM\n", u.release, u.version,
	       reps, meminfo_kb("MemTotal"));
	calibrate();
	bench_small();
	bench_ipc("ipc_rtt_0b", 0);
	bench_ipc("ipc_rtt_64b", 64);
	bench_pull_in();
	for (int i = 0; i < nsizes; i++) {
		unsigned long n = sizes[i];
		bench_share(n);
		bench_mclone(n);
		bench_private(n);
	}
	printf("lpeer: done\n");
	power_off();
	return 0;
}
