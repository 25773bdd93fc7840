#!/usr/bin/env bash
# Runs the test suite: installs redis-server when it is missing (the tests
# start their own private servers on free loopback ports), then vet and the
# race-enabled tests of every module.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v redis-server >/dev/null 2>&1; then
	echo "redis-server not found: installing the Debian package redis-server"
	SUDO=""
	[ "$(id -u)" -ne 0 ] && SUDO="sudo"
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server >/dev/null
	# The package starts a system service on 6379 on some systems; the tests do not use it.
fi
echo "using $(redis-server --version)"

# contrib/pgcdc's tests start a private PostgreSQL cluster (initdb and pg_ctl
# of the newest /usr/lib/postgresql/<version>/bin, a free loopback port);
# they never use the server the package may start on 5432.
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && [ -z "${PG_BIN:-}" ]; then
	echo "PostgreSQL not found: installing the Debian package postgresql"
	SUDO=""
	[ "$(id -u)" -ne 0 ] && SUDO="sudo"
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null
fi
echo "using PostgreSQL from $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)${PG_BIN:+ (PG_BIN=$PG_BIN)}"

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change:"; echo "$unformatted"; exit 1
fi
# The library, then every module below it (integrations, examples, the
# benchmark harness), each with its own go.mod, all through the workspace
# (go.work), whatever GOWORK the environment sets: the nested modules
# require the library at its next release, which go.work maps to this tree.
# internal/modcheck builds them outside the workspace.
export GOWORK="$PWD/go.work"
for mod in $(git ls-files 'go.mod' '*/go.mod' 2>/dev/null || find . -name go.mod); do
	dir=$(dirname "$mod")
	echo "== module $dir"
	(cd "$dir" && go vet ./... && go test -race -count=1 -timeout 20m ./...)
done

# The decoders that read what other processes wrote (dependency strings, bus
# messages and their signatures, Redis entries) are fuzzed for a few seconds
# each, beyond their seed corpora (which the tests above already ran). The
# budget is a count of executions, not a duration: Go 1.26's fuzzing
# coordinator can report a spurious "context deadline exceeded" when a
# duration runs out (go.dev/issue/75804, fixed in Go 1.27).
FUZZTIME=${FUZZTIME:-100000x}
for target in ./deps:FuzzParse ./deps:FuzzDistinct ./deps:FuzzNumbers \
	./bus:FuzzDecode ./bus:FuzzVerify ./remote:FuzzDecodeEnvelope; do
	pkg=${target%%:*}
	fn=${target##*:}
	echo "== fuzz $pkg $fn ($FUZZTIME)"
	go test -run '^$' -fuzz "^${fn}\$" -fuzztime "$FUZZTIME" "$pkg"
done
