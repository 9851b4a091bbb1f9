# Generates a multi-file C and C++ project with a Makefile (for the make -j case).
# usage: mkproj.py DIR NUNITS
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
os.makedirs(d, exist_ok=True)
objs = []
for i in range(n):
    with open(os.path.join(d, "unit%d.cpp" % i), "w") as f:
        f.write("""#include <map>
#include <string>
#include <vector>
#include <algorithm>
#include <numeric>
#include <sstream>
#include <memory>
#include <unordered_map>
#include "common.h"
namespace u%(i)d {
template <typename T> struct Acc { std::vector<T> v; void add(T x) { v.push_back(x); } T sum() const { return std::accumulate(v.begin(), v.end(), T()); } };
}
extern "C" unsigned long unit%(i)d(unsigned long seed) {
	std::map<std::string, std::vector<int>> m;
	std::unordered_map<int, std::shared_ptr<std::string>> u;
	u%(i)d::Acc<unsigned long> acc;
	for (int k = 0; k < 20000; k++) {
		seed = seed * 6364136223846793005ul + %(i)d;
		std::ostringstream os; os << "k" << (seed >> 50) << "_" << %(i)d;
		m[os.str()].push_back((int)(seed >> 40));
		u[(int)(seed >> 54)] = std::make_shared<std::string>(os.str() + os.str());
		acc.add(seed >> 60);
	}
	unsigned long h = acc.sum();
	for (auto &kv : m) { std::sort(kv.second.begin(), kv.second.end()); h = h * 31 + kv.first.size() + kv.second.size() + (unsigned)kv.second[0]; }
	for (auto &kv : u) h += kv.second->size();
	return h + c_helper(%(i)d);
}
""" % {"i": i})
    objs.append("unit%d.o" % i)
with open(os.path.join(d, "common.h"), "w") as f:
    f.write("#ifdef __cplusplus\nextern \"C\" {\n#endif\nunsigned long c_helper(int);\n")
    for i in range(n):
        f.write("unsigned long unit%d(unsigned long);\n" % i)
    f.write("#ifdef __cplusplus\n}\n#endif\n")
with open(os.path.join(d, "helper.c"), "w") as f:
    f.write("""#include <stdlib.h>
#include <string.h>
#include "common.h"
unsigned long c_helper(int i) {
	char *p = malloc(1000 + i); memset(p, i, 1000 + i); unsigned long s = 0;
	for (int k = 0; k < 1000 + i; k++) s += (unsigned char)p[k];
	p = realloc(p, 100000); s += p[5]; free(p); return s;
}
""")
with open(os.path.join(d, "main.c"), "w") as f:
    f.write('#include <stdio.h>\n#include "common.h"\nint main(void) {\n\tunsigned long t = 0;\n')
    for i in range(n):
        f.write('\tt ^= unit%d(%d); printf("unit%d %%lu\\n", unit%d(%d));\n' % (i, i, i, i, i))
    f.write('\tprintf("total %lu\\n", t);\n\treturn 0;\n}\n')
with open(os.path.join(d, "Makefile"), "w") as f:
    f.write("""CXXFLAGS = -O2 -g -Wall
CFLAGS = -O2 -g -Wall
OBJS = %s helper.o main.o
prog: $(OBJS)
\t$(CXX) -o $@ $(OBJS)
libunits.a: %s
\t$(AR) rcs $@ $^
%%.o: %%.cpp common.h
\t$(CXX) $(CXXFLAGS) -c -o $@ $<
%%.o: %%.c common.h
\t$(CC) $(CFLAGS) -c -o $@ $<
clean:
\trm -f *.o prog libunits.a
""" % (" ".join(objs), " ".join(objs)))
