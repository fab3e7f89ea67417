/* The load client for the echo group: CONNS connections, each doing
 * ping-pong round trips of SIZE bytes (send one message, receive all of it
 * back, compare every byte, send the next), from one thread.
 *
 * It exists because the Go client cost more CPU per round trip than the
 * servers it measured, so with one CPU each the client set the pace and
 * every server looked alike. On loopback each side pays for its sends and
 * for the receive path they set off on the other side's socket, so no
 * client is much cheaper than the C server; this one takes the C server's
 * design, which measured cheaper per round trip than an epoll loop of
 * read(2) and write(2): SINGLE_ISSUER|DEFER_TASKRUN where the kernel has
 * them, one multishot recv per connection into a provided-buffer ring,
 * one send per round, one io_uring_enter per batch of completions. One
 * thread, since the harness pins the client to a single CPU, where more
 * threads or processes would only add context switches.
 *
 * Each connection sends a different window into its own random pattern
 * every round, so a byte that is changed, duplicated, reordered or crosses
 * from another connection fails the comparison, and a byte past the end of
 * the message sent is an error too.
 *
 * Speaks the harness's child protocol: prints "ready" once every
 * connection is up (or "error: ..." and exits), answers each "sample" line
 * on stdin with the round trips completed so far, exits when stdin closes.
 *
 * usage: loadc HOST:PORT CONNS SIZE */
#define _GNU_SOURCE
#include <liburing.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

/* Rounds cycle through this many windows of each pattern. */
#define WINDOWS 251
/* Receive buffers of min(SIZE, 4096) bytes: with one message in flight per
 * connection, a connection holds one at a time up to 4 KiB messages. When
 * they run out, recv ends with ENOBUFS and is armed again. */
#define NBUFS 4096
#define BGID 1

enum { RECV = 1, SEND, STDIN };

struct conn {
	int fd;
	int idx;
	size_t sent, got; /* bytes of the current message sent, received back */
	unsigned round;
	unsigned char *pattern;
};

static struct io_uring ring;
static struct io_uring_buf_ring *br;
static unsigned char *bufs;
static size_t bufsz;
static size_t size;
static long long trips;
static struct conn *conns;

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

static unsigned long long ud(int kind, int idx) { return ((unsigned long long)kind << 32) | (unsigned)idx; }

static struct io_uring_sqe *sqe(void) {
	struct io_uring_sqe *s = io_uring_get_sqe(&ring);
	if (!s) {
		io_uring_submit(&ring);
		s = io_uring_get_sqe(&ring);
	}
	return s;
}

static const unsigned char *message(struct conn *c) { return c->pattern + c->round % WINDOWS; }

/* send_rest sends what is left of the current message. */
static void send_rest(struct conn *c) {
	struct io_uring_sqe *s = sqe();
	io_uring_prep_send(s, c->fd, message(c) + c->sent, size - c->sent, MSG_NOSIGNAL);
	io_uring_sqe_set_data64(s, ud(SEND, c->idx));
}

static void arm_recv(struct conn *c) {
	struct io_uring_sqe *s = sqe();
	io_uring_prep_recv_multishot(s, c->fd, NULL, 0, 0);
	s->flags |= IOSQE_BUFFER_SELECT;
	s->buf_group = BGID;
	io_uring_sqe_set_data64(s, ud(RECV, c->idx));
}

static void arm_stdin(void) {
	struct io_uring_sqe *s = sqe();
	io_uring_prep_poll_add(s, 0, POLLIN);
	io_uring_sqe_set_data64(s, ud(STDIN, 0));
}

/* next_round starts the next round once the echo is all back and the
 * send's completion (which may come after the echo's) is in. */
static void next_round(struct conn *c) {
	if (c->got < size || c->sent < size)
		return;
	trips++;
	c->round++;
	c->sent = c->got = 0;
	send_rest(c);
}

static void received(struct conn *c, const unsigned char *buf, size_t n) {
	if (c->got + n > size)
		fail("conn %d: round %u: %zu bytes echoed, only %zu sent", c->idx, c->round, c->got + n, size);
	const unsigned char *exp = message(c) + c->got;
	if (memcmp(buf, exp, n)) {
		size_t i = 0;
		while (buf[i] == exp[i])
			i++;
		fail("conn %d: round %u: echoed byte %zu is %#x, sent %#x", c->idx, c->round, c->got + i, buf[i], exp[i]);
	}
	c->got += n;
	next_round(c);
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
	struct io_uring_params p = {0};
	p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
	if (io_uring_queue_init_params(4096, &ring, &p) < 0) {
		memset(&p, 0, sizeof p);
		int r = io_uring_queue_init_params(4096, &ring, &p);
		if (r < 0) {
			printf("error: io_uring_queue_init: %s\n", strerror(-r));
			return 1;
		}
	}
	bufsz = size < 4096 ? size : 4096;
	br = mmap(NULL, NBUFS * sizeof(struct io_uring_buf), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	io_uring_buf_ring_init(br);
	struct io_uring_buf_reg reg = {.ring_addr = (unsigned long)br, .ring_entries = NBUFS, .bgid = BGID};
	int ret = io_uring_register_buf_ring(&ring, &reg, 0);
	if (ret) {
		printf("error: buffer ring: %s\n", strerror(-ret));
		return 1;
	}
	bufs = mmap(NULL, (size_t)NBUFS * bufsz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	for (int i = 0; i < NBUFS; i++)
		io_uring_buf_ring_add(br, bufs + (size_t)i * bufsz, bufsz, i, io_uring_buf_ring_mask(NBUFS), i);
	io_uring_buf_ring_advance(br, NBUFS);

	conns = calloc(nconns, sizeof *conns);
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
	}
	printf("ready\n");
	fflush(stdout);
	arm_stdin();
	for (int i = 0; i < nconns; i++) {
		arm_recv(&conns[i]);
		send_rest(&conns[i]);
	}
	for (;;) {
		io_uring_submit_and_wait(&ring, 1);
		struct io_uring_cqe *cqe;
		unsigned head, n = 0;
		io_uring_for_each_cqe(&ring, head, cqe) {
			n++;
			unsigned long long u = cqe->user_data;
			int kind = u >> 32;
			struct conn *c = &conns[u & 0xffffffff];
			switch (kind) {
			case STDIN:
				control();
				arm_stdin();
				break;
			case SEND:
				if (cqe->res < 0)
					fail("conn %d: send: %s", c->idx, strerror(-cqe->res));
				c->sent += cqe->res;
				if (c->sent < size)
					send_rest(c);
				else
					next_round(c);
				break;
			case RECV:
				if (cqe->res == 0)
					fail("conn %d: server closed the connection after %zu of %zu bytes", c->idx, c->got, size);
				/* ENOBUFS ends a multishot recv when the buffer
				 * ring runs dry; it is re-armed below. */
				if (cqe->res < 0 && cqe->res != -ENOBUFS)
					fail("conn %d: recv: %s", c->idx, strerror(-cqe->res));
				if (cqe->res > 0) {
					int b = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
					received(c, bufs + (size_t)b * bufsz, cqe->res);
					io_uring_buf_ring_add(br, bufs + (size_t)b * bufsz, bufsz, b, io_uring_buf_ring_mask(NBUFS), 0);
					io_uring_buf_ring_advance(br, 1);
				}
				if (!(cqe->flags & IORING_CQE_F_MORE))
					arm_recv(c);
				break;
			}
		}
		io_uring_cq_advance(&ring, n);
	}
}
