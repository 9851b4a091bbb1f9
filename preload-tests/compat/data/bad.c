/* Deliberately broken: the gcc test compares the diagnostics and exit status. */
#include <stdio.h>
struct s { int a; };
int f(struct s *p) { return p->b; }
int main(void) { int x = "str"; undeclared(); return f(0) + x }
