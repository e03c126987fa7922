/*
 * Test harness shared by the C tests: checks that count instead of abort, free loopback ports, child
 * processes (redis-server started by a test itself), and the environment set by `ops/citas test`.
 *
 * Environment contract (exported by ops/citas test for every test; a missing variable fails the test):
 *   CITAS_TEST_REDIS_PORT   a redis-server on 127.0.0.1 started by the harness
 *   CITAS_TEST_PG_DSN       libpq conninfo of a migrated PostgreSQL database started by the harness
 *   CITAS_TEST_PG_RESTART   shell command that restarts that PostgreSQL and returns once it accepts again
 *   CITAS_TEST_TMPDIR       a scratch directory removed after the run
 *   CITAS_BUILD_DIR         the meson build directory (binaries: citasd, citasctl)
 */
#ifndef CITAS_TEST_HARNESS_H
#define CITAS_TEST_HARNESS_H

#include <stdio.h>
#include <sys/types.h>

extern int harness_passed, harness_failed;

#define CHECK(cond)                                                                                          \
    do {                                                                                                     \
        if (cond) {                                                                                          \
            harness_passed++;                                                                                \
        } else {                                                                                             \
            harness_failed++;                                                                                \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);                         \
        }                                                                                                    \
    } while (0)

#define CHECK_INT(a, b)                                                                                      \
    do {                                                                                                     \
        long long va_ = (long long)(a), vb_ = (long long)(b);                                               \
        if (va_ == vb_) {                                                                                    \
            harness_passed++;                                                                                \
        } else {                                                                                             \
            harness_failed++;                                                                                \
            fprintf(stderr, "%s:%d: check failed: %s == %s (%lld != %lld)\n", __FILE__, __LINE__, #a, #b,   \
                    va_, vb_);                                                                               \
        }                                                                                                    \
    } while (0)

/* Prints "<name>: N passed, N failed" and returns the process exit code (0 only with no failure and at
 * least one check). */
int harness_finish(const char *name);

/* The value of a required environment variable; exits the test with failure if it is unset. */
const char *harness_env(const char *name);

/* A TCP port on 127.0.0.1 that was free a moment ago. */
int harness_free_port(void);

/* Waits until 127.0.0.1:port accepts a connection; 0 on success, -1 after timeout_ms. */
int harness_wait_port(int port, int timeout_ms);

/* Starts argv[0] (looked up in PATH) with stdout/stderr to /dev/null unless verbose; returns the pid. */
pid_t harness_spawn(char *const argv[]);

/* Sends sig to pid and reaps it (waits at most timeout_ms, then SIGKILL). */
void harness_kill(pid_t pid, int sig, int timeout_ms);

/* Starts a private redis-server on 127.0.0.1:port (no persistence) and waits until it accepts. */
pid_t harness_redis_start(int port);

/* Milliseconds from a monotonic clock. */
long long harness_now_ms(void);

#endif
