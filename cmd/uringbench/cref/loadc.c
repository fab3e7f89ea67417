/* The load client for the echo group: CONNS connections, each doing
 * ping-pong round trips of SIZE bytes (write one message, read it all
 * back, compare every byte, write the next), driven by one epoll loop on
 * non-blocking sockets. It exists because a Go client costs more CPU per
 * round trip than the servers it measures, so with one CPU each the
 * client, not the server, set the pace and every server looked alike.
 *
 * One thread: the harness pins the client to a single CPU, where more
 * threads or processes would only add context switches.
 *
 * Each connection sends a different window into its own random pattern
 * every round, so a byte that is dropped, duplicated, reordered or crosses
 * from another connection fails the comparison. Reads never ask for more
 * than the rest of the current message, so extra bytes surface as a
 * mismatch in the next round.
 *
 * Speaks the harness's child protocol: prints "ready" once every
 * connection is up (or "error: ..." and exits), answers each "sample" line
 * on stdin with the round trips completed so far, exits when stdin closes.
 *
 * usage: loadc HOST:PORT CONNS SIZE */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

/* Rounds cycle through this many windows of each pattern. */
#define WINDOWS 251

struct conn {
	int fd;
	int idx;
	size_t sent, got; /* bytes of the current message written, read back */
	unsigned round;   /* selects the current window */
	int want_out;     /* EPOLLOUT armed after a short write */
	unsigned char *pattern;
};

static int ep;
static size_t size;
static long long trips;

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void fail(const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	fputs("loadc: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static const unsigned char *message(struct conn *c) {
	return c->pattern + c->round % WINDOWS;
}

static void arm(struct conn *c, int out) {
	struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = c};
	if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev))
		fail("epoll_ctl: %s", strerror(errno));
	c->want_out = out;
}

/* send writes what is left of the current message; a short write waits
 * for EPOLLOUT. */
static void send_rest(struct conn *c) {
	while (c->sent < size) {
		ssize_t n = write(c->fd, message(c) + c->sent, size - c->sent);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				if (!c->want_out)
					arm(c, 1);
				return;
			}
			fail("conn %d: write: %s", c->idx, strerror(errno));
		}
		c->sent += n;
	}
	if (c->want_out)
		arm(c, 0);
}

static void receive(struct conn *c) {
	static unsigned char buf[1 << 16];
	for (;;) {
		size_t want = size - c->got;
		if (want > sizeof buf)
			want = sizeof buf;
		ssize_t n = read(c->fd, buf, want);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return;
			fail("conn %d: read: %s", c->idx, strerror(errno));
		}
		if (n == 0)
			fail("conn %d: server closed the connection after %zu of %zu bytes", c->idx, c->got, size);
		if (c->got + n > c->sent)
			fail("conn %d: %zu bytes echoed, only %zu sent", c->idx, c->got + n, c->sent);
		const unsigned char *exp = message(c) + c->got;
		if (memcmp(buf, exp, n)) {
			ssize_t i = 0;
			while (buf[i] == exp[i])
				i++;
			fail("conn %d: round %u: echoed byte %zu is %#x, sent %#x", c->idx, c->round, c->got + i, buf[i], exp[i]);
		}
		c->got += n;
		if (c->got < size)
			continue;
		trips++;
		c->round++;
		c->sent = c->got = 0;
		send_rest(c);
		/* The reply cannot be there yet; back to epoll. */
		return;
	}
}

/* control answers "sample" lines on stdin; end of stdin ends the run. */
static void control(void) {
	static char line[256];
	static size_t have;
	ssize_t n = read(0, line + have, sizeof line - have);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0)
		exit(0);
	have += n;
	char *nl;
	while ((nl = memchr(line, '\n', have))) {
		*nl = 0;
		if (!strcmp(line, "sample")) {
			printf("%lld\n", trips);
			fflush(stdout);
		}
		have -= nl + 1 - line;
		memmove(line, nl + 1, have);
	}
	if (have == sizeof line)
		have = 0; /* an overlong line is not a request */
}

static struct addrinfo *resolve(char *addr) {
	char *colon = strrchr(addr, ':');
	if (!colon) {
		printf("error: address %s has no port\n", addr);
		exit(1);
	}
	*colon = 0;
	char *host = addr;
	if (host[0] == '[') { /* [::1]:port */
		host++;
		host[strlen(host) - 1] = 0;
	}
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai;
	int r = getaddrinfo(host, colon + 1, &hints, &ai);
	if (r) {
		printf("error: %s: %s\n", addr, gai_strerror(r));
		exit(1);
	}
	return ai;
}

int main(int argc, char **argv) {
	if (argc != 4) {
		fprintf(stderr, "usage: loadc HOST:PORT CONNS SIZE\n");
		return 2;
	}
	struct addrinfo *ai = resolve(argv[1]);
	int nconns = atoi(argv[2]);
	size = (size_t)atol(argv[3]);
	if (nconns <= 0 || size == 0) {
		printf("error: CONNS and SIZE must be positive\n");
		return 2;
	}
	ep = epoll_create1(EPOLL_CLOEXEC);
	struct conn *conns = calloc(nconns, sizeof *conns);
	uint64_t x = 0x9e3779b97f4a7c15ull;
	for (int i = 0; i < nconns; i++) {
		struct conn *c = &conns[i];
		c->idx = i;
		c->pattern = malloc(size + WINDOWS);
		for (size_t j = 0; j < size + WINDOWS; j++) { /* xorshift64 */
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			c->pattern[j] = x >> 32;
		}
		c->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (c->fd < 0 || connect(c->fd, ai->ai_addr, ai->ai_addrlen)) {
			printf("error: connection %d of %d: %s\n", i + 1, nconns, strerror(errno));
			return 1;
		}
		int one = 1;
		setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		fcntl(c->fd, F_SETFL, O_NONBLOCK);
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
		epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
	}
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
	epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev);
	printf("ready\n");
	fflush(stdout);
	for (int i = 0; i < nconns; i++)
		send_rest(&conns[i]);

	int max = nconns + 1 < 1024 ? nconns + 1 : 1024;
	struct epoll_event *evs = calloc(max, sizeof *evs);
	for (;;) {
		int n = epoll_wait(ep, evs, max, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fail("epoll_wait: %s", strerror(errno));
		}
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			if (!c) {
				control();
				continue;
			}
			if (evs[i].events & EPOLLOUT)
				send_rest(c);
			if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
				receive(c);
		}
	}
}
