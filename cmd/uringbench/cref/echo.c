/* The C reference for the echo group: a single-threaded liburing echo
 * server with multishot accept, multishot recv into a provided-buffer
 * ring, and a send straight from the received buffer, which goes back to
 * the ring when the send completes. SINGLE_ISSUER|DEFER_TASKRUN where the
 * kernel has them. Prints its port, then serves until stdin closes. */
#include <liburing.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#define NBUFS 4096
#define BUFSZ 4096
#define BGID 1

enum { ACCEPT = 1, RECV, SEND, STDIN };

static struct io_uring ring;
static struct io_uring_buf_ring *br;
static char *bufs;

static unsigned long long ud(int kind, int fd, int bid) {
	return ((unsigned long long)kind << 56) | ((unsigned long long)(unsigned)bid << 32) | (unsigned)fd;
}

static struct io_uring_sqe *sqe(void) {
	struct io_uring_sqe *s = io_uring_get_sqe(&ring);
	if (!s) {
		io_uring_submit(&ring);
		s = io_uring_get_sqe(&ring);
	}
	return s;
}

static void recycle(int bid) {
	io_uring_buf_ring_add(br, bufs + (size_t)bid * BUFSZ, BUFSZ, bid, io_uring_buf_ring_mask(NBUFS), 0);
	io_uring_buf_ring_advance(br, 1);
}

static void arm_recv(int fd) {
	struct io_uring_sqe *s = sqe();
	io_uring_prep_recv_multishot(s, fd, NULL, 0, 0);
	s->flags |= IOSQE_BUFFER_SELECT;
	s->buf_group = BGID;
	io_uring_sqe_set_data64(s, ud(RECV, fd, 0));
}

int main(void) {
	struct io_uring_params p = {0};
	p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
	if (io_uring_queue_init_params(4096, &ring, &p) < 0) {
		memset(&p, 0, sizeof p);
		if (io_uring_queue_init_params(4096, &ring, &p) < 0) {
			perror("io_uring_queue_init");
			return 1;
		}
	}
	/* io_uring_setup_buf_ring by hand: older liburing lacks it. */
	br = mmap(NULL, NBUFS * sizeof(struct io_uring_buf), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	io_uring_buf_ring_init(br);
	struct io_uring_buf_reg reg = {.ring_addr = (unsigned long)br, .ring_entries = NBUFS, .bgid = BGID};
	int ret = io_uring_register_buf_ring(&ring, &reg, 0);
	if (ret) {
		fprintf(stderr, "buf ring: %d\n", ret);
		return 1;
	}
	bufs = mmap(NULL, (size_t)NBUFS * BUFSZ, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	for (int i = 0; i < NBUFS; i++)
		io_uring_buf_ring_add(br, bufs + (size_t)i * BUFSZ, BUFSZ, i, io_uring_buf_ring_mask(NBUFS), i);
	io_uring_buf_ring_advance(br, NBUFS);

	int ln = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	setsockopt(ln, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (bind(ln, (struct sockaddr *)&a, sizeof a) || listen(ln, 4096)) {
		perror("listen");
		return 1;
	}
	socklen_t al = sizeof a;
	getsockname(ln, (struct sockaddr *)&a, &al);
	printf("127.0.0.1:%d\n", ntohs(a.sin_port));
	fflush(stdout);

	struct io_uring_sqe *s = sqe();
	io_uring_prep_multishot_accept(s, ln, NULL, NULL, 0);
	io_uring_sqe_set_data64(s, ud(ACCEPT, ln, 0));
	s = sqe();
	io_uring_prep_poll_add(s, 0, POLLIN);
	io_uring_sqe_set_data64(s, ud(STDIN, 0, 0));

	for (;;) {
		io_uring_submit_and_wait(&ring, 1);
		struct io_uring_cqe *c;
		unsigned head, n = 0;
		io_uring_for_each_cqe(&ring, head, c) {
			n++;
			unsigned long long u = c->user_data;
			int kind = u >> 56, fd = (int)(u & 0xffffffff), bid = (u >> 32) & 0xffffff;
			switch (kind) {
			case STDIN:
				return 0;
			case ACCEPT:
				if (c->res >= 0) {
					setsockopt(c->res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
					arm_recv(c->res);
				}
				if (!(c->flags & IORING_CQE_F_MORE)) {
					s = sqe();
					io_uring_prep_multishot_accept(s, ln, NULL, NULL, 0);
					io_uring_sqe_set_data64(s, ud(ACCEPT, ln, 0));
				}
				break;
			case RECV:
				if (c->res > 0 && (c->flags & IORING_CQE_F_BUFFER)) {
					int b = c->flags >> IORING_CQE_BUFFER_SHIFT;
					s = sqe();
					io_uring_prep_send(s, fd, bufs + (size_t)b * BUFSZ, c->res, MSG_NOSIGNAL);
					io_uring_sqe_set_data64(s, ud(SEND, fd, b));
				}
				if (!(c->flags & IORING_CQE_F_MORE)) {
					if (c->res == 0 || (c->res < 0 && c->res != -ENOBUFS))
						close(fd);
					else
						arm_recv(fd);
				}
				break;
			case SEND:
				/* Short sends do not happen on these small echoes
				 * over loopback; the buffer goes back either way. */
				recycle(bid);
				break;
			}
		}
		io_uring_cq_advance(&ring, n);
	}
}
