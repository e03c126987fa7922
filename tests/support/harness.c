#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int harness_passed, harness_failed;

int harness_finish(const char *name)
{
    if (harness_passed + harness_failed == 0) {
        fprintf(stderr, "%s: no check ran\n", name);
        harness_failed = 1;
    }
    printf("%s: %d passed, %d failed\n", name, harness_passed, harness_failed);
    fflush(stdout);
    return harness_failed == 0 ? 0 : 1;
}

const char *harness_env(const char *name)
{
    const char *v = getenv(name);
    if (v == NULL || *v == '\0') {
        fprintf(stderr, "environment variable %s is not set: run the tests with `ops/citas test`\n", name);
        exit(1);
    }
    return v;
}

long long harness_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int harness_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        perror("harness_free_port");
        exit(1);
    }
    close(fd);
    return ntohs(a.sin_port);
}

int harness_wait_port(int port, int timeout_ms)
{
    long long deadline = harness_now_ms() + timeout_ms;
    while (harness_now_ms() < deadline) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        int ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
        close(fd);
        if (ok)
            return 0;
        usleep(20 * 1000);
    }
    return -1;
}

pid_t harness_spawn(char *const argv[])
{
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        exit(1);
    }
    if (pid == 0) {
        if (getenv("CITAS_TEST_VERBOSE") == NULL) {
            int fd = open("/dev/null", O_WRONLY);
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execvp(argv[0], argv);
        _exit(127);
    }
    return pid;
}

void harness_kill(pid_t pid, int sig, int timeout_ms)
{
    if (pid <= 0)
        return;
    kill(pid, sig);
    long long deadline = harness_now_ms() + timeout_ms;
    while (harness_now_ms() < deadline) {
        if (waitpid(pid, NULL, WNOHANG) == pid)
            return;
        usleep(10 * 1000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

pid_t harness_redis_start(int port)
{
    char portbuf[16];
    snprintf(portbuf, sizeof(portbuf), "%d", port);
    const char *dir = getenv("CITAS_TEST_TMPDIR");
    char *argv[] = {"redis-server", "--port", portbuf, "--bind", "127.0.0.1", "--save", "", "--appendonly",
                    "no", "--dir", (char *)(dir ? dir : "/tmp"), "--protected-mode", "no", NULL};
    pid_t pid = harness_spawn(argv);
    if (harness_wait_port(port, 10000) != 0) {
        fprintf(stderr, "redis-server on port %d did not start\n", port);
        harness_kill(pid, SIGKILL, 1000);
        return -1;
    }
    return pid;
}
