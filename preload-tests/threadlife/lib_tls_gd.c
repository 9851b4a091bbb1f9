/* lib_tls_gd.so: a library with its own thread-local storage in the general-dynamic model
 * (the default for -fPIC): a 64 KiB __thread array (.tbss) and an initialised one (.tdata).
 * dlopen'ed by tl_dlopen_main after threads are running: each thread's first access goes
 * through __tls_get_addr, which allocates the thread's block for this module with malloc (ours)
 * and frees it when the thread exits. Built by preload-tests/t_dlopen_tls.sh. */
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

__thread unsigned char gd_big[65536];
__thread uint64_t gd_init[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
__thread int gd_touched;
__thread uint32_t gd_seed;

/* Returns 0 if this thread's TLS holds what it should, a negative code otherwise. */
int tls_gd_work(uint32_t seed)
{
    if (!gd_touched) {
        for (int i = 0; i < 32; i++)
            if (gd_init[i] != (uint64_t)i + 1)
                return -1; /* .tdata not initialised */
        for (int i = 0; i < 65536; i += 97)
            if (gd_big[i])
                return -2; /* .tbss not zeroed */
        gd_touched = 1;
    } else {
        for (int i = 0; i < 65536; i += 61)
            if (gd_big[i] != (unsigned char)(gd_seed + i))
                return -3; /* another thread's writes, or freed and reused memory */
        for (int i = 0; i < 32; i++)
            if (gd_init[i] != gd_seed * 3 + i)
                return -4;
    }
    gd_seed = seed;
    for (int i = 0; i < 65536; i++)
        gd_big[i] = (unsigned char)(seed + i);
    for (int i = 0; i < 32; i++)
        gd_init[i] = seed * 3 + i;
    /* allocate while using the TLS */
    void *p[8];
    for (int i = 0; i < 8; i++) {
        p[i] = malloc(32 << i);
        if (!p[i])
            return -5;
        memset(p[i], (int)seed, 32 << i);
    }
    sched_yield();
    for (int i = 0; i < 8; i++)
        free(p[i]);
    for (int i = 0; i < 65536; i += 61)
        if (gd_big[i] != (unsigned char)(seed + i))
            return -6;
    return 0;
}
