/* The slow path of C++'s operator new, for src/cxx.rs (see there for why it is C).
 *
 * Retries the allocation with the full allocator (`attempt`), calling the installed
 * new-handler between tries, as [new.delete.single] asks. With no handler: the nothrow forms
 * return null, the others throw std::bad_alloc through libstdc++'s std::__throw_bad_alloc.
 * libstdc++ is found at run time (dlsym): the library itself needs nothing but libc, and a
 * program that calls operator new has the C++ runtime loaded. `fail` reports and aborts if it
 * has not. Built with unwind tables (-fexceptions), so that an exception thrown here or by the
 * handler passes through this frame to the program's handler. Hidden: not exported. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>

typedef void *(*attempt_fn)(size_t size, size_t align);
typedef void (*handler_fn)(void);

__attribute__((visibility("hidden"))) void *
bmalloc_cxx_new_slow(size_t size, size_t align, _Bool nothrow, attempt_fn attempt,
                     void (*fail)(void))
{
    handler_fn (*get_handler)(void) =
        (handler_fn(*)(void))dlsym(RTLD_DEFAULT, "_ZSt15get_new_handlerv");
    for (;;) {
        void *p = attempt(size, align);
        if (p)
            return p;
        handler_fn handler = get_handler ? get_handler() : NULL;
        if (!handler)
            break;
        handler(); /* frees memory, installs another handler, or throws */
    }
    if (nothrow)
        return NULL;
    void (*throw_bad_alloc)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "_ZSt17__throw_bad_allocv");
    if (throw_bad_alloc)
        throw_bad_alloc();
    fail();
    return NULL;
}
