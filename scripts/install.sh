#!/usr/bin/env bash
# Installs skbtracer under PREFIX (default /usr/local): the release binary, its man
# page, and its bash, zsh and fish completions. --uninstall removes exactly those files.
#
#   scripts/install.sh [PREFIX]
#   scripts/install.sh --uninstall [PREFIX]
#
# The man page and the completions are generated here, from the argument parser of the
# binary being installed (swift-argument-parser's generate-manual tool and
# --generate-completion-script), so they always describe that binary and nothing
# generated is committed. Needs no network: generate-manual is built from the
# swift-argument-parser checkout the package build already fetched.
#
# SKBTRACER_BIN=FILE installs that binary instead of building the release one (e.g.
# SKBTRACER_BIN=.build/release/skbtracer after `swift build -c release`, so that
# only the copying runs as root). DESTDIR stages the files for a package, as make does.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)

fail() { echo "install.sh: error: $1" >&2; exit "${2:-1}"; }

# Every file the script installs, relative to PREFIX: install and uninstall both walk
# this list, so uninstall removes what install wrote and nothing else.
files=(
  bin/skbtracer
  share/man/man1/skbtracer.1
  share/bash-completion/completions/skbtracer
  share/zsh/site-functions/_skbtracer
  share/fish/vendor_completions.d/skbtracer.fish
)

uninstall=0
prefix=
for arg in "$@"; do
  case $arg in
    --uninstall) uninstall=1 ;;
    -h|--help) sed -n '2,16s/^# \{0,1\}//p' "$0"; exit 0 ;;
    -*) fail "unknown option '$arg'. Hint: scripts/install.sh [--uninstall] [PREFIX]" 2 ;;
    *) [[ -z $prefix ]] || fail "more than one PREFIX ('$prefix', '$arg'). Hint: scripts/install.sh [--uninstall] [PREFIX]" 2
       prefix=$arg ;;
  esac
done
prefix=${prefix:-/usr/local}
[[ $prefix == /* ]] || prefix="$PWD/$prefix"
dest="${DESTDIR:-}$prefix"

if ((uninstall)); then
  for f in "${files[@]}"; do
    if [[ -e $dest/$f || -L $dest/$f ]]; then
      rm -f "$dest/$f"
      echo "removed $dest/$f"
    fi
  done
  exit 0
fi

if [[ -n ${SKBTRACER_BIN:-} ]]; then
  bin=$SKBTRACER_BIN
  [[ -x $bin && ! -d $bin ]] || fail "SKBTRACER_BIN=$bin is not an executable file. Hint: swift build -c release, then SKBTRACER_BIN=.build/release/skbtracer" 2
else
  echo "building the release binary (swift build -c release)..." >&2
  (cd "$repo" && swift build -c release --product skbtracer >&2)
  bin="$(cd "$repo" && swift build -c release --show-bin-path)/skbtracer"
fi
bin=$(readlink -f "$bin")

# The swift-argument-parser checkout of the build the binary came from (any
# --scratch-path: .../<scratch>/<triple>/<config>/skbtracer), else the package's .build.
scratch=
dir=$(dirname "$bin")
for _ in 1 2 3; do
  if [[ -d $dir/checkouts/swift-argument-parser ]]; then scratch=$dir; break; fi
  dir=$(dirname "$dir")
done
[[ -n $scratch ]] || scratch="$repo/.build"
parser="$scratch/checkouts/swift-argument-parser"
[[ -f $parser/Tools/generate-manual/GenerateManual.swift ]] \
  || fail "no swift-argument-parser checkout at $parser. Hint: run swift build in $repo first (it fetches the package's dependencies)"

# generate-manual is an executable target of swift-argument-parser (the one its
# GenerateManual plugin runs); built once into its own scratch directory, so it never
# waits for the lock of the package's build (a running `swift test` holds it).
tools="$scratch/tools/generate-manual"
log=$(mktemp)
stage=$(mktemp -d)
trap 'rm -rf "$stage" "$log"' EXIT
if ! swift build --package-path "$parser" --scratch-path "$tools" --product generate-manual >"$log" 2>&1; then
  cat "$log" >&2
  fail "building swift-argument-parser's generate-manual failed (above). Hint: check the swift toolchain (swift --version)"
fi
generate_manual="$(swift build --package-path "$parser" --scratch-path "$tools" --show-bin-path)/generate-manual"

# The page's date: the commit the tree is at (reproducible), unless SOURCE_DATE_EPOCH says.
if [[ -n ${SOURCE_DATE_EPOCH:-} ]]; then
  date=$(date -u -d "@$SOURCE_DATE_EPOCH" +%F)
else
  date=$(git -C "$repo" log -1 --format=%cs 2>/dev/null || date -u +%F)
fi

# Generate everything before installing anything: a failure leaves PREFIX untouched.
"$generate_manual" "$bin" --date "$date" --output-directory "$stage" >"$log" 2>&1 \
  || { cat "$log" >&2; fail "generate-manual $bin failed (above)"; }
[[ -s $stage/skbtracer.1 ]] || fail "generate-manual wrote no skbtracer.1 into $stage"
# generate-manual copies a discussion's blank lines (between paragraphs, before
# "Examples:") verbatim; mdoc forbids empty lines and man then prints
# "mdoc warning: Empty input line" at every reader. .Pp is mdoc's paragraph break.
sed -i 's/^$/.Pp/' "$stage/skbtracer.1"
for shell in bash zsh fish; do
  "$bin" --generate-completion-script "$shell" >"$stage/$shell" \
    || fail "$bin --generate-completion-script $shell failed"
  [[ -s $stage/$shell ]] || fail "$bin --generate-completion-script $shell printed nothing"
done

# In the order of `files`.
sources=("$bin" "$stage/skbtracer.1" "$stage/bash" "$stage/zsh" "$stage/fish")
for i in "${!files[@]}"; do
  mode=0644
  [[ ${files[i]} == bin/* ]] && mode=0755
  install -D -m "$mode" "${sources[i]}" "$dest/${files[i]}"
  echo "installed $dest/${files[i]}"
done
