#!/usr/bin/env bash
# t_cxx_new.sh: C++'s operator new and delete are bmalloc's, every replaceable form, with the
# C++ contract:
# - all 20 forms resolve into libbmalloc.so (dladdr), and blocks from each are usable and
#   aligned as asked (aligned forms at 32 B to 64 KiB);
# - a new that cannot be served calls the installed new-handler until it gives up, then throws
#   std::bad_alloc, caught by the program (plain, array and aligned forms);
# - the nothrow forms return null;
# - deleting a block twice is reported as "operator delete(...): double free" and aborts;
# - the fast path of operator new has no call and ends in a jump to the C slow path
#   (bmalloc_cxx_new_slow), so no Rust frame is on the stack when std::bad_alloc is thrown. In
#   the checked build (BMALLOC_CHECKED=1, set by `make checked`) the assertions add calls to
#   their panic paths; there, no call may go to the slow path.
set -u
lib=${BMALLOC_LIB:?run through preload-tests/run}
tmp=${BMALLOC_TEST_TMP:-$(mktemp -d)}
cd "$tmp" || exit 1
command -v g++ >/dev/null || { echo "FAIL: g++ is needed"; exit 1; }
fail=0
bad() { echo "FAIL: $*"; fail=1; }
cat > prog.cc <<'CC'
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <new>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

static int failures = 0;
#define CHECK(c) do { if (!(c)) { std::printf("FAIL line %d: %s\n", __LINE__, #c); failures++; } } while (0)

static bool ours(const char *name)
{
    void *f = dlsym(RTLD_DEFAULT, name);
    Dl_info info;
    return f && dladdr(f, &info) && info.dli_fname && std::strstr(info.dli_fname, "libbmalloc");
}

static int handler_calls = 0;
static void give_up_after_three()
{
    if (++handler_calls == 3)
        std::set_new_handler(nullptr);
}

static const size_t huge = SIZE_MAX / 4;

int main()
{
    const char *forms[] = {"_Znwm", "_Znam", "_ZnwmRKSt9nothrow_t", "_ZnamRKSt9nothrow_t",
        "_ZnwmSt11align_val_t", "_ZnamSt11align_val_t", "_ZnwmSt11align_val_tRKSt9nothrow_t",
        "_ZnamSt11align_val_tRKSt9nothrow_t", "_ZdlPv", "_ZdaPv", "_ZdlPvm", "_ZdaPvm",
        "_ZdlPvRKSt9nothrow_t", "_ZdaPvRKSt9nothrow_t", "_ZdlPvSt11align_val_t",
        "_ZdaPvSt11align_val_t", "_ZdlPvmSt11align_val_t", "_ZdaPvmSt11align_val_t",
        "_ZdlPvSt11align_val_tRKSt9nothrow_t", "_ZdaPvSt11align_val_tRKSt9nothrow_t"};
    for (const char *f : forms)
        if (!ours(f)) { std::printf("FAIL: %s is not bmalloc's\n", f); failures++; }

    // every form, used
    for (size_t n : {size_t(0), size_t(1), size_t(24), size_t(1000), size_t(5000), size_t(2) << 20}) {
        char *a = static_cast<char *>(::operator new(n)); std::memset(a, 1, n); ::operator delete(a);
        char *b = static_cast<char *>(::operator new[](n)); std::memset(b, 2, n); ::operator delete[](b, n);
        char *c = static_cast<char *>(::operator new(n, std::nothrow)); CHECK(c); ::operator delete(c, std::nothrow);
        char *d = static_cast<char *>(::operator new[](n, std::nothrow)); CHECK(d); ::operator delete[](d, std::nothrow);
        char *e = static_cast<char *>(::operator new(n)); ::operator delete(e, n);
        CHECK(a && b);
        for (size_t al = 32; al <= 65536; al *= 2) {
            auto A = std::align_val_t(al);
            void *p = ::operator new(n, A);
            void *q = ::operator new[](n, A);
            void *r = ::operator new(n, A, std::nothrow);
            void *s = ::operator new[](n, A, std::nothrow);
            for (void *x : {p, q, r, s}) CHECK(x && reinterpret_cast<uintptr_t>(x) % al == 0);
            std::memset(p, 3, n);
            ::operator delete(p, A);
            ::operator delete[](q, n, A);
            ::operator delete(r, A, std::nothrow);
            ::operator delete[](s, A, std::nothrow);
        }
    }
    std::vector<std::string> v;
    for (int i = 0; i < 10000; i++) v.push_back(std::string(i % 200, 'x'));
    struct alignas(256) Big { char c[300]; };
    Big *big = new Big[7];
    CHECK(reinterpret_cast<uintptr_t>(big) % 256 == 0);
    delete[] big;

    // failing new: the handler is called until it gives up, then std::bad_alloc
    std::set_new_handler(give_up_after_three);
    bool thrown = false;
    try { void *p = ::operator new(huge); std::printf("got %p\n", p); } catch (const std::bad_alloc &) { thrown = true; }
    CHECK(thrown);
    CHECK(handler_calls == 3);
    for (int form = 0; form < 3; form++) {
        thrown = false;
        try {
            void *p = form == 0 ? ::operator new[](huge)
                    : form == 1 ? ::operator new(huge, std::align_val_t(4096))
                                : ::operator new[](huge, std::align_val_t(64));
            std::printf("got %p\n", p);
        } catch (const std::bad_alloc &) { thrown = true; }
        CHECK(thrown);
    }
    CHECK(::operator new(huge, std::nothrow) == nullptr);
    CHECK(::operator new[](huge, std::nothrow) == nullptr);
    CHECK(::operator new(huge, std::align_val_t(128), std::nothrow) == nullptr);
    CHECK(::operator new[](huge, std::align_val_t(128), std::nothrow) == nullptr);

    // a double delete aborts with bmalloc's message
    int pipefd[2];
    CHECK(pipe(pipefd) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pipefd[1], 2);
        void *volatile p = ::operator new(16); // explicit calls: a new-expression may be elided
        ::operator delete(p);
        ::operator delete(p);
        _exit(0);
    }
    close(pipefd[1]);
    char msg[512] = {0};
    ssize_t got = read(pipefd[0], msg, sizeof msg - 1);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
    CHECK(got > 0 && std::strstr(msg, "bmalloc: operator delete(0x") && std::strstr(msg, "): double free"));

    std::printf("%s: %d failures\n", failures ? "FAIL" : "ok", failures);
    return failures != 0;
}
CC
g++ -std=c++17 -O1 -fno-builtin -o prog prog.cc -ldl || { echo "FAIL: cannot compile prog.cc"; exit 1; }
LD_PRELOAD="$lib" ./prog >out 2>err
rc=$?
cat out
[ $rc -eq 0 ] || bad "the C++ program failed (status $rc): $(tail -5 err)"

# The fast path of operator new: no call, and a jump (through its GOT slot) to the slow path.
read -r addr size < <(nm -S --defined-only "$lib" | awk '$4 == "_Znwm" { print $1, $2 }')
slow=$(nm --defined-only "$lib" | awk '$3 == "bmalloc_cxx_new_slow" { print $1 }')
[ -n "${addr:-}" ] && [ -n "$slow" ] || { echo "FAIL: no _Znwm or bmalloc_cxx_new_slow in the symbol table"; exit 1; }
body=$(objdump -d --no-show-raw-insn --start-address=$((16#$addr)) --stop-address=$((16#$addr + 16#$size)) "$lib")
# Where a call or jump through a GOT slot goes: the slot's relocation addend.
slot_target() { readelf -rW "$lib" | awk -v s="$1" '{ o = $1; sub(/^0+/, "", o) } o == s { print $NF }'; }
if [ "${BMALLOC_CHECKED:-0}" = 1 ]; then
    # The checked build's assertions call their panic paths: allowed, as long as none of the
    # calls is the slow path (a Rust frame would then be under the throw).
    for s in $(grep -w call <<<"$body" | grep -oE '# [0-9a-f]+' | awk '{ print $2 }'); do
        t=$(slot_target "$s")
        [ -n "$t" ] && [ "$((16#$t))" -eq "$((16#$slow))" ] && bad "operator new calls the slow path (at $s)"
    done
else
    grep -qw call <<<"$body" && bad "operator new makes a call: $(grep -w call <<<"$body")"
fi
slot=$(grep -oE 'jmp +\*0x[0-9a-f]+\(%rip\) +# [0-9a-f]+' <<<"$body" | awk '{ print $NF }' | tail -1)
if [ -z "$slot" ]; then
    grep -qE "jmp +[0-9a-f]+ <bmalloc_cxx_new_slow>" <<<"$body" || bad "operator new does not end in a jump to the slow path: $body"
else
    target=$(slot_target "$slot")
    [ "$((16#${target:-0}))" -eq "$((16#$slow))" ] || bad "operator new's jump goes to ${target:-?}, not bmalloc_cxx_new_slow ($slow)"
fi
[ $fail -eq 0 ] && echo "operator new and delete: 20 forms, new-handler, bad_alloc, nothrow, double delete, tail jump"
exit $fail
