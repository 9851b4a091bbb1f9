/* t_trim: malloc_trim gives free memory back to the OS at once. 24 MiB of small blocks are
 * allocated and freed: less than the exchange keeps for reuse, so without a trim they stay
 * resident until the purge delay passes and the allocator is used again. malloc_trim(0) must
 * return 1 and RSS must fall by most of it; a second trim has nothing left to give (0).
 * A large block freed into the cache of mappings counts too: the trim that unmaps it returns 1
 * (it once answered 0, counting only pages released with madvise). */
#include "check.h"

int main(void)
{
    require_bmalloc();
    long start = rss_kib();
    void *head = NULL;
    for (long got = 0; got < (24L << 20); got += 64) {
        void **b = malloc(64);
        if (!b)
            FATAL("malloc failed");
        memset(b, 0x77, 64);
        *b = head;
        head = b;
    }
    while (head) {
        void *next = *(void **)head;
        free(head);
        head = next;
    }
    long before = rss_kib();
    int r = malloc_trim(0);
    long after = rss_kib();
    printf("start %ld KiB, after freeing %ld KiB, after malloc_trim %ld KiB\n", start, before, after);
    CHECK_MSG(before - start > 16 * 1024, "the freed blocks were not resident (%ld KiB)", before);
    CHECK_MSG(r == 1, "malloc_trim(0) = %d, want 1", r);
    CHECK_MSG(before - after > 12 * 1024, "RSS fell only from %ld to %ld KiB", before, after);
    CHECK_MSG(malloc_trim(0) == 0, "a second malloc_trim found memory to release");
    char *big = OPQ(malloc(3 << 20));
    CHECK(big != NULL);
    memset(big, 1, 3 << 20);
    free(big);
    r = malloc_trim(0);
    CHECK_MSG(r == 1, "malloc_trim(0) after freeing a large block = %d, want 1", r);
    return test_done("t_trim");
}
