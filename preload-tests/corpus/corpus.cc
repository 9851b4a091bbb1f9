// corpus: bmalloc's own corpus of memory errors, one small program per case (the case runs
// in a child process of its own, exec'd afresh, so that each starts on a fresh allocator).
//
//   corpus                 runs every case under glibc, bmalloc and bmalloc in checking mode
//                          (BMALLOC_CHECK=1), and checks bmalloc's outcomes against the table
//                          below: exit status 1 on any difference
//   corpus --table         the same, and prints the table in Markdown (README's)
//   corpus --case N        commits error N (what the runner does in each child)
//
// Needs BMALLOC_LIB (the shared object to preload). An outcome is one of:
//   reported   the allocator printed one line ("bmalloc: <call>(<pointer>): <fault>") and
//              aborted (for glibc: any abort)
//   faults     the process was stopped at the access (SIGSEGV or SIGBUS)
//   prevented  the case saw the allocator refuse what the error relies on (a freed block
//              handed out again at once)
//   missed     the error went unnoticed: the case ran to its end
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <malloc.h>
#include <new>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace {

// Keeps the compiler from seeing through the pointers (and from warning about the errors,
// which are the point).
template <typename T> T *opaque(T *p) {
    asm volatile("" : "+r"(p));
    return p;
}

enum Outcome { MISSED, REPORTED, FAULTS, PREVENTED, BROKEN };
const char *const OUTCOME[] = {"missed", "reported", "faults", "prevented", "broken"};

constexpr size_t SMALL = 64, MEDIUM = 4096, LARGE = 2u << 20;

// Frees and allocations enough to turn over a quarantine of 64 blocks many times over.
void churn() {
    for (int i = 0; i < 2000; i++)
        free(opaque(malloc(48 + i % 64)));
}

// Two blocks of `size` where the second lies right behind the first, when the allocator
// lays them out so (the overflow then reaches the second's header); else just one. Up to 200
// are tried: the first may come from blocks freed before main, scattered; fresh memory is
// handed out in address order.
struct Pair {
    char *a, *b;
};
Pair adjacent(size_t size) {
    std::vector<char *> v;
    Pair pr{nullptr, nullptr};
    for (int i = 0; i < 200 && !pr.b; i++) {
        char *p = (char *)malloc(size);
        for (char *q : v) {
            if (p == q + malloc_usable_size(q) + 16) pr = {q, p};
            if (q == p + malloc_usable_size(p) + 16) pr = {p, q};
        }
        v.push_back(p);
    }
    if (!pr.a) pr.a = v[0];
    for (char *q : v)
        if (q != pr.a && q != pr.b) free(q);
    return pr;
}

void overflow(size_t size, size_t by, bool via_memcpy) {
    Pair pr = adjacent(size);
    // Under bmalloc in default mode, small and medium blocks lie back to back: if none were
    // found, the case could not do what it says (the runner calls that broken, not missed).
    const char *check = getenv("BMALLOC_CHECK");
    bool on_bmalloc = getenv("LD_PRELOAD") && !(check && !strcmp(check, "1"));
    if (on_bmalloc && size < LARGE && !pr.b) exit(4);
    // The bytes written differ from those there (a write that changes nothing is no error
    // anyone can see: the keyed header is random, and one byte of it matches a fixed pattern
    // once in 256 runs).
    char *a = opaque(pr.a);
    std::vector<char> src(size + by, 'O');
    for (size_t i = size; i < size + by; i++) src[i] = (char)~a[i];
    if (via_memcpy) {
        memcpy(a, src.data(), size + by);
    } else {
        for (size_t i = size; i < size + by; i++) a[i] = src[i];
    }
    if (pr.b) free(pr.b);
    free(pr.a);
    churn();
}

void underflow(size_t size, size_t by, bool via_memcpy) {
    char *p = opaque((char *)malloc(size));
    char src[64];
    for (size_t i = 0; i < by; i++) src[i] = (char)~p[(ptrdiff_t)i - (ptrdiff_t)by];  // see overflow
    if (via_memcpy) {
        memcpy(p - by, src, by);
    } else {
        for (size_t i = 0; i < by; i++) p[(ptrdiff_t)i - (ptrdiff_t)by] = src[i];
    }
    free(p);
    churn();
}

void write_after_free(size_t size) {
    char *p = opaque((char *)malloc(size));
    free(p);
    p[size / 2] = 'W';
    churn();
}

void zero_after_free(size_t size) {
    char *p = opaque((char *)malloc(size));
    free(p);
    memset(p, 0, size);
    churn();
}

void write_after_free_then_reuse(size_t size) {
    char *p = opaque((char *)malloc(size));
    free(p);
    p[0] = 'W';
    char *q = opaque((char *)malloc(size));
    churn();
    free(q);
    churn();
}

// The error a use after free relies on: the freed block comes back at once.
void malloc_reuses(size_t size) {
    char *p = opaque((char *)malloc(size));
    free(p);
    char *q = opaque((char *)malloc(size));
    exit(q == p ? 0 : 3);
}

void realloc_reuses(size_t size) {
    char *p = opaque((char *)malloc(size));
    free(p);
    char *q = opaque((char *)realloc(malloc(8), size));
    exit(q == p ? 0 : 3);
}

void double_free(size_t size) {
    char *p = opaque((char *)malloc(size));
    free(p);
    free(p);
    churn();
}

void invalid_free(size_t size) {
    char *p = opaque((char *)malloc(size));
    free(p + 32);
    churn();
}

void zero_size_write(size_t) {
    volatile char *z = opaque((char *)malloc(0));
    z[0] = 'Z';  // volatile: a store just before free would otherwise be dropped
    free((void *)z);
    churn();
}

void zero_size_read(size_t) {
    char *z = opaque((char *)malloc(0));
    volatile char c = z[0];
    (void)c;
    free(z);
    churn();
}

void read_past_end(size_t size) {
    char *p = opaque((char *)malloc(size));
    volatile char c = p[size];
    (void)c;
    free(p);
    churn();
}

void read_after_free(size_t size) {
    char *p = opaque((char *)malloc(size));
    memset(p, 1, size);
    free(p);
    volatile char c = p[size / 2];
    (void)c;
    churn();
}

void new_array_delete(size_t size) {
    char *p = opaque(new char[size]);
    ::operator delete(p);
    churn();
}

void new_delete_array(size_t size) {
    char *p = opaque((char *)::operator new(size));
    ::operator delete[](p);
    churn();
}

void new_free(size_t size) {
    char *p = opaque((char *)::operator new(size));
    free(p);
    churn();
}

void malloc_delete(size_t size) {
    char *p = opaque((char *)malloc(size));
    ::operator delete(p);
    churn();
}

void sized_delete_wrong(size_t size) {
    char *p = opaque((char *)::operator new(size));
    ::operator delete(p, size + 16);
    churn();
}

struct Case {
    const char *what;  // the error
    const char *cls;   // its class, as the README's table groups them
    size_t size;
    void (*run)(size_t);
    size_t by;         // for overflows and underflows: how many bytes
    bool via_memcpy;
    Outcome normal, checking;  // bmalloc's, as promised
};

std::vector<Case> cases() {
    std::vector<Case> v;
    const size_t sizes[] = {SMALL, MEDIUM, LARGE};
    for (size_t s : sizes) {
        for (size_t by : {(size_t)1, (size_t)32}) {
            for (bool mc : {false, true}) {
                // Past a small or medium block's end lies the next block's header; past a
                // large one, its canary.
                v.push_back({"overflow", "overflow", s, nullptr, by, mc, REPORTED, REPORTED});
                v.push_back({"underflow", "underflow", s, nullptr, by, mc, REPORTED, REPORTED});
            }
        }
    }
    for (size_t s : sizes) {
        v.push_back({"write after free", "use after free", s, write_after_free, 0, false, MISSED,
                     REPORTED});
        v.push_back({"zeroing after free", "use after free", s, zero_after_free, 0, false, MISSED,
                     REPORTED});
        v.push_back({"write after free, then reuse", "use after free", s,
                     write_after_free_then_reuse, 0, false, MISSED, REPORTED});
        v.push_back({"malloc hands the freed block out at once", "reuse order", s, malloc_reuses,
                     0, false, MISSED, PREVENTED});
        v.push_back({"realloc hands the freed block out at once", "reuse order", s,
                     realloc_reuses, 0, false, MISSED, PREVENTED});
        v.push_back({"double free", "double and invalid free", s, double_free, 0, false,
                     REPORTED, REPORTED});
        v.push_back({"free of a pointer inside the block", "double and invalid free", s,
                     invalid_free, 0, false, REPORTED, REPORTED});
    }
    v.push_back({"write to a zero-size block", "zero size", 0, zero_size_write, 0, false, MISSED,
                 FAULTS});
    v.push_back({"read of a zero-size block", "zero size", 0, zero_size_read, 0, false, MISSED,
                 FAULTS});
    for (size_t s : sizes) {
        v.push_back({"new[], then delete", "C++ mismatch", s, new_array_delete, 0, false, MISSED,
                     REPORTED});
        v.push_back({"new, then delete[]", "C++ mismatch", s, new_delete_array, 0, false, MISSED,
                     REPORTED});
        v.push_back({"new, then free", "C++ mismatch", s, new_free, 0, false, MISSED, REPORTED});
        v.push_back({"malloc, then delete", "C++ mismatch", s, malloc_delete, 0, false, MISSED,
                     REPORTED});
        v.push_back({"sized delete with the wrong size", "C++ mismatch", s, sized_delete_wrong, 0,
                     false, MISSED, REPORTED});
    }
    // What no allocator sees: a read changes nothing it could check later.
    v.push_back({"read past the end", "unseen", SMALL, read_past_end, 0, false, MISSED, MISSED});
    v.push_back({"read after free", "unseen", SMALL, read_after_free, 0, false, MISSED, MISSED});
    return v;
}

std::string describe(const Case &c) {
    std::string s = c.what;
    if (c.by) s += " by " + std::to_string(c.by) + (c.via_memcpy ? " (memcpy)" : " (direct)");
    return s;
}

const char *size_name(size_t s) {
    return s == SMALL ? "64 B" : s == MEDIUM ? "4 KiB" : s == LARGE ? "2 MiB" : "0";
}

void run_case(const Case &c) {
    if (!c.run) {
        if (!strcmp(c.what, "overflow")) overflow(c.size, c.by, c.via_memcpy);
        else underflow(c.size, c.by, c.via_memcpy);
    } else {
        c.run(c.size);
    }
    exit(0);
}

enum Mode { GLIBC, NORMAL, CHECKING };

// Runs case `i` in a fresh process under `mode`: its outcome, and what it wrote to stderr.
Outcome spawn(const char *self, size_t i, Mode mode, const char *lib, std::string &err) {
    int fds[2];
    if (pipe(fds) != 0) return BROKEN;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        close(fds[1]);
        if (mode == GLIBC) unsetenv("LD_PRELOAD");
        else setenv("LD_PRELOAD", lib, 1);
        setenv("BMALLOC_CHECK", mode == CHECKING ? "1" : "0", 1);
        setenv("BMALLOC_STATS", "0", 1);
        std::string n = std::to_string(i);
        execl(self, self, "--case", n.c_str(), (char *)nullptr);
        _exit(127);
    }
    close(fds[1]);
    char buf[4096];
    ssize_t n;
    while ((n = read(fds[0], buf, sizeof buf)) > 0) err.append(buf, (size_t)n);
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        if (sig == SIGSEGV || sig == SIGBUS) return FAULTS;
        if (sig != SIGABRT) return BROKEN;
        if (mode == GLIBC) return REPORTED;
        // bmalloc's report: exactly one line, "bmalloc: <call>(0x...): <fault>".
        bool one_line = !err.empty() && err.find('\n') == err.size() - 1;
        return err.rfind("bmalloc: ", 0) == 0 && err.find("(0x") != std::string::npos && one_line
                   ? REPORTED
                   : BROKEN;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return MISSED;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 3) return PREVENTED;
    return BROKEN;
}

bool caught(Outcome o) { return o == REPORTED || o == FAULTS || o == PREVENTED; }

}  // namespace

int main(int argc, char **argv) {
    std::vector<Case> all = cases();
    if (argc == 3 && !strcmp(argv[1], "--case")) {
        run_case(all.at((size_t)atol(argv[2])));
    }
    bool table = argc == 2 && !strcmp(argv[1], "--table");
    const char *lib = getenv("BMALLOC_LIB");
    if (!lib || !*lib) {
        fprintf(stderr, "corpus: set BMALLOC_LIB to the library to test\n");
        return 2;
    }
    char self[4096];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0) return 2;
    self[len] = 0;
    int wrong = 0, totals[3] = {0, 0, 0};
    if (table) {
        printf("| error | block | glibc | bmalloc | bmalloc, BMALLOC_CHECK=1 |\n");
        printf("|---|---|---|---|---|\n");
    }
    for (size_t i = 0; i < all.size(); i++) {
        const Case &c = all[i];
        Outcome got[3];
        std::string errs[3];
        for (int m = GLIBC; m <= CHECKING; m++) {
            got[m] = spawn(self, i, (Mode)m, lib, errs[m]);
            totals[m] += caught(got[m]);
        }
        const Outcome want[3] = {got[GLIBC], c.normal, c.checking};
        for (int m = NORMAL; m <= CHECKING; m++) {
            if (got[m] != want[m]) {
                wrong++;
                fprintf(stderr, "corpus: %s, %s block, %s: %s, promised %s; stderr: [%s]\n",
                        describe(c).c_str(), size_name(c.size),
                        m == NORMAL ? "bmalloc" : "bmalloc with BMALLOC_CHECK=1", OUTCOME[got[m]],
                        OUTCOME[want[m]], errs[m].c_str());
            }
        }
        if (table)
            printf("| %s | %s | %s | %s | %s |\n", describe(c).c_str(), size_name(c.size),
                   OUTCOME[got[GLIBC]], OUTCOME[got[NORMAL]], OUTCOME[got[CHECKING]]);
    }
    size_t n = all.size();
    printf("%s%zu cases: glibc catches %d, bmalloc %d, bmalloc with BMALLOC_CHECK=1 %d\n",
           table ? "\n" : "", n, totals[GLIBC], totals[NORMAL], totals[CHECKING]);
    if (wrong) fprintf(stderr, "corpus: %d outcomes differ from the table's promise\n", wrong);
    return wrong ? 1 : 0;
}
