#!/usr/bin/env bash
# run.sh runs gnet v2's own test suite (gnet_test.go, client_test.go,
# os_unix_test.go from the module cache) twice: with its servers on
# gnet.Run and on engine.Run. The files are copied at run time into a
# temporary module that is never committed; only the server's Run (and
# Rotate and Stop) calls and the OnBoot Engine the handlers keep are
# switched, by the edits below. It prints per-unit (leaf test) results and
# pass/fail/hang counts for each engine.
#
# Usage: tools/gnetsuite/run.sh [-run REGEXP[/SUBTEST...]] [-engines "gnet uring"]
#          [-timeout 60s] [-unit-timeout 25s] [-keep DIR] [-units EREGEXP]
#
# gnet's side runs each top-level test in its own process with -timeout;
# its leaf units are the list of units. The uring side runs each of those
# leaf units in its own process with -unit-timeout, so a hang is one unit
# reported as "hang" and the rest still run. -parallel is 1 throughout.
# -units keeps only the units whose names match EREGEXP (grep -E), on
# both sides, to measure a subset of a large test such as TestServer
# (gnet still runs the whole top-level test, which is quick).
# Results go to $OUT (default /tmp/gnetsuite.out): gnet.tsv, uring.tsv
# (unit, result) and the raw logs.
set -euo pipefail

RUN='.'
ENGINES='gnet uring'
TIMEOUT=120s
UNIT_TIMEOUT=25s
KEEP=''
UNITS=''
OUT=${OUT:-/tmp/gnetsuite.out}
while [ $# -gt 0 ]; do
	case $1 in
	-run) RUN=$2; shift 2 ;;
	-engines) ENGINES=$2; shift 2 ;;
	-timeout) TIMEOUT=$2; shift 2 ;;
	-unit-timeout) UNIT_TIMEOUT=$2; shift 2 ;;
	-keep) KEEP=$2; shift 2 ;;
	-units) UNITS=$2; shift 2 ;;
	*) echo "usage: $0 [-run REGEXP] [-engines 'gnet uring'] [-timeout D] [-unit-timeout D] [-keep DIR] [-units EREGEXP]" >&2; exit 2 ;;
	esac
done

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$ROOT/tools/gnetsuite
GNETVER=$(cd "$ROOT" && go list -m -f '{{.Version}}' github.com/panjf2000/gnet/v2)
GNETDIR=$(cd "$ROOT" && go list -m -f '{{.Dir}}' github.com/panjf2000/gnet/v2)
[ -n "$GNETDIR" ] || { cd "$ROOT" && go mod download github.com/panjf2000/gnet/v2 && GNETDIR=$(go list -m -f '{{.Dir}}' github.com/panjf2000/gnet/v2); }

if [ -n "$KEEP" ]; then mkdir -p "$KEEP"; TMP=$(cd "$KEEP" && pwd); else TMP=$(mktemp -d /tmp/gnetsuite.XXXXXX); trap 'rm -rf "$TMP"' EXIT; fi
mkdir -p "$OUT"
echo "gnet $GNETVER from $GNETDIR; temporary module $TMP; results in $OUT" >&2

# The temporary module: gnet's test files, our shim, this checkout as
# github.com/uring-go/uring.
cd "$TMP"
rm -f ./*.go
for f in gnet_test.go client_test.go os_unix_test.go; do
	cp "$GNETDIR/$f" .
	chmod u+w "$f"
done
cp "$HERE/shim_test.go.in" shim_test.go

# The edits, each checked to have applied exactly as often as expected, so
# that a new gnet version fails here rather than testing something else.
edit() { # file, expected count, perl substitution
	local f=$1 n=$2 e=$3 got
	got=$(perl -0777 -ne 'my $s = $_; my $c = ($s =~ '"$e"'); print $c+0' "$f")
	if [ "$got" != "$n" ]; then
		echo "run.sh: $f: edit $e applied $got times, expected $n (gnet version changed?)" >&2
		exit 1
	fi
	perl -0777 -pi -e "$e" "$f"
}
for f in gnet_test.go client_test.go os_unix_test.go; do
	# An external test package that dot-imports gnet, as the files use
	# gnet's names unqualified.
	perl -0777 -pi -e 's/^package gnet$/package gnet_test/m; s/^import \(/import (\n\t. "github.com\/panjf2000\/gnet\/v2"/m' "$f"
done
# The server's Run, Rotate and package Stop calls (t.Run and c.Stop stay).
edit gnet_test.go 30 's/(?<![.\w])Run\(/suiteRun(/g'
edit client_test.go 2 's/(?<![.\w])Run\(/suiteRun(/g'
edit os_unix_test.go 11 's/(?<![.\w])Run\(/suiteRun(/g'
edit gnet_test.go 1 's/(?<![.\w])Rotate\(/suiteRotate(/g'
edit os_unix_test.go 1 's/(?<![.\w])Stop\(context/suiteStop(context/g'
# The OnBoot (and OnShutdown) Engine a server handler keeps becomes the
# engHandle of the shim, which on engine.Run is our *engine.Engine.
edit gnet_test.go 8 's/^(\t(?:eng|engine)\s+)Engine$/$1engHandle/mg'
edit client_test.go 1 's/^(\t(?:eng|engine)\s+)Engine$/$1engHandle/mg'
edit os_unix_test.go 3 's/^(\t(?:eng|engine)\s+)Engine$/$1engHandle/mg'
edit gnet_test.go 8 's/^(\t(\w+)\.(?:eng|engine) = )(eng|e)$/$1bootHandle($2, $3)/mg'
edit client_test.go 1 's/^(\t(\w+)\.(?:eng|engine) = )(eng|e)$/$1bootHandle($2, $3)/mg'
edit os_unix_test.go 3 's/^(\t(\w+)\.(?:eng|engine) = )(eng|e)$/$1bootHandle($2, $3)/mg'
# Two handlers call OnBoot's Engine directly rather than through a field.
edit gnet_test.go 1 's/eng\.Stop\(context\.TODO\(\)\)/bootHandle(s, eng).Stop(context.TODO())/g'
edit gnet_test.go 1 's/_, err := eng\.Register\(/_, err := p.engine.Register(/g'

cat > go.mod <<MOD
module gnetsuite

go 1.26.0

require (
	github.com/panjf2000/gnet/v2 $GNETVER
	github.com/uring-go/uring v0.0.0
)

replace github.com/uring-go/uring => $ROOT
MOD
cp "$ROOT/go.sum" .
go mod tidy >/dev/null 2>&1 || go mod tidy
go vet . >/dev/null 2>&1 || true
go test -c -o suite.test . 

# A -run with subtests (TestServer/poll-LT/) lists the top-level tests
# of its first element; gnet's side then runs just the matching subtests.
case $RUN in
*/*) TESTS=$(./suite.test -test.list "^(${RUN%%/*})\$" | grep '^Test' || true) ;;
*) TESTS=$(./suite.test -test.list "$RUN" | grep '^Test' || true) ;;
esac

# leaves FILE: the -v output's results, one "unit<TAB>result" per leaf
# (a unit with no subtests); units started and never finished are hangs.
leaves() {
	awk '
	/^=== RUN/ { name=$3; started[name]=1; order[++n]=name }
	/^ *--- (PASS|FAIL|SKIP):/ { res[$3]=tolower($2); sub(":","",res[$3]) }
	END {
		for (i=1;i<=n;i++) { u=order[i]; for (j=1;j<=n;j++) if (index(order[j], u "/")==1) { parent[u]=1; break } }
		for (i=1;i<=n;i++) { u=order[i]; if (u in parent || u in seen) continue; seen[u]=1
			r = (u in res) ? res[u] : "hang"; print u "\t" r }
	}' "$1"
}

# inwork runs a command (with leading NAME=value settings) in a fresh
# working directory: some of gnet's tests bind unix sockets at relative
# paths, which a process killed by its timeout leaves behind.
inwork() {
	local d rc=0
	d=$(mktemp -d "$TMP/work.XXXXXX")
	(cd "$d" && env "$@") || rc=$?
	rm -rf "$d"
	return $rc
}

# reasons FILE: the first failure message of each unit in a -v log
# ("Error:" and the line after it, the "Messages:" line, or the panic).
reasons() {
	awk '
	/^#### / { u = $2; next }
	/^=== RUN/ { if (u == "") cur = $3 }
	{ k = (u != "") ? u : cur }
	/^[ \t]+Error:/ && !(k in r) { e = $0; sub(/^[ \t]+Error:[ \t]*/, "", e); getline nx; sub(/^[ \t]+/, "", nx); if (nx !~ /^(Test|Messages|Error Trace):/) e = e " " nx; r[k] = e; next }
	/^[ \t]+Messages:/ && (k in r) && !(k in m) { x = $0; sub(/^[ \t]+Messages:[ \t]*/, "", x); m[k] = x }
	/^panic: / && !(k in r) { r[k] = $0 }
	END { for (k in r) print k "\t" r[k] ((k in m) ? " (" m[k] ")" : "") }' "$1"
}

quote() { # a unit name as an anchored -run pattern, element by element
	local IFS=/ parts out='' p
	read -ra parts <<<"$1"
	for p in "${parts[@]}"; do
		p=$(printf '%s' "$p" | sed 's/[][\\.^$*+?(){}|]/\\&/g')
		out="$out${out:+/}^$p\$"
	done
	printf '%s' "$out"
}

for eng in $ENGINES; do
	: > "$OUT/$eng.tsv"
	: > "$OUT/$eng.log"
	if [ "$eng" = gnet ] || [ ! -s "$OUT/gnet.tsv" ]; then
		# Whole top-level tests.
		for t in $TESTS; do
			echo "== $eng $t" >&2
			inwork GNETSUITE_ENGINE=$eng "$TMP/suite.test" -test.run "$(case $RUN in */*) printf '^%s$/%s' "$t" "${RUN#*/}" ;; *) printf '^%s$' "$t" ;; esac)" -test.v -test.parallel 1 \
				-test.timeout "$TIMEOUT" > "$TMP/$eng.$t.log" 2>&1 || true
			cat "$TMP/$eng.$t.log" >> "$OUT/$eng.log"
			leaves "$TMP/$eng.$t.log" | { if [ -n "$UNITS" ]; then grep -E "^($UNITS)" || true; else cat; fi; } >> "$OUT/$eng.tsv"
		done
	else
		# One process per unit gnet ran, each with its own timeout.
		cut -f1 "$OUT/gnet.tsv" | while read -r u; do
			echo "== $eng $u" >&2
			inwork GNETSUITE_ENGINE=$eng "$TMP/suite.test" -test.run "$(quote "$u")" -test.v -test.parallel 1 \
				-test.timeout "$UNIT_TIMEOUT" > "$TMP/unit.log" 2>&1 || true
			{ echo "#### $u"; cat "$TMP/unit.log"; } >> "$OUT/$eng.log"
			r=$(leaves "$TMP/unit.log" | awk -F'\t' -v u="$u" '$1==u {print $2}')
			printf '%s\t%s\n' "$u" "${r:-hang}" >> "$OUT/$eng.tsv"
		done
	fi
done

echo
for eng in $ENGINES; do
	awk -F'\t' -v e="$eng" '{c[$2]++; n++} END {printf "%-6s units %d: pass %d, fail %d, hang %d, skip %d\n", e, n, c["pass"], c["fail"], c["hang"], c["skip"]}' "$OUT/$eng.tsv"
done
if [ -s "$OUT/gnet.tsv" ] && [ -s "$OUT/uring.tsv" ]; then
	echo
	echo "units that pass on gnet and not on engine.Run (result, unit, first failure):"
	reasons "$OUT/uring.log" > "$OUT/uring.reasons.tsv"
	awk -F'\t' 'FILENAME==ARGV[1] { g[$1]=$2; next } FILENAME==ARGV[2] { why[$1]=$2; next }
		g[$1]=="pass" && $2!="pass" { print "  " $2 "\t" $1 "\t" substr(why[$1], 1, 160) }' \
		"$OUT/gnet.tsv" "$OUT/uring.reasons.tsv" "$OUT/uring.tsv"
fi
