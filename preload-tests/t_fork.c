/* t_fork: fork while other threads allocate.
 * 3 threads run a malloc/realloc/free loop with content checks (with bursts of
 * 3000 blocks freed at once, so blocks also move through the exchange); the main thread
 * forks 300 times meanwhile.  Each child (alarm 60 s against a hang on a lock
 * inherited from a thread that no longer exists) mallocs, callocs, reallocs,
 * memaligns and frees with content checks, allocates and frees bursts of 5000
 * blocks (3 rounds), frees a block the parent allocated
 * before the fork, allocates a large block, starts 2 threads that allocate and
 * free, joins them, and exits 0, half of them with _exit(0), half with exit(0)
 * (which runs the exit handlers, bmalloc's included).
 * The parent checks every child's status.  Finally a child that starts a thread,
 * allocates and calls exit() normally must exit 0. */
#include "check.h"
#include <pthread.h>
#include <stdatomic.h>

#define NWORKERS 3
#define NFORKS 300

static atomic_int stop;
static atomic_long loops;

static void *worker(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg * 1000;
    void *keep[32] = {0};
    size_t keep_n[32] = {0};
    unsigned keep_seed[32] = {0};
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        seed++;
        int k = seed % 32;
        if (keep[k]) {
            CHECK_FILL(keep[k], keep_n[k], keep_seed[k]);
            if (seed % 3 == 0) {
                size_t nn = keep_n[k] * 2 + 1;
                keep[k] = realloc(keep[k], nn);
                CHECK_FILL(keep[k], keep_n[k], keep_seed[k]);
                keep_n[k] = nn;
                fill(keep[k], nn, keep_seed[k]);
                continue;
            }
            free(keep[k]);
        }
        if (seed % 64 == 0) { /* a burst: enough frees to overflow to the exchange */
            static __thread void *burst[3000];
            for (int i = 0; i < 3000; i++) {
                burst[i] = malloc(48 + (seed % 3) * 16);
                *(unsigned *)burst[i] = seed + i;
            }
            for (int i = 0; i < 3000; i++) {
                CHECK_EQ(*(unsigned *)burst[i], seed + i);
                free(burst[i]);
            }
        }
        keep_n[k] = 1 + (seed * 2654435761u) % ((seed % 50) ? 2000 : 300000);
        keep[k] = malloc(keep_n[k]);
        keep_seed[k] = seed;
        fill(keep[k], keep_n[k], seed);
        atomic_fetch_add_explicit(&loops, 1, memory_order_relaxed);
    }
    for (int k = 0; k < 32; k++)
        free(keep[k]);
    return NULL;
}

static void *child_thread(void *arg)
{
    uintptr_t n = (uintptr_t)arg;
    for (int i = 0; i < 200; i++) {
        unsigned char *p = malloc(n + i);
        if (!p)
            _exit(10);
        fill(p, n + i, i);
        if (find_bad(p, n + i, i) != (size_t)-1)
            _exit(11);
        free(p);
    }
    return NULL;
}

static void child(int round, unsigned char *inherited, size_t inherited_n)
{
    alarm(60);
    /* the parent's block is ours too now */
    if (find_bad(inherited, inherited_n, 4242) != (size_t)-1)
        _exit(20);
    free(inherited);
    unsigned char *p = malloc(1000);
    unsigned char *c = calloc(100, 30);
    if (!p || !c)
        _exit(21);
    for (int i = 0; i < 3000; i++)
        if (c[i])
            _exit(22);
    fill(p, 1000, round);
    p = realloc(p, 50000);
    if (!p || find_bad(p, 1000, round) != (size_t)-1)
        _exit(23);
    void *a = memalign(4096, 5000);
    if (!a || (uintptr_t)a % 4096)
        _exit(24);
    unsigned char *big = malloc(3 << 20);
    if (!big)
        _exit(25);
    memset(big, 1, 3 << 20);
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        if (pthread_create(&t[i], NULL, child_thread, (void *)(uintptr_t)(100 + 1000 * i)))
            _exit(26);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    /* bursts: take blocks from (and give them to) the exchange the parent's
     * threads were using when the fork happened */
    static void *burst[5000];
    for (int r = 0; r < 3; r++) {
        for (int i = 0; i < 5000; i++) {
            burst[i] = malloc(48 + (size_t)(r % 3) * 16);
            if (!burst[i])
                _exit(27);
            *(int *)burst[i] = i;
        }
        for (int i = 0; i < 5000; i++) {
            if (*(int *)burst[i] != i)
                _exit(28);
            free(burst[i]);
        }
    }
    free(big);
    free(a);
    free(c);
    free(p);
    if (round % 2)
        exit(0);
    _exit(0);
}

int main(void)
{
    require_bmalloc();
    pthread_t w[NWORKERS];
    for (int i = 0; i < NWORKERS; i++)
        pthread_create(&w[i], NULL, worker, (void *)(uintptr_t)(i + 1));
    int children_ok = 0;
    for (int round = 0; round < NFORKS; round++) {
        size_t n = 100 + round;
        unsigned char *inherited = malloc(n);
        fill(inherited, n, 4242);
        pid_t pid = fork();
        if (pid < 0)
            FATAL("fork: %s", strerror(errno));
        if (pid == 0)
            child(round, inherited, n);
        int st;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
            ;
        char how[128];
        describe_status(st, how, sizeof how);
        if (CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "fork child %d %s", round, how))
            children_ok++;
        free(inherited);
        if (check_failures > 10)
            break;
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < NWORKERS; i++)
        pthread_join(w[i], NULL);
    CHECK_EQ(children_ok, NFORKS);
    CHECK(atomic_load(&loops) > 0);

    /* last: a child that calls exit() normally after starting a thread and
     * allocating (its stderr in a pipe, drained) */
    int pfd[2];
    if (pipe(pfd))
        FATAL("pipe");
    pid_t pid = fork();
    if (pid == 0) {
        close(pfd[0]);
        dup2(pfd[1], 2);
        alarm(60);
        pthread_t t;
        pthread_create(&t, NULL, child_thread, (void *)(uintptr_t)77);
        pthread_join(t, NULL);
        void *p = malloc(12345);
        free(p);
        exit(0);
    }
    close(pfd[1]);
    char buf[4096];
    while (read(pfd[0], buf, sizeof buf) > 0)
        ;
    close(pfd[0]);
    int st;
    waitpid(pid, &st, 0);
    char how[128];
    describe_status(st, how, sizeof how);
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "last child %s", how);
    return test_done("t_fork");
}
