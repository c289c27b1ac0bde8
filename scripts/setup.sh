#!/usr/bin/env bash
# Installs everything Steward's tests and demo need on a fresh Debian machine
# with Go: Debian packages (as root, or through sudo), then restic,
# versitygw, govulncheck and staticcheck built at pinned versions through
# the Go module proxy into ./bin, and an offline copy of the Go
# vulnerability database.
# Safe to run again: what is already there is kept.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/versions.sh

BIN="$PWD/bin"
mkdir -p "$BIN"

need_pkgs=()
for p in $DEBIAN_PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need_pkgs+=("$p")
done
if [ ${#need_pkgs[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${need_pkgs[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi

# install_go_tool NAME PACKAGE VERSION CHECK: builds PACKAGE@VERSION into
# ./bin unless ./bin/NAME already answers CHECK with the pinned version.
# Either way it leaves the version marker ./bin/.NAME.version, which the
# tests require (internal/testenv.Bin).
install_go_tool() {
  local name=$1 pkg=$2 version=$3 want=$4
  if [ -x "$BIN/$name" ] && "$BIN/$name" $5 2>/dev/null | grep -q -- "$want"; then
    echo "$version" > "$BIN/.$name.version"
    return
  fi
  echo "setup: building $name $version (a few minutes on a new machine)"
  GOBIN="$BIN" GOFLAGS=-mod=mod go install "$pkg@$version"
  echo "$version" > "$BIN/.$name.version"
}

install_go_tool restic github.com/restic/restic/cmd/restic "$RESTIC_VERSION" "restic ${RESTIC_VERSION#v} " version
# versitygw prints no usable version (Version: git); a marker file pins it.
if [ "$(cat "$BIN/.versitygw.version" 2>/dev/null)" != "$VERSITYGW_VERSION" ] || [ ! -x "$BIN/versitygw" ]; then
  rm -f "$BIN/versitygw"
  install_go_tool versitygw github.com/versity/versitygw/cmd/versitygw "$VERSITYGW_VERSION" never --version
fi
if [ "$(cat "$BIN/.govulncheck.version" 2>/dev/null)" != "$GOVULNCHECK_VERSION" ] || [ ! -x "$BIN/govulncheck" ]; then
  rm -f "$BIN/govulncheck"
  install_go_tool govulncheck golang.org/x/vuln/cmd/govulncheck "$GOVULNCHECK_VERSION" never -version
fi
if [ "$(cat "$BIN/.staticcheck.version" 2>/dev/null)" != "$STATICCHECK_VERSION" ] || [ ! -x "$BIN/staticcheck" ]; then
  rm -f "$BIN/staticcheck"
  install_go_tool staticcheck honnef.co/go/tools/cmd/staticcheck "$STATICCHECK_VERSION" never -version
fi

# The vulnerability database is served as a Go module; index it for
# govulncheck's offline mode (-db file://…).
if [ "$(cat "$BIN/vulndb/.version" 2>/dev/null)" != "$VULNDB_VERSION" ]; then
  echo "setup: indexing the Go vulnerability database $VULNDB_VERSION"
  dir=$(go mod download -json "golang.org/x/vulndb@$VULNDB_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  rm -rf "$BIN/vulndb"
  (cd "$dir" && GOFLAGS=-mod=mod go run ./cmd/indexdb -vulns "$dir/data/osv" -out "$BIN/vulndb")
  echo "$VULNDB_VERSION" > "$BIN/vulndb/.version"
fi
echo "setup: ready (restic $("$BIN/restic" version | awk '{print $2}'), versitygw $VERSITYGW_VERSION, govulncheck $GOVULNCHECK_VERSION, staticcheck $STATICCHECK_VERSION)"
