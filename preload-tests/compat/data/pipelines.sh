#!/bin/bash
# Starts hundreds of processes in pipelines, command substitutions and subshells.
# usage: pipelines.sh ROUNDS [LIB]  -- with LIB, exports LD_PRELOAD=LIB first, so every child
# (and every grandchild) runs on that allocator.
rounds=${1:-150}
if [ -n "${2:-}" ]; then export LD_PRELOAD=$2 BMALLOC_STATS=0; else unset LD_PRELOAD; fi
export LC_ALL=C
total=0
for ((i = 1; i <= rounds; i++)); do
	line=$(seq 1 $((i * 7)) | sort -rn | head -n 3 | tr '\n' ' ')
	words=$(printf 'w%d\n' $(seq $i -1 1) | sort | uniq -c | sort -k2 | awk '{ n += $1 } END { print n }')
	sum=$(echo "$i * 31 + 7" | bc)
	h=$(echo "round $i $line" | md5sum | cut -c1-8)
	up=$(echo "$h" | tr a-f A-F | sed 's/A/_/g' | rev)
	total=$((total + sum + words))
	echo "$i: [$line] $words $sum $h $up"
done
# Nested shells and a wide pipeline.
for ((j = 0; j < 20; j++)); do
	bash -c 'echo $(( $1 * $1 )) | cat | cat | grep -c . | xargs echo sq' _ $j
done | sort | uniq -c
(seq 1 5000 | awk '{ print $1 % 97 }' | sort -n | uniq -c | sort -k1,1nr -k2,2n | head -5) 2>&1
find /usr/include -maxdepth 1 -name '*.h' | sort | head -50 | xargs -n 10 wc -l | tail -1
echo "total $total"
