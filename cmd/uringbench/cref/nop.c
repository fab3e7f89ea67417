/* The C reference for the ring case: noops through liburing, batch at a
 * time, for a fixed duration. Prints "ops cpu_ns wall_ns". */
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <sys/resource.h>

static long long now_ns(clockid_t c) {
	struct timespec ts;
	clock_gettime(c, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv) {
	if (argc != 3) {
		fprintf(stderr, "usage: nop BATCH DURATION_MS\n");
		return 2;
	}
	int batch = atoi(argv[1]);
	long long dur = atoll(argv[2]) * 1000000LL;
	struct io_uring r;
	int ret = io_uring_queue_init(64, &r, 0);
	if (ret < 0) {
		fprintf(stderr, "io_uring_queue_init: %d\n", ret);
		return 1;
	}
	long long ops = 0;
	long long start = now_ns(CLOCK_MONOTONIC);
	long long cpu0 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
	for (;;) {
		for (int k = 0; k < 256; k++) {
			for (int j = 0; j < batch; j++) {
				struct io_uring_sqe *sqe = io_uring_get_sqe(&r);
				io_uring_prep_nop(sqe);
				sqe->user_data = j;
			}
			io_uring_submit(&r);
			for (int j = 0; j < batch; j++) {
				struct io_uring_cqe *cqe;
				io_uring_wait_cqe(&r, &cqe);
				io_uring_cqe_seen(&r, cqe);
			}
			ops += batch;
		}
		if (now_ns(CLOCK_MONOTONIC) - start >= dur)
			break;
	}
	long long wall = now_ns(CLOCK_MONOTONIC) - start;
	long long cpu = now_ns(CLOCK_PROCESS_CPUTIME_ID) - cpu0;
	printf("%lld %lld %lld\n", ops, cpu, wall);
	io_uring_queue_exit(&r);
	return 0;
}
