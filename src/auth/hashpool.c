/*
 * The password hashing pool: a few process-wide threads run Argon2id (crypto_pwhash_str and _verify) so
 * that no worker's event loop ever does. Each worker has a mailbox: finished jobs are appended to its list
 * under its mutex and its eventfd is written; the worker's h2o loop watches the eventfd and runs the
 * callbacks on its own thread.
 *
 * Lifetimes: a job belongs to the pool from submit until it is on a mailbox's done list, then to the
 * mailbox. A mailbox counts its jobs not yet done; auth_mailbox_stop() takes its queued jobs back
 * (cancelled) and waits for the running ones, so no hashing thread touches a mailbox after it stopped.
 */
#include "internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct auth_hash_job {
    struct auth_hash_job *next;
    struct auth_mailbox *mb;
    enum auth_hash_op op;
    int use_dummy;
    char *password;
    size_t len;
    char hash[crypto_pwhash_STRBYTES];
    int res;
    auth_hash_cb cb;
    void *ctx;
};

struct auth_mailbox {
    pthread_mutex_t mu;
    pthread_cond_t idle;
    struct auth_hash_job *done, *done_tail;
    unsigned outstanding; /* submitted, not yet on the done list */
    int efd;
    h2o_socket_t *sock;
    int stopped;
};

static struct {
    pthread_mutex_t mu;
    pthread_cond_t work;
    struct auth_hash_job *head, *tail;
    unsigned refs;
    int shutdown;
    size_t nthreads;
    pthread_t threads[16];
    unsigned long long opslimit;
    size_t memlimit;
    char dummy[crypto_pwhash_STRBYTES];
} pool = {.mu = PTHREAD_MUTEX_INITIALIZER, .work = PTHREAD_COND_INITIALIZER};

static void job_free(struct auth_hash_job *j)
{
    if (j == NULL)
        return;
    if (j->password != NULL) {
        sodium_memzero(j->password, j->len);
        free(j->password);
    }
    free(j);
}

static void run_job(struct auth_hash_job *j)
{
    if (j->op == AUTH_HASH_CREATE) {
        j->res =
            crypto_pwhash_str(j->hash, j->password, j->len, pool.opslimit, pool.memlimit) == 0 ? 0 : -ENOMEM;
    } else {
        int ok = crypto_pwhash_str_verify(j->use_dummy ? pool.dummy : j->hash, j->password, j->len) == 0;
        j->res = ok && !j->use_dummy;
    }
    sodium_memzero(j->password, j->len);
}

/* Hands a finished (or cancelled) job to its mailbox; the caller holds mb->mu. */
static void deliver_locked(struct auth_mailbox *mb, struct auth_hash_job *j)
{
    j->next = NULL;
    if (mb->done_tail != NULL)
        mb->done_tail->next = j;
    else
        mb->done = j;
    mb->done_tail = j;
    mb->outstanding--;
    uint64_t one = 1;
    if (mb->efd >= 0 && write(mb->efd, &one, sizeof(one)) < 0) {
        /* the counter is saturated: a wake-up is pending anyway */
    }
    if (mb->outstanding == 0)
        pthread_cond_broadcast(&mb->idle);
}

static void *hash_thread(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&pool.mu);
    for (;;) {
        while (pool.head == NULL && !pool.shutdown)
            pthread_cond_wait(&pool.work, &pool.mu);
        if (pool.head == NULL)
            break;
        struct auth_hash_job *j = pool.head;
        pool.head = j->next;
        if (pool.head == NULL)
            pool.tail = NULL;
        pthread_mutex_unlock(&pool.mu);
        run_job(j);
        struct auth_mailbox *mb = j->mb;
        pthread_mutex_lock(&mb->mu);
        deliver_locked(mb, j);
        pthread_mutex_unlock(&mb->mu);
        pthread_mutex_lock(&pool.mu);
    }
    pthread_mutex_unlock(&pool.mu);
    return NULL;
}

static void stop_threads_locked(void)
{
    pool.shutdown = 1;
    pthread_cond_broadcast(&pool.work);
    size_t n = pool.nthreads;
    pool.nthreads = 0;
    pthread_mutex_unlock(&pool.mu);
    for (size_t i = 0; i < n; i++)
        pthread_join(pool.threads[i], NULL);
    pthread_mutex_lock(&pool.mu);
}

int auth_hashpool_acquire(const struct auth_config *cfg)
{
    if (sodium_init() < 0)
        return -EIO;
    pthread_mutex_lock(&pool.mu);
    int rc = 0;
    if (pool.refs++ > 0)
        goto out;
    pool.shutdown = 0;
    pool.opslimit = cfg->pwhash_opslimit;
    pool.memlimit = (size_t)cfg->pwhash_memlimit_kib * 1024;
    /* the dummy hash has the same parameters as real ones, so checking it takes as long */
    unsigned char rnd[24];
    randombytes_buf(rnd, sizeof(rnd));
    if (crypto_pwhash_str(pool.dummy, (const char *)rnd, sizeof(rnd), pool.opslimit, pool.memlimit) != 0) {
        rc = -ENOMEM;
        goto fail;
    }
    size_t want = cfg->hash_threads == 0 ? 1 : cfg->hash_threads;
    if (want > sizeof(pool.threads) / sizeof(pool.threads[0]))
        want = sizeof(pool.threads) / sizeof(pool.threads[0]);
    for (size_t i = 0; i < want; i++) {
        if (pthread_create(&pool.threads[i], NULL, hash_thread, NULL) != 0) {
            rc = -EAGAIN;
            stop_threads_locked();
            goto fail;
        }
        pool.nthreads++;
    }
    goto out;
fail:
    pool.refs--;
out:
    pthread_mutex_unlock(&pool.mu);
    return rc;
}

void auth_hashpool_release(void)
{
    pthread_mutex_lock(&pool.mu);
    if (pool.refs > 0 && --pool.refs == 0)
        stop_threads_locked();
    pthread_mutex_unlock(&pool.mu);
}

static void drain(struct auth_mailbox *mb)
{
    pthread_mutex_lock(&mb->mu);
    struct auth_hash_job *j = mb->done;
    mb->done = mb->done_tail = NULL;
    pthread_mutex_unlock(&mb->mu);
    while (j != NULL) {
        struct auth_hash_job *next = j->next;
        j->cb(j->res, j->op == AUTH_HASH_CREATE && j->res == 0 ? j->hash : NULL, j->ctx);
        job_free(j);
        j = next;
    }
}

static void on_wake(h2o_socket_t *sock, const char *err)
{
    (void)err;
    h2o_buffer_consume(&sock->input, sock->input->size);
    drain(sock->data);
}

int auth_mailbox_create(h2o_evloop_t *loop, struct auth_mailbox **out)
{
    struct auth_mailbox *mb = calloc(1, sizeof(*mb));
    if (mb == NULL)
        return -ENOMEM;
    pthread_mutex_init(&mb->mu, NULL);
    pthread_cond_init(&mb->idle, NULL);
    mb->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (mb->efd < 0) {
        int rc = -errno;
        pthread_cond_destroy(&mb->idle);
        pthread_mutex_destroy(&mb->mu);
        free(mb);
        return rc;
    }
    /* h2o closes the fd with the socket; the hashing threads write to the same fd until stop */
    mb->sock = h2o_evloop_socket_create(loop, mb->efd, 0);
    mb->sock->data = mb;
    h2o_socket_read_start(mb->sock, on_wake);
    *out = mb;
    return 0;
}

void auth_mailbox_stop(struct auth_mailbox *mb)
{
    if (mb == NULL || mb->stopped)
        return;
    pthread_mutex_lock(&pool.mu);
    pthread_mutex_lock(&mb->mu);
    mb->stopped = 1;
    /* take our queued jobs back */
    struct auth_hash_job **pp = &pool.head;
    pool.tail = NULL;
    while (*pp != NULL) {
        struct auth_hash_job *j = *pp;
        if (j->mb == mb) {
            *pp = j->next;
            j->res = -ECANCELED;
            deliver_locked(mb, j);
        } else {
            pool.tail = j;
            pp = &j->next;
        }
    }
    pthread_mutex_unlock(&pool.mu);
    while (mb->outstanding > 0)
        pthread_cond_wait(&mb->idle, &mb->mu);
    pthread_mutex_unlock(&mb->mu);
    drain(mb);
    h2o_socket_read_stop(mb->sock);
    h2o_socket_close(mb->sock);
    mb->sock = NULL;
    mb->efd = -1;
}

void auth_mailbox_free(struct auth_mailbox *mb)
{
    if (mb == NULL)
        return;
    auth_mailbox_stop(mb);
    pthread_cond_destroy(&mb->idle);
    pthread_mutex_destroy(&mb->mu);
    free(mb);
}

int auth_hash_submit(struct auth_mailbox *mb, enum auth_hash_op op, const char *password, size_t len,
                     const char *hash, auth_hash_cb cb, void *ctx)
{
    if (mb->stopped)
        return -ESHUTDOWN;
    struct auth_hash_job *j = calloc(1, sizeof(*j));
    if (j == NULL)
        return -ENOMEM;
    j->password = malloc(len + 1);
    if (j->password == NULL) {
        free(j);
        return -ENOMEM;
    }
    memcpy(j->password, password, len);
    j->password[len] = '\0';
    j->len = len;
    j->mb = mb;
    j->op = op;
    j->cb = cb;
    j->ctx = ctx;
    if (op == AUTH_HASH_VERIFY) {
        if (hash == NULL || strlen(hash) >= sizeof(j->hash))
            j->use_dummy = 1;
        else
            memcpy(j->hash, hash, strlen(hash) + 1);
    }
    pthread_mutex_lock(&mb->mu);
    mb->outstanding++;
    pthread_mutex_unlock(&mb->mu);
    pthread_mutex_lock(&pool.mu);
    if (pool.nthreads == 0) { /* no pool: refuse rather than queue forever */
        pthread_mutex_unlock(&pool.mu);
        pthread_mutex_lock(&mb->mu);
        mb->outstanding--;
        pthread_mutex_unlock(&mb->mu);
        job_free(j);
        return -ESHUTDOWN;
    }
    if (pool.tail != NULL)
        pool.tail->next = j;
    else
        pool.head = j;
    pool.tail = j;
    pthread_cond_signal(&pool.work);
    pthread_mutex_unlock(&pool.mu);
    return 0;
}
