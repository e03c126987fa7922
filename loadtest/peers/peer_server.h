/*
 * peer_server: the plumbing shared by the test peers (SMTP sink, HTTP sink): a loopback TCP listener
 * with an accept thread and one thread per connection, blocking I/O, and a clean stop that joins every
 * thread. Test infrastructure: simple over fast.
 */
#ifndef CITAS_PEER_SERVER_H
#define CITAS_PEER_SERVER_H

#include <stddef.h>
#include <sys/types.h>

struct peer_server;

/* Serves one connection on its own thread; the server closes fd when this returns. */
typedef void (*peer_conn_fn)(struct peer_server *srv, int fd, void *ctx);

/* Listens on 127.0.0.1:port (0: any free port). 0 and the server in *out, or a negative errno. */
int peer_server_start(int port, peer_conn_fn fn, void *ctx, struct peer_server **out);
int peer_server_port(const struct peer_server *srv);
/* Sleeps ms milliseconds; returns -1 at once if the server is stopping, else 0. */
int peer_server_sleep(struct peer_server *srv, int ms);
/* Stops accepting, shuts every connection down and joins all threads. Accepts NULL. */
void peer_server_stop(struct peer_server *srv);

/* Buffered reading from a blocking socket. */
struct peer_reader {
    int fd;
    size_t off, len;
    char buf[16384];
};

/* Reads one line into line[cap] without its LF/CRLF, NUL-terminated. Returns its length, -1 at end of
 * stream or on error, -2 if the line is longer than cap-1 (the rest of it is consumed). */
ssize_t peer_read_line(struct peer_reader *r, char *line, size_t cap);
/* Reads exactly n bytes; 0 or -1. */
int peer_read_exact(struct peer_reader *r, void *dst, size_t n);
/* Writes everything (MSG_NOSIGNAL); 0 or -1. */
int peer_write_all(int fd, const void *buf, size_t n);

#endif
