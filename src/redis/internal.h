/* redis: the client's inside, shared by client.c (connection, pipeline, replies) and script.c (EVALSHA). */
#ifndef CITAS_REDIS_INTERNAL_H
#define CITAS_REDIS_INTERNAL_H

#include "citas/redis.h"

#include <sys/socket.h>

/*
 * resp.c: the RESP form of a command (an array of argc bulk strings; argvlen NULL: NUL-terminated arguments)
 * in a malloc'd buffer (*out, NUL-terminated, free() it). Returns its length, or -1 when out of memory.
 * Byte for byte what hiredis' redisFormatCommandArgv() writes.
 */
long long redis_format_argv(char **out, int argc, const char **argv, const size_t *argvlen);
/* v in decimal into out (room for 21 bytes), NUL-terminated; returns the digits' count. */
size_t redis_format_uint(char *out, uint64_t v);

struct redis_script {
    char *source;
    size_t len;
    char sha[41];
};

/* One command waiting for its reply. Entries form a FIFO in the order commands were written. */
struct pending {
    redis_reply_cb cb; /* NULL once detached */
    void *ctx;
    uint64_t deadline;                 /* monotonic ms */
    char *evalsha;                     /* EVALSHA: the formatted command, kept for a NOSCRIPT retry */
    size_t evalsha_len;                /* its length */
    const struct redis_script *script; /* EVALSHA: the script */
};

struct outbuf {
    char *data;
    size_t len, cap, off; /* off: bytes already sent */
};

enum redis_state {
    REDIS_ST_CONNECTING, /* connect in flight; commands are queued */
    REDIS_ST_CONNECTED,
    REDIS_ST_CLOSING,   /* failed: waiting for in-flight operations before closing the socket */
    REDIS_ST_WAITING,   /* socket closed: waiting for retry_at to reconnect */
    REDIS_ST_DESTROYED, /* redis_client_destroy() called; freed when nothing is in flight */
};

struct redis_client {
    struct ring *ring;
    char *host;
    int port;
    uint32_t timeout_ms, max_pending;
    struct sockaddr_storage addr;
    socklen_t addrlen;

    enum redis_state state;
    int fd;
    uint32_t backoff_ms;
    uint64_t connect_deadline, retry_at;

    struct pending *q; /* circular, capacity a power of two */
    size_t qcap, qhead, qlen;
    size_t qtimed; /* entries at the head that already timed out (deadlines grow along the FIFO) */

    struct outbuf out, wire; /* out: filled during the turn; wire: the bytes of the send in flight */
    redisReader *reader;
    char *rbuf;

    struct ring_op connect_op, send_op, recv_op, timer_op;
    int connect_busy, send_busy, recv_busy, timer_busy, timer_cancelling, flush_queued;
    uint64_t timer_at; /* when the armed timer fires */
    struct ring_defer flush;
    int depth; /* > 0 while inside a ring callback: freeing is postponed */

    struct redis_stats stats;
};

/* Milliseconds from CLOCK_MONOTONIC_COARSE. */
uint64_t redis_now_ms(void);

/*
 * Writes an already formatted command and queues its FIFO entry. `evalsha` (with `script`), when not
 * NULL, is the formatted EVALSHA command that the client takes over and frees after the reply; it may be
 * `cmd` itself. force ignores max_pending (retries). Returns 0 or a negative errno.
 */
int redis_enqueue(struct redis_client *c, const char *cmd, size_t len, redis_reply_cb cb, void *ctx,
                  char *evalsha, const struct redis_script *script, int force);

/* Re-sends an EVALSHA entry that got NOSCRIPT as EVAL <source>. Returns 0 or a negative errno. */
int redis_script_retry(struct redis_client *c, const struct pending *p);

#endif
