/* lib_tls_ie.so: a dlopen'ed library whose thread-locals use the initial-exec model (placed
 * in the static TLS surplus at dlopen time), plus a general-dynamic one. Built by
 * preload-tests/t_dlopen_tls.sh. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static __thread uint32_t ie_arr[48] __attribute__((tls_model("initial-exec")));
static __thread int ie_touched __attribute__((tls_model("initial-exec")));
static __thread char *gd_ptr; /* a heap block owned by this thread, freed at the next call */

int tls_ie_work(uint32_t seed)
{
    if (ie_touched) {
        for (int i = 0; i < 48; i++)
            if (ie_arr[i] != ie_arr[0] + (uint32_t)i)
                return -11;
        if (!gd_ptr || (unsigned char)gd_ptr[0] != (unsigned char)ie_arr[0] ||
            (unsigned char)gd_ptr[999] != (unsigned char)ie_arr[0])
            return -12;
        free(gd_ptr);
    } else {
        for (int i = 0; i < 48; i++)
            if (ie_arr[i])
                return -13;
    }
    ie_touched = 1;
    for (int i = 0; i < 48; i++)
        ie_arr[i] = seed + (uint32_t)i;
    gd_ptr = malloc(1000);
    if (!gd_ptr)
        return -14;
    memset(gd_ptr, (int)(seed & 0xff), 1000);
    return 0;
}
