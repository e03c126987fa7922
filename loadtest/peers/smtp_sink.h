/*
 * smtp_sink: an SMTP server for tests and load tests that stores every message it accepts as a file.
 *
 * Speaks EHLO/HELO, MAIL FROM, RCPT TO, DATA (dot-unstuffed), RSET, NOOP, VRFY, QUIT and AUTH PLAIN/LOGIN
 * (any credentials pass; no STARTTLS). Each message becomes DIR/NNNNNN.eml (six digits, first free number
 * from 000001), written under a temporary name and linked into place when complete, with envelope headers
 * prepended:
 *   X-Sink-From: <sender>
 *   X-Sink-To: <rcpt1>, <rcpt2>
 *   X-Sink-Auth: user            (only after AUTH)
 * followed by the message exactly as received after dot-unstuffing, lines ending in CRLF.
 * Failure injection: a recipient whose address starts with "reject" is refused with 550.
 * Listens on 127.0.0.1 only; one thread per connection.
 */
#ifndef CITAS_SMTP_SINK_H
#define CITAS_SMTP_SINK_H

struct smtp_sink;

/* Starts the sink on port (0: any free port) storing into dir (must exist). 0 or a negative errno. */
int smtp_sink_start(int port, const char *dir, struct smtp_sink **out);
int smtp_sink_port(const struct smtp_sink *s);
/* Messages stored so far. */
unsigned long smtp_sink_count(const struct smtp_sink *s);
/* Stops, closing open sessions (a message in DATA is dropped). Accepts NULL. */
void smtp_sink_stop(struct smtp_sink *s);

#endif
