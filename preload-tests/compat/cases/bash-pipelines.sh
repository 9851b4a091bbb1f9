DESC="bash script exporting LD_PRELOAD to ~1,500 child processes in pipelines and subshells"
NEEDS="bash seq sort head tr uniq awk bc md5sum sed rev xargs find"
PROOF=(bash -c 'x=$(echo hi); echo $x')
TIMEOUT=90

run() {
	# The script itself exports LD_PRELOAD (bmalloc mode), and bash itself starts on it.
	if [ "$BM_MODE" = bmalloc ]; then
		bm bash "$CASE_SRC/pipelines.sh" "${PIPELINE_ROUNDS:-150}" "$BM_LIB"
	else
		bm bash "$CASE_SRC/pipelines.sh" "${PIPELINE_ROUNDS:-150}"
	fi
	echo "rc=$?"
}
