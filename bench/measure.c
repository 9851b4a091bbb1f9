/* measure: runs a command and reports its wall time, user+system time and peak RSS.
 *
 * Used by scripts/bench instead of measuring from Python directly: Linux's
 * ru_maxrss of a child includes the resident set it had before exec, which
 * for a fork of the Python interpreter is tens of MiB.  This launcher is
 * small, so what a workload reports as peak RSS is the workload's own.
 *
 * Usage: measure OUTFILE CMD ARGS...   -- writes one line to OUTFILE:
 *   "<status> <wall s> <user s> <sys s> <maxrss KiB>", status = exit code or -signal.
 * The launcher itself runs without the allocator under test: when BENCH_PRELOAD
 * is set, the child sets LD_PRELOAD to its value just before exec.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: measure OUTFILE CMD ARGS...\n"); return 2; }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t pid = fork();
    if (pid < 0) { perror("fork"); return 2; }
    if (pid == 0) {
        const char *pre = getenv("BENCH_PRELOAD");
        if (pre && *pre) setenv("LD_PRELOAD", pre, 1);
        unsetenv("BENCH_PRELOAD");
        execvp(argv[2], argv + 2);
        perror("exec");
        _exit(127);
    }
    int st; struct rusage ru;
    if (wait4(pid, &st, 0, &ru) < 0) { perror("wait4"); return 2; }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    FILE *f = fopen(argv[1], "w");
    if (!f) { perror(argv[1]); return 2; }
    fprintf(f, "%d %.6f %.6f %.6f %ld\n", WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st),
            (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9,
            ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6, ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6,
            ru.ru_maxrss);
    fclose(f);
    return 0;
}
