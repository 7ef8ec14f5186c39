/*
 * pool.c: worker threads for a tape's dense kernels.
 *
 * A pool runs one task at a time, split into parts: the caller runs part 0
 * and parts 1 ... n-1 run on the workers, and mgc__pool_run returns when all
 * are done. A task writes disjoint outputs per part and every output element
 * is computed by one part, in its own fixed order, so the bits never depend
 * on the number of parts.
 *
 * A worker spins briefly after a task, since the next one of the same run
 * follows within microseconds, then sleeps on a condition variable until the
 * next run. After a fork the workers do not exist in the child: a pool made
 * in another process is never touched there, its tasks run in the caller
 * alone (the same bits), and it is freed without joining.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define SPIN_NS 100000          /* how long a worker polls for the next task before it
                                    sleeps: the tasks of one run come microseconds apart */

struct mgc_pool {
    uint32_t parts;              /* workers + 1 (the caller) */
    pid_t pid;                   /* the process whose threads these are */
    pthread_t *threads;
    uint32_t started;            /* threads created */
    pthread_mutex_t mutex;
    pthread_cond_t wake, idle;
    uint64_t task;               /* number of the current task (atomic) */
    uint32_t busy;               /* workers still on it (atomic) */
    int quit;
    mgc_pool_task fn;
    void *context;
};

typedef struct {
    mgc_pool *pool;
    uint32_t part;
} worker_arg;

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline void pause_once(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* polls *word until it differs from seen, or SPIN_NS pass */
static void spin_while_equal(const uint64_t *word, uint64_t seen) {
    uint64_t start = 0;
    for (uint32_t k = 0; __atomic_load_n(word, __ATOMIC_ACQUIRE) == seen; k++) {
        pause_once();
        if ((k & 63) == 63) {
            uint64_t t = now_ns();
            if (!start) start = t;
            else if (t - start > SPIN_NS) return;
        }
    }
}

static void *worker(void *arg) {
    worker_arg self = *(worker_arg *)arg;
    free(arg);
    mgc_pool *pool = self.pool;
    uint64_t seen = 0;
    for (;;) {
        uint64_t task;
        spin_while_equal(&pool->task, seen);
        if ((task = __atomic_load_n(&pool->task, __ATOMIC_ACQUIRE)) == seen) {
            pthread_mutex_lock(&pool->mutex);
            while ((task = __atomic_load_n(&pool->task, __ATOMIC_ACQUIRE)) == seen && !pool->quit)
                pthread_cond_wait(&pool->wake, &pool->mutex);
            int quit = pool->quit;
            pthread_mutex_unlock(&pool->mutex);
            if (quit) return NULL;
        }
        seen = task;
        pool->fn(pool->context, self.part, pool->parts);
        if (__atomic_sub_fetch(&pool->busy, 1, __ATOMIC_ACQ_REL) == 0) {
            pthread_mutex_lock(&pool->mutex);
            pthread_cond_signal(&pool->idle);
            pthread_mutex_unlock(&pool->mutex);
        }
    }
}

mgc_pool *mgc__pool_new(uint32_t parts) {
    if (parts < 2) return NULL;
    mgc_pool *pool = calloc(1, sizeof *pool);
    if (!pool) return NULL;
    pool->parts = parts;
    pool->pid = getpid();
    pool->threads = calloc(parts - 1, sizeof(pthread_t));
    if (!pool->threads || pthread_mutex_init(&pool->mutex, NULL)) {
        free(pool->threads);
        free(pool);
        return NULL;
    }
    pthread_cond_init(&pool->wake, NULL);
    pthread_cond_init(&pool->idle, NULL);
    for (uint32_t k = 1; k < parts; k++) {
        worker_arg *arg = malloc(sizeof *arg);
        if (!arg) break;
        *arg = (worker_arg){pool, k};
        if (pthread_create(&pool->threads[k - 1], NULL, worker, arg)) {
            free(arg);
            break;
        }
        pool->started++;
    }
    if (pool->started != parts - 1) {
        mgc__pool_free(pool);
        return NULL;
    }
    return pool;
}

void mgc__pool_free(mgc_pool *pool) {
    if (!pool) return;
    if (pool->pid != getpid()) {  /* a fork's child: the threads are not here to join */
        free(pool->threads);
        free(pool);
        return;
    }
    pthread_mutex_lock(&pool->mutex);
    pool->quit = 1;
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->mutex);
    for (uint32_t k = 0; k < pool->started; k++) pthread_join(pool->threads[k], NULL);
    pthread_cond_destroy(&pool->wake);
    pthread_cond_destroy(&pool->idle);
    pthread_mutex_destroy(&pool->mutex);
    free(pool->threads);
    free(pool);
}

void mgc__pool_run(mgc_pool *pool, mgc_pool_task fn, void *context) {
    if (!pool || pool->pid != getpid()) {  /* no pool, or another process's */
        fn(context, 0, 1);
        return;
    }
    pool->fn = fn;
    pool->context = context;
    __atomic_store_n(&pool->busy, pool->parts - 1, __ATOMIC_RELEASE);
    pthread_mutex_lock(&pool->mutex);
    __atomic_add_fetch(&pool->task, 1, __ATOMIC_ACQ_REL);
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->mutex);
    fn(context, 0, pool->parts);
    for (uint32_t k = 0; __atomic_load_n(&pool->busy, __ATOMIC_ACQUIRE) && k < 4096; k++) pause_once();
    if (__atomic_load_n(&pool->busy, __ATOMIC_ACQUIRE)) {
        pthread_mutex_lock(&pool->mutex);
        while (__atomic_load_n(&pool->busy, __ATOMIC_ACQUIRE)) pthread_cond_wait(&pool->idle, &pool->mutex);
        pthread_mutex_unlock(&pool->mutex);
    }
}
