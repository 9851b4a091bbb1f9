// lib_tlcxx.so: C++ thread_local objects with destructors that allocate (issue 5, thread life).
// Built with g++ by preload-tests/t_thread_local_cxx.sh.
//
// tlcxx_work(seed) fills this thread's thread_local holder (strings, a map of vectors, a
// unique_ptr'd buffer). When the thread exits, the holder's destructor checks all of it,
// allocates and frees more (strings, vectors, a 200 KB and a 2 MB buffer), and parks new
// strings on a global list that the main thread checks and frees later (tlcxx_drain).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

static std::string expected(uint32_t seed, uint32_t i)
{
    size_t len = 1 + (i * 37u + seed * 11u) % 300u;
    std::string s(len, ' ');
    for (size_t k = 0; k < len; k++)
        s[k] = char('!' + (seed * 7u + i * 13u + k * 3u) % 90u);
    return s;
}

[[noreturn]] static void fail(const char *what, uint32_t seed, uint32_t i)
{
    std::fprintf(stderr, "lib_tlcxx: %s (seed %u, item %u)\n", what, seed, i);
    std::abort();
}

struct Parked {
    uint32_t seed, i;
    std::string s;
};

static std::mutex parked_lock;
// never destroyed: the main thread's own holder parks into it during exit
static std::vector<Parked *> *parked = new std::vector<Parked *>;

struct Holder {
    uint32_t seed = 0;
    bool used = false;
    std::vector<std::string> strings;
    std::map<int, std::vector<uint32_t>> maps;
    std::unique_ptr<unsigned char[]> buf;
    size_t buflen = 0;

    ~Holder()
    {
        if (!used)
            return;
        for (uint32_t i = 0; i < strings.size(); i++)
            if (strings[i] != expected(seed, i))
                fail("thread_local string changed before its destructor", seed, i);
        for (auto &kv : maps)
            for (size_t k = 0; k < kv.second.size(); k++)
                if (kv.second[k] != seed + uint32_t(kv.first) + uint32_t(k))
                    fail("thread_local map changed", seed, uint32_t(kv.first));
        for (size_t k = 0; k < buflen; k++)
            if (buf[k] != (unsigned char)(seed + k * 5))
                fail("thread_local buffer changed", seed, uint32_t(k));
        // allocate and free while the thread exits
        std::vector<std::string> tmp;
        for (uint32_t i = 0; i < 50; i++)
            tmp.push_back(expected(seed, 1000 + i));
        std::map<uint32_t, std::string> m;
        for (uint32_t i = 0; i < 50; i++)
            m[i] = tmp[i] + tmp[(i + 1) % 50];
        std::unique_ptr<char[]> big(new char[200000]);
        std::memset(big.get(), 1, 200000);
        std::vector<char> huge(2u << 20, 2); // a large (mmapped) block
        for (uint32_t i = 0; i < 50; i++)
            if (tmp[i] != expected(seed, 1000 + i))
                fail("string built in a destructor changed", seed, i);
        // park two strings for the main thread
        std::lock_guard<std::mutex> g(parked_lock);
        for (uint32_t i = 0; i < 2; i++)
            parked->push_back(new Parked{seed, 5000 + i, expected(seed, 5000 + i)});
    }
};

static thread_local Holder holder;
static thread_local std::string tl_plain; // a second thread_local with a destructor

extern "C" void tlcxx_work(uint32_t seed)
{
    holder.used = true;
    holder.seed = seed;
    for (uint32_t i = 0; i < 100; i++)
        holder.strings.push_back(expected(seed, i));
    for (int k = 0; k < 10; k++)
        for (uint32_t j = 0; j < 20; j++)
            holder.maps[k].push_back(seed + uint32_t(k) + j);
    holder.buflen = 1000 + seed % 5000;
    holder.buf.reset(new unsigned char[holder.buflen]);
    for (size_t k = 0; k < holder.buflen; k++)
        holder.buf[k] = (unsigned char)(seed + k * 5);
    tl_plain = expected(seed, 424242);
}

extern "C" size_t tlcxx_drain()
{
    std::vector<Parked *> mine;
    {
        std::lock_guard<std::mutex> g(parked_lock);
        mine.swap(*parked);
    }
    for (Parked *p : mine) {
        if (p->s != expected(p->seed, p->i))
            fail("parked string changed before the main thread freed it", p->seed, p->i);
        delete p;
    }
    return mine.size();
}
