DESC="git: init, 200 commits with branches/merges/tags, log, blame, gc, repack, fsck, clone, archive"
NEEDS="git md5sum"
APT="git"
PROOF=(git --version)
TIMEOUT=120

run() {
	set -o pipefail
	# Fixed identity, dates and config: commit hashes must be identical in both runs.
	export HOME=$CASE_WORK/home GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
	export GIT_AUTHOR_NAME=Tester GIT_AUTHOR_EMAIL=t@example.org
	export GIT_COMMITTER_NAME=Tester GIT_COMMITTER_EMAIL=t@example.org
	export TZ=UTC LC_ALL=C
	mkdir -p "$HOME"
	bm_export   # every git process (and its children: pack-objects, index-pack...) on bmalloc
	local n=${GIT_COMMITS:-200} i f
	git init -q -b main repo || return 1
	cd repo
	git config gc.auto 0; git config core.abbrev 12
	for ((i = 1; i <= n; i++)); do
		export GIT_AUTHOR_DATE="@$((1600000000 + i * 60)) +0000" GIT_COMMITTER_DATE="@$((1600000000 + i * 60)) +0000"
		f=src/mod$((i % 17)).txt
		mkdir -p src docs
		printf 'line %d of commit %d\n%s\n' "$i" "$i" "$(printf '%*s' $((i % 80)) '' | tr ' ' x)" >>"$f"
		printf 'doc %d\n' "$i" >"docs/page$((i % 5)).md"
		git add -A && git commit -q -m "commit $i: update $f" || return 1
		if ((i % 50 == 25)); then
			git checkout -q -b topic$i
			printf 'topic work %d\n' "$i" >>src/topic.txt
			git add -A && git commit -q -m "topic $i" || return 1
			git checkout -q main
			git merge -q --no-ff -m "merge topic$i" topic$i || return 1
		fi
		((i % 100 == 0)) && git tag -a -m "release $i" v$i
	done
	echo "HEAD $(git rev-parse HEAD)"
	git log --oneline --graph | head -20
	git log --stat --format='%H %an %ad %s' --date=iso | md5sum
	git rev-list --all | wc -l
	git blame -l src/mod3.txt | md5sum
	git diff --stat v100 v200 | tail -3
	git grep -c 'commit 2' | head -5
	git gc -q && echo "gc ok"
	git count-objects -v | grep -E '^(count|in-pack|packs|garbage):'
	git repack -q -a -d -f --depth=20 --window=20 && echo "repack ok"
	git fsck --full --strict --no-progress && echo "fsck ok"
	git archive --format=tar v200 | md5sum
	cd ..
	git clone -q --no-local repo clone && echo "clone ok"
	git -C clone log --format=%H | md5sum
	git -C clone fsck --no-progress && echo "clone fsck ok"
}
