/* Worker threads for the engine's parallel work (the optimizer's update of a
 * long parameter vector, optim.tmpl.h; prediction's chunks of rows,
 * train.tmpl.h).  fm_parallel_run hands
 * out the chunks of a task one at a time, from a shared counter, to the
 * calling thread and to the workers: whoever is free takes the next one.  A
 * worker that wakes late (sleeping threads take up to milliseconds to wake
 * on a busy or virtualized machine) finds the chunks done and costs
 * nothing; the caller never waits for a thread that has not started.
 *
 * The workers are created on first use and then wait for work, spinning
 * briefly (the next batch's update comes a GEMM pass later) before
 * sleeping on a condition variable.  One task at a time uses them: a
 * concurrent caller (another estimator fitted in another thread) runs its
 * chunks itself, which computes the same result. */
#include <pthread.h>
#include <stdint.h>

#include "engine.h"

#define MAX_WORKERS 63
/* Polls of the shared state before a thread sleeps: tens of microseconds. */
#define SPIN_POLLS 20000
#if defined(__x86_64__) || defined(__i386__)
#define CPU_RELAX() __builtin_ia32_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

static pthread_mutex_t pool_owner = PTHREAD_MUTEX_INITIALIZER; /* held by the task's caller */
static pthread_mutex_t state_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t work_ready = PTHREAD_COND_INITIALIZER;
static pthread_cond_t work_done = PTHREAD_COND_INITIALIZER;
static int n_workers;
static int atfork_installed;
/* The current task (under state_lock); generation counts tasks.  active:
 * workers holding a task, which must drop it before the next is published
 * (it would otherwise take the next task's chunks for the old function). */
static fm_task_fn task_fn;
static void *task_ctx;
static int task_chunks;
static uint64_t generation;
static int active;
/* Atomics: the next chunk to take, and the chunks finished. */
static int next_chunk, chunks_done;
/* The generation when each worker was made: it waits for the next one. */
static uint64_t start_generation[MAX_WORKERS + 1];

/* Take and run chunks of the task (fn, ctx, n_chunks) until none is left. */
static void run_chunks(fm_task_fn fn, void *ctx, int n_chunks)
{
    for (;;) {
        const int chunk = __atomic_fetch_add(&next_chunk, 1, __ATOMIC_ACQ_REL);
        if (chunk >= n_chunks) return;
        fn(ctx, chunk, n_chunks);
        if (__atomic_add_fetch(&chunks_done, 1, __ATOMIC_ACQ_REL) == n_chunks) {
            pthread_mutex_lock(&state_lock);
            pthread_cond_broadcast(&work_done);
            pthread_mutex_unlock(&state_lock);
        }
    }
}

static void *worker_main(void *arg)
{
    uint64_t seen = start_generation[(intptr_t)arg];
    for (;;) {
        for (int i = 0; i < SPIN_POLLS && __atomic_load_n(&generation, __ATOMIC_ACQUIRE) == seen;
             i++)
            CPU_RELAX();
        pthread_mutex_lock(&state_lock);
        while (generation == seen) pthread_cond_wait(&work_ready, &state_lock);
        seen = generation;
        const fm_task_fn fn = task_fn;
        void *ctx = task_ctx;
        const int n_chunks = task_chunks;
        active++;
        pthread_mutex_unlock(&state_lock);

        run_chunks(fn, ctx, n_chunks);

        pthread_mutex_lock(&state_lock);
        if (--active == 0) pthread_cond_broadcast(&work_done);
        pthread_mutex_unlock(&state_lock);
    }
    return NULL;
}

/* A forked child has none of the parent's threads: start from scratch. */
static void reset_in_child(void)
{
    pthread_mutex_init(&pool_owner, NULL);
    pthread_mutex_init(&state_lock, NULL);
    pthread_cond_init(&work_ready, NULL);
    pthread_cond_init(&work_done, NULL);
    n_workers = 0;
    active = 0;
}

/* At least `wanted` workers if threads can be made; how many there are. */
static int ensure_workers(int wanted)
{
    if (!atfork_installed) {
        if (pthread_atfork(NULL, NULL, reset_in_child) != 0) return 0;
        atfork_installed = 1;
    }
    while (n_workers < wanted && n_workers < MAX_WORKERS) {
        pthread_t thread;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        start_generation[n_workers + 1] = generation;
        const int failed =
            pthread_create(&thread, &attr, worker_main, (void *)(intptr_t)(n_workers + 1));
        pthread_attr_destroy(&attr);
        if (failed) break;
        n_workers++;
    }
    return n_workers;
}

void fm_parallel_run(int n_threads, int n_chunks, fm_task_fn fn, void *ctx)
{
    int owner = 0;
    if (n_threads > 1 && n_chunks > 1 && pthread_mutex_trylock(&pool_owner) == 0) {
        owner = 1;
        if (ensure_workers(n_threads - 1) == 0) { /* no thread could be made */
            pthread_mutex_unlock(&pool_owner);
            owner = 0;
        }
    }
    if (!owner) {
        for (int chunk = 0; chunk < n_chunks; chunk++) fn(ctx, chunk, n_chunks);
        return;
    }
    pthread_mutex_lock(&state_lock);
    while (active > 0) pthread_cond_wait(&work_done, &state_lock);
    task_fn = fn;
    task_ctx = ctx;
    task_chunks = n_chunks;
    __atomic_store_n(&next_chunk, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&chunks_done, 0, __ATOMIC_RELEASE);
    __atomic_add_fetch(&generation, 1, __ATOMIC_ACQ_REL);
    pthread_cond_broadcast(&work_ready);
    pthread_mutex_unlock(&state_lock);

    run_chunks(fn, ctx, n_chunks);

    /* the chunks the workers took: ctx must live until they are done */
    for (int i = 0;
         i < SPIN_POLLS && __atomic_load_n(&chunks_done, __ATOMIC_ACQUIRE) < n_chunks; i++)
        CPU_RELAX();
    pthread_mutex_lock(&state_lock);
    while (__atomic_load_n(&chunks_done, __ATOMIC_ACQUIRE) < n_chunks)
        pthread_cond_wait(&work_done, &state_lock);
    pthread_mutex_unlock(&state_lock);
    pthread_mutex_unlock(&pool_owner);
}
