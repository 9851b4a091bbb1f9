/* larson-cxx: the server simulation of larson.c, in C++: blocks come from operator new and go
 * back through sized operator delete (what std::allocator and -fsized-deallocation code do),
 * so the allocator's C++ entry points are measured, not only malloc and free.
 *
 * THREADS threads run for a fixed time, each repeatedly putting a fresh block of 8..1000 bytes
 * into a random slot of one shared array and deleting the block it displaced, which in general
 * another thread allocated. Every displaced block's contents are verified against its tag, and
 * at the end the tags freed must sum to the tags allocated. Fixed-time: the result is
 * throughput (replacements per second).
 *
 * Usage: larson-cxx THREADS MILLISECONDS
 */
#include "bench.h"
#include <atomic>
#include <new>
#include <thread>
#include <vector>

static const long SLOTS_PER_THREAD = 2000;
static std::atomic<void *> *slots;
static long nslots;
static std::atomic<int> stop{0};

static size_t size_of_tag(uint64_t tag) { return 8 + mix64(tag) % 993; }

struct Worker {
    int id;
    long ops = 0;
    uint64_t freed_sum = 0;
};

static void verify_delete(void *old, uint64_t *sum)
{
    uint64_t t = block_tag(old);
    size_t n = size_of_tag(t);
    if (!check_block(old, n, t)) FAIL("larson-cxx: block %p corrupted", old);
    *sum += t;
    ::operator delete(old, n); // sized delete
}

static void work(Worker *w)
{
    rng_t r;
    rng_seed(&r, 777 + w->id);
    uint64_t seq = (uint64_t)(w->id + 1) << 40;
    for (;;) {
        for (int k = 0; k < 64; k++) {
            uint64_t tag = seq++;
            size_t n = size_of_tag(tag);
            void *p = ::operator new(n);
            fill_block(p, n, tag);
            long idx = (long)rng_below(&r, (uint64_t)nslots);
            void *old = slots[idx].exchange(p, std::memory_order_acq_rel);
            if (old) verify_delete(old, &w->freed_sum);
        }
        w->ops += 64;
        if (stop.load(std::memory_order_relaxed)) break;
    }
}

int main(int argc, char **argv)
{
    int T;
    long ms;
    parse_args(argc, argv, &T, &ms, 3000);
    nslots = (long)T * SLOTS_PER_THREAD;
    slots = new std::atomic<void *>[nslots];
    for (long i = 0; i < nslots; i++) {
        size_t n = size_of_tag((uint64_t)i);
        void *p = ::operator new(n);
        fill_block(p, n, (uint64_t)i);
        slots[i].store(p);
    }
    std::vector<Worker> ws(T);
    std::vector<std::thread> th;
    double t0 = now_s();
    for (int i = 0; i < T; i++) {
        ws[i].id = i;
        th.emplace_back(work, &ws[i]);
    }
    struct timespec d = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&d, &d) != 0 && errno == EINTR) {
    }
    stop.store(1);
    for (auto &t : th) t.join();
    double dt = now_s() - t0;
    long ops = 0;
    uint64_t sum = 0, all = 0;
    for (auto &w : ws) {
        ops += w.ops;
        sum += w.freed_sum;
        uint64_t base = (uint64_t)(w.id + 1) << 40;
        all += (uint64_t)w.ops * base + (uint64_t)w.ops * (uint64_t)(w.ops - 1) / 2;
    }
    for (long i = 0; i < nslots; i++) {
        all += (uint64_t)i;
        verify_delete(slots[i].load(), &sum);
    }
    if (sum != all) FAIL("larson-cxx: tags freed %llx != tags allocated %llx", (unsigned long long)sum, (unsigned long long)all);
    delete[] slots;
    printf("RESULT larson-cxx threads=%d ops=%ld secs=%.3f ops_per_s=%.0f\n", T, ops, dt, ops / dt);
    return 0;
}
