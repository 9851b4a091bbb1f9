/* t_libc: glibc functions that allocate for the caller, or allocate and free
 * internally, run on bmalloc: what they return is a bmalloc block (16-byte
 * aligned, malloc_usable_size >= its length, right content) that the program
 * frees with free(); none of them mixes allocators (a glibc-internal block freed
 * by bmalloc would abort with "not allocated by bmalloc").
 * strdup, strndup, asprintf, getline, getdelim, open_memstream, realpath(p, NULL),
 * getcwd(NULL, 0), get_current_dir_name, canonicalize_file_name, scandir, glob,
 * regcomp/regexec, wordexp, backtrace_symbols, setlocale + newlocale, iconv,
 * getaddrinfo, getpwuid, popen, fmemopen, tmpfile, qsort of a large array,
 * dlopen/dlerror, strerror, printf of long formats, and each in a thread too. */
#include "check.h"
#include <dirent.h>
#include <execinfo.h>
#include <glob.h>
#include <iconv.h>
#include <locale.h>
#include <netdb.h>
#include <pthread.h>
#include <pwd.h>
#include <regex.h>
#include <wordexp.h>

static void check_block(const char *what, void *p, size_t len)
{
    if (!CHECK_MSG(p != NULL, "%s returned NULL", what))
        return;
    CHECK_MSG((uintptr_t)p % 16 == 0, "%s returned %p, not 16-aligned: not our block?", what, p);
    size_t u = malloc_usable_size(p);
    CHECK_MSG(u >= len, "%s: malloc_usable_size %zu < %zu", what, u, len);
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static void run_all(const char *tmp)
{
    char *s = strdup("hello, bmalloc");
    check_block("strdup", s, 15);
    CHECK(s && strcmp(s, "hello, bmalloc") == 0);
    free(s);
    s = strndup("abcdefghij", 4);
    check_block("strndup", s, 5);
    CHECK(s && strcmp(s, "abcd") == 0);
    free(s);

    char *a = NULL;
    int n = asprintf(&a, "%s-%d-%0500d", "x", 42, 7);
    CHECK_EQ(n, 505);
    check_block("asprintf", a, 506);
    free(a);

    /* a file to read lines from */
    char path[512];
    snprintf(path, sizeof path, "%s/lines-%lx.txt", tmp, (unsigned long)pthread_self());
    FILE *f = fopen(path, "w");
    if (!CHECK(f != NULL))
        return;
    for (int i = 0; i < 200; i++)
        fprintf(f, "line %d %.*s\n", i, i * 10, "");
    fprintf(f, "%3000d;", 5);
    fclose(f);
    f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int lines = 0;
    while ((len = getline(&line, &cap, f)) > 0) {
        lines++;
        if (lines == 1)
            check_block("getline", line, (size_t)len + 1);
    }
    CHECK_EQ(lines, 201);
    rewind(f);
    len = getdelim(&line, &cap, ';', f);
    CHECK(len > 3000);
    check_block("getdelim", line, (size_t)len + 1);
    free(line);
    fclose(f);

    char *buf = NULL;
    size_t size = 0;
    FILE *m = open_memstream(&buf, &size);
    for (int i = 0; i < 1000; i++)
        fprintf(m, "%d,", i);
    fclose(m);
    check_block("open_memstream", buf, size + 1);
    CHECK(buf && strncmp(buf, "0,1,2,", 6) == 0);
    free(buf);

    char *rp = realpath(tmp, NULL);
    check_block("realpath", rp, strlen(tmp) > 0 ? 2 : 1);
    free(rp);
    char *cwd = getcwd(NULL, 0);
    check_block("getcwd", cwd, 2);
    free(cwd);
    cwd = get_current_dir_name();
    check_block("get_current_dir_name", cwd, 2);
    free(cwd);
    char *cf = canonicalize_file_name(path);
    check_block("canonicalize_file_name", cf, 2);
    free(cf);

    struct dirent **list;
    int nd = scandir("/usr/lib", &list, NULL, alphasort);
    CHECK(nd > 2);
    if (nd > 0) {
        check_block("scandir list", list, sizeof(*list) * (size_t)nd);
        for (int i = 0; i < nd; i++)
            free(list[i]);
        free(list);
    }

    glob_t g;
    CHECK_EQ(glob("/usr/lib/*", 0, NULL, &g), 0);
    CHECK(g.gl_pathc > 2);
    globfree(&g);

    regex_t re;
    CHECK_EQ(regcomp(&re, "^(a|b)+[0-9]{2,}$", REG_EXTENDED), 0);
    CHECK_EQ(regexec(&re, "abba123", 0, NULL, 0), 0);
    CHECK(regexec(&re, "abc", 0, NULL, 0) != 0);
    regfree(&re);

    wordexp_t w;
    if (CHECK_EQ(wordexp("one two \"three four\"", &w, WRDE_NOCMD), 0)) {
        CHECK_EQ(w.we_wordc, 3);
        wordfree(&w);
    }

    void *frames[16];
    int nf = backtrace(frames, 16);
    char **syms = backtrace_symbols(frames, nf);
    check_block("backtrace_symbols", syms, sizeof(char *) * (size_t)nf);
    free(syms);

    locale_t loc = newlocale(LC_ALL_MASK, "C.UTF-8", (locale_t)0);
    if (loc)
        freelocale(loc);

    iconv_t cd = iconv_open("UTF-16LE", "UTF-8");
    if (CHECK(cd != (iconv_t)-1)) {
        char in[] = "h\xc3\xa9llo", out[64];
        char *ip = in, *op = out;
        size_t il = strlen(in), ol = sizeof out;
        CHECK(iconv(cd, &ip, &il, &op, &ol) != (size_t)-1);
        CHECK_EQ(sizeof out - ol, 10);
        iconv_close(cd);
    }

    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_flags = AI_NUMERICHOST;
    if (CHECK_EQ(getaddrinfo("127.0.0.1", "80", &hints, &res), 0))
        freeaddrinfo(res);

    struct passwd *pw = getpwuid(0);
    CHECK(pw && strcmp(pw->pw_name, "root") == 0);

    FILE *pp = popen("echo popen-ok", "r");
    if (CHECK(pp != NULL)) {
        char l[64] = "";
        CHECK(fgets(l, sizeof l, pp) && strcmp(l, "popen-ok\n") == 0);
        CHECK_EQ(pclose(pp), 0);
    }

    char mem[128] = "fmemopen data";
    FILE *fm = fmemopen(mem, sizeof mem, "r");
    if (CHECK(fm != NULL)) {
        char word[32];
        CHECK(fscanf(fm, "%31s", word) == 1 && strcmp(word, "fmemopen") == 0);
        fclose(fm);
    }
    FILE *t = tmpfile();
    if (CHECK(t != NULL)) {
        fputs("tmp", t);
        fclose(t);
    }

    enum { NQ = 200000 }; /* qsort takes a malloc'ed buffer above a size limit */
    int *arr = malloc(NQ * sizeof(int));
    for (int i = 0; i < NQ; i++)
        arr[i] = (int)((i * 2654435761u) % NQ);
    qsort(arr, NQ, sizeof(int), cmp_int);
    int sorted = 1;
    for (int i = 1; i < NQ; i++)
        sorted &= arr[i - 1] <= arr[i];
    CHECK(sorted);
    free(arr);

    CHECK(dlopen("/nonexistent/libnothing.so", RTLD_NOW) == NULL);
    const char *err = dlerror();
    CHECK(err && strstr(err, "libnothing"));
    void *h = dlopen("libm.so.6", RTLD_NOW);
    if (CHECK(h != NULL)) {
        CHECK(dlsym(h, "cos") != NULL);
        dlclose(h);
    }
    CHECK(strerror(ENOMEM) != NULL);
    char big[8192];
    snprintf(big, sizeof big, "%.*f|%ls", 300, 1.0 / 3.0, L"wide \u00e9");
    CHECK(strlen(big) > 300);
    unlink(path);
}

static void *thread_main(void *arg)
{
    run_all(arg);
    return NULL;
}

int main(void)
{
    require_bmalloc();
    setlocale(LC_ALL, "C.UTF-8");
    const char *tmp = test_tmp();
    run_all(tmp);
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        pthread_create(&t[i], NULL, thread_main, (void *)tmp);
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    setlocale(LC_ALL, "C");
    return test_done("t_libc");
}
