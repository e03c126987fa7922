/*
 * siteverify-stub [--port P] [--delay-ms N] [--hostname H]: a local stand-in for hCaptcha's siteverify
 * API (see siteverify_stub.h for its answers). Runs until SIGINT or SIGTERM.
 */
#include "siteverify_stub.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    int port = 8025, delay = 0;
    const char *hostname = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--port") == 0 && i + 1 < argc)
            port = atoi(argv[++i]);
        else if (strcmp(argv[i], "--delay-ms") == 0 && i + 1 < argc)
            delay = atoi(argv[++i]);
        else if (strcmp(argv[i], "--hostname") == 0 && i + 1 < argc)
            hostname = argv[++i];
        else {
            fprintf(stderr, "usage: siteverify-stub [--port P] [--delay-ms N] [--hostname H]\n");
            return 2;
        }
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    struct siteverify_stub *s;
    int rc = siteverify_stub_start(port, &s);
    if (rc != 0) {
        fprintf(stderr, "siteverify-stub: cannot listen on 127.0.0.1:%d: %s\n", port, strerror(-rc));
        return 1;
    }
    siteverify_stub_set_delay(s, delay);
    if (hostname != NULL)
        siteverify_stub_set_hostname(s, hostname);
    printf("siteverify-stub: listening on 127.0.0.1:%d\n", siteverify_stub_port(s));
    fflush(stdout);
    int sig;
    sigwait(&set, &sig);
    siteverify_stub_stop(s);
    return 0;
}
