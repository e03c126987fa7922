/* The test's worker (one h2o loop + ring serving GET /ping with h2o) and a blocking client thread that
 * probes it. */
#ifndef CITAS_TEST_CURL_WORKER_H
#define CITAS_TEST_CURL_WORKER_H

#include "citas/ring.h"

struct worker {
    h2o_evloop_t *loop;
    struct ring *ring;
    h2o_globalconf_t config;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    h2o_socket_t *listener;
    int port;
    unsigned long served; /* GET /ping answered */
};

extern struct worker W;

/* Creates the loop and ring and listens on a free loopback port; 0 or -1. */
int worker_start(void);
/* n ring turns of at most 5 ms each. */
void turns(int n);
void worker_stop(void);

/* Loops blocking GET /ping against port until stop is set, logging each successful GET's start and end. */
struct prober {
    int port;
    int stop;
    int ok, bad;
    int n;
    long long t0[4096];
    long long t1[4096];
};

void *prober_main(void *arg);

#endif
