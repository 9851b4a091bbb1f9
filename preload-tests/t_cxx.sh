#!/usr/bin/env bash
# t_cxx.sh: a C++ program on bmalloc: thread_local objects with destructors (their
# registration, __cxa_thread_atexit_impl, callocs; they free at thread exit,
# after bmalloc may have released the thread's heap), exceptions (allocated with
# malloc by __cxa_allocate_exception), std::thread, containers, iostreams, static
# objects destroyed at exit.  Its output must be the same as without bmalloc, and
# it must exit 0.
set -u
lib=${BMALLOC_LIB:?run through preload-tests/run}
tmp=${BMALLOC_TEST_TMP:-$(mktemp -d)}
cd "$tmp" || exit 1
command -v g++ >/dev/null || { echo "g++ not installed: cannot run this test"; exit 1; }
cat > prog.cc <<'CC'
#include <algorithm>
#include <atomic>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

static std::atomic<long> destroyed{0};
struct Tracker {
    std::vector<std::string> v;
    Tracker() { for (int i = 0; i < 20; i++) v.push_back(std::string(40 + i, 'x')); }
    ~Tracker() { destroyed += (long)v.size(); v.clear(); v.shrink_to_fit(); std::string s(1000, 'y'); (void)s; }
};
thread_local Tracker tracker;
thread_local std::unique_ptr<std::map<int, std::string>> tl_map;
static std::map<std::string, std::vector<int>> global_map; // destroyed at exit

long work(int id) {
    tracker.v.push_back(std::to_string(id));
    tl_map.reset(new std::map<int, std::string>);
    long sum = 0;
    for (int i = 0; i < 2000; i++) {
        (*tl_map)[i % 97] = std::string(i % 300, char('a' + i % 26));
        try {
            if (i % 100 == 0) throw std::runtime_error("error " + std::to_string(i));
        } catch (const std::exception &e) { sum += (long)std::string(e.what()).size(); }
    }
    std::vector<std::string> words;
    for (int i = 0; i < 3000; i++) words.push_back(std::to_string((i * 7919) % 3001));
    std::sort(words.begin(), words.end());
    for (auto &w : words) sum += (long)w.size();
    for (auto &kv : *tl_map) sum += (long)kv.second.size();
    return sum;
}

int main() {
    long total = 0;
    for (int round = 0; round < 20; round++) {
        std::vector<std::thread> th;
        std::vector<long> res(8);
        for (int i = 0; i < 8; i++) th.emplace_back([&res, i, round] { res[i] = work(round * 8 + i); });
        for (auto &t : th) t.join();
        for (long r : res) total += r;
    }
    for (int i = 0; i < 1000; i++) global_map[std::to_string(i)].assign(i % 50, i);
    std::ostringstream os;
    os << "total " << total << " destroyed " << destroyed.load() << " main " << work(999) << "\n";
    std::cout << os.str();
    return 0;
}
CC
g++ -O2 -pthread -o prog prog.cc || exit 1
want=$(BMALLOC_STATS=0 ./prog) || { echo "fails without bmalloc?"; exit 1; }
got=$(LD_PRELOAD=$lib ./prog 2>err.txt); rc=$?
if [[ $rc != 0 || $got != "$want" ]]; then
    echo "under bmalloc: exit $rc, output [$got], want [$want]; stderr:"; head -20 err.txt; exit 1
fi
echo "same output: $got"
