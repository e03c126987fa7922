/* smtp-sink --port P --dir D: runs the SMTP sink until SIGINT or SIGTERM. */
#include "smtp_sink.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    int port = 2525;
    const char *dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--port") == 0 && i + 1 < argc)
            port = atoi(argv[++i]);
        else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
            dir = argv[++i];
        else
            dir = NULL, i = argc;
    }
    if (dir == NULL || port < 0 || port > 65535) {
        fprintf(stderr, "usage: smtp-sink [--port P] --dir DIR\n");
        return 2;
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* before the sink's threads start: they inherit the mask */
    struct smtp_sink *s;
    int rc = smtp_sink_start(port, dir, &s);
    if (rc != 0) {
        fprintf(stderr, "smtp-sink: cannot listen on 127.0.0.1:%d: %s\n", port, strerror(-rc));
        return 1;
    }
    printf("smtp-sink: listening on 127.0.0.1:%d, storing into %s\n", smtp_sink_port(s), dir);
    fflush(stdout);
    int sig;
    sigwait(&set, &sig);
    printf("smtp-sink: %lu messages stored\n", smtp_sink_count(s));
    smtp_sink_stop(s);
    return 0;
}
