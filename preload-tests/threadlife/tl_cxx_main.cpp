// Driver for lib_tlcxx.so (see t_thread_local_cxx.sh): waves of std::threads whose
// thread_local objects (in the library and in this program) allocate in their destructors,
// while busy threads keep allocating; the main thread frees what the destructors parked.
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <string>
#include <thread>
#include <vector>

extern "C" void tlcxx_work(uint32_t seed);
extern "C" size_t tlcxx_drain();

static std::atomic<int> stop{0};

struct Local {
    std::vector<std::string> v;
    ~Local()
    {
        // allocate in this program's own thread_local destructor too
        std::vector<std::string> w(v.rbegin(), v.rend());
        for (size_t i = 0; i < v.size(); i++)
            if (w[v.size() - 1 - i] != v[i]) {
                std::fprintf(stderr, "tl_cxx: copy differs\n");
                std::abort();
            }
    }
};
static thread_local Local local;

static void require_bmalloc()
{
    Dl_info info;
    void *m = dlsym(RTLD_DEFAULT, "malloc");
    if (!getenv("TL_ALLOW_GLIBC") &&
        (!m || !dladdr(m, &info) || !info.dli_fname || !std::strstr(info.dli_fname, "libbmalloc"))) {
        std::fprintf(stderr, "tl_cxx: malloc is not libbmalloc's\n");
        std::exit(1);
    }
}

int main(int argc, char **argv)
{
    require_bmalloc();
    int waves = argc > 1 ? std::atoi(argv[1]) : 30;
    std::vector<std::thread> busy;
    for (int b = 0; b < 2; b++)
        busy.emplace_back([b] {
            std::vector<std::string> v(64);
            uint32_t i = 0;
            while (!stop.load(std::memory_order_relaxed)) {
                std::string &s = v[i % 64];
                if (!s.empty() && s != std::string(s.size(), char('a' + s.size() % 26))) {
                    std::fprintf(stderr, "tl_cxx: busy string corrupted\n");
                    std::abort();
                }
                size_t n = 1 + (i * 2654435761u >> 20) % (i % 16 == 0 ? 100000 : 400);
                s.assign(n, char('a' + n % 26));
                i++;
            }
            (void)b;
        });
    uint32_t seed = 1;
    size_t parked = 0;
    for (int w = 0; w < waves; w++) {
        std::vector<std::thread> t;
        for (int i = 0; i < 8; i++)
            t.emplace_back([s = seed++] {
                tlcxx_work(s);
                for (int k = 0; k < 20; k++)
                    local.v.push_back(std::to_string(s * 1000 + k));
            });
        for (auto &th : t)
            th.join();
        parked += tlcxx_drain();
    }
    stop = 1;
    for (auto &th : busy)
        th.join();
    parked += tlcxx_drain();
    size_t want = size_t(waves) * 8 * 2;
    std::fprintf(stderr, "tl_cxx: %d threads, %zu strings parked by thread_local destructors\n",
                 waves * 8, parked);
    if (parked != want) {
        std::fprintf(stderr, "tl_cxx: expected %zu parked strings\n", want);
        return 1;
    }
    // the main thread's own thread_locals are destroyed at exit, after main returns
    tlcxx_work(seed);
    local.v.push_back("main");
    return 0;
}
