# SPDX-License-Identifier: BSD-2-Clause
# Assertions shared by the CLI test scripts (sourced, not run). The script sets TMP (a
# scratch folder), BIN and PIN first; the counters PASSED and FAILED start at 0 here.
# run CMD... leaves RC, OUT and ERR; expect/jcheck report "ok - NAME" or "not ok - NAME".

PASSED=0
FAILED=0

# run CMD...: OUT, ERR and RC of the command.
run() {
	"$@" >"$TMP/out" 2>"$TMP/err"
	RC=$?
	OUT=$(cat "$TMP/out")
	ERR=$(cat "$TMP/err")
}
bs() { "$BIN" --pin-root "$PIN" "$@"; }

ok() {
	PASSED=$((PASSED + 1))
	echo "ok - $1"
}
not_ok() {
	FAILED=$((FAILED + 1))
	echo "not ok - $1"
	shift
	for line in "$@"; do echo "#   $line"; done
	echo "#   rc=$RC"
	echo "#   stdout: $(head -c 2000 <<<"$OUT")"
	echo "#   stderr: $(head -c 2000 <<<"$ERR")"
}
# expect NAME RC [GREP-PATTERN-ON-STDOUT-AND-STDERR]
expect() {
	local name=$1 rc=$2 pat=${3:-}
	if [ "$RC" != "$rc" ]; then
		not_ok "$name" "expected exit status $rc"
	elif [ -n "$pat" ] && ! grep -qE -- "$pat" <<<"$OUT
$ERR"; then
		not_ok "$name" "expected output matching: $pat"
	else
		ok "$name"
	fi
}
# jcheck NAME JQ-FILTER: the filter is true on OUT.
jcheck() {
	if jq -e "$2" >/dev/null 2>&1 <<<"$OUT"; then
		ok "$1"
	else
		not_ok "$1" "jq filter false: $2"
	fi
}
