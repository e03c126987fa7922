/* citasd: loads the configuration, starts the workers and stops them gracefully on SIGTERM or SIGINT. */
#include "citas/curl.h"
#include "app.h"
#include "citas/server.h"

#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

static void usage(void)
{
    fprintf(stderr, "usage: citasd [--config FILE]\n"
                    "Every key of the file can be overridden by an environment variable CITAS_<KEY>.\n");
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if ((strcmp(argv[i], "--config") == 0 || strcmp(argv[i], "-c") == 0) && i + 1 < argc) {
            path = argv[++i];
        } else {
            usage();
            return 2;
        }
    }
    struct server_config cfg;
    char err[512];
    if (server_config_load(&cfg, &citasd_app, path, err, sizeof(err)) != 0) {
        fprintf(stderr, "citasd: %s\n", err);
        server_config_free(&cfg);
        return 2;
    }
    /*
     * glibc gives a worker arena's free top back to the kernel beyond 128 KiB and serves big blocks with
     * mmap: after each burst the next requests fault the same pages in again (7% of citasd's CPU in a
     * release's first second). Keep malloc_keep_mb per arena instead; setting it also fixes the mmap
     * threshold (at most glibc's 32 MiB cap).
     */
    if (cfg.malloc_keep_mb > 0) {
        size_t keep = (size_t)cfg.malloc_keep_mb << 20;
        mallopt(M_TRIM_THRESHOLD, (int)(keep < (1u << 30) ? keep : 1u << 30));
        mallopt(M_MMAP_THRESHOLD, (int)(keep < (32u << 20) ? keep : 32u << 20));
    }
    /* signals are taken synchronously by this thread; workers inherit the blocked mask */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (curl_client_global_init() != 0) {
        fprintf(stderr, "citasd: libcurl initialisation failed\n");
        server_config_free(&cfg);
        return 1;
    }
    struct server *srv;
    if (server_start(&cfg, &citasd_app, &srv, err, sizeof(err)) != 0) {
        fprintf(stderr, "citasd: %s\n", err);
        server_config_free(&cfg);
        curl_client_global_cleanup();
        return 1;
    }
    fprintf(stderr, "citasd: listening on %s%s%s\n", cfg.listen, cfg.tls_listen[0] ? " and TLS " : "",
            cfg.tls_listen);
    int sig = 0;
    sigwait(&set, &sig);
    fprintf(stderr, "citasd: %s received, finishing in-flight requests\n",
            sig == SIGTERM ? "SIGTERM" : "SIGINT");
    int dropped = server_stop(srv);
    if (dropped > 0)
        fprintf(stderr, "citasd: %d connection(s) still open at the shutdown deadline were closed\n",
                dropped);
    server_free(srv);
    server_config_free(&cfg);
    curl_client_global_cleanup();
    fprintf(stderr, "citasd: stopped\n");
    return 0;
}
