/*
 * siteverify_stub: a local stand-in for hCaptcha's siteverify API on http_sink, for tests and load tests.
 * It answers a form-encoded POST (secret, response, remoteip, sitekey) like hCaptcha does:
 *   - secret missing                    -> success false, "missing-input-secret"
 *   - secret not the published test one -> success false, "invalid-input-secret"
 *   - sitekey given but not the test one -> success false, "sitekey-secret-mismatch"
 *   - response missing                  -> success false, "missing-input-response"
 *   - response is the published test response or starts with "pass" -> success true, with the configured
 *     hostname (default "localhost")
 *   - anything else                     -> success false, "invalid-input-response"
 * It does not remember responses: reuse is the server's business to refuse.
 */
#ifndef CITAS_SITEVERIFY_STUB_H
#define CITAS_SITEVERIFY_STUB_H

#define SITEVERIFY_TEST_SECRET   "0x0000000000000000000000000000000000000000"
#define SITEVERIFY_TEST_SITEKEY  "10000000-ffff-ffff-ffff-000000000001"
#define SITEVERIFY_TEST_RESPONSE "10000000-aaaa-bbbb-cccc-000000000001"

struct siteverify_stub;
struct http_sink;

/* Listens on 127.0.0.1:port (0: any free port). 0 or a negative errno. */
int siteverify_stub_start(int port, struct siteverify_stub **out);
int siteverify_stub_port(const struct siteverify_stub *s);
/* Delay before each answer from now on (a slow service); cut short by siteverify_stub_stop(). */
void siteverify_stub_set_delay(struct siteverify_stub *s, int ms);
/* The `hostname` reported with successful verifications from now on (copied, at most 255 bytes). */
void siteverify_stub_set_hostname(struct siteverify_stub *s, const char *hostname);
/* The underlying sink, for its request count and last request. */
struct http_sink *siteverify_stub_sink(struct siteverify_stub *s);
/* Stops listening (connections are then refused) and frees the stub. Accepts NULL. */
void siteverify_stub_stop(struct siteverify_stub *s);

#endif
