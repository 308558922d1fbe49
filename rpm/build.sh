#!/usr/bin/env bash
# Builds ferroban's source and binary RPMs into OUTDIR.
#
#   rpm/build.sh OUTDIR
#
# Source0 is the working tree as git sees it: every file tracked or not
# ignored (`git ls-files -co --exclude-standard`), so a fresh CI clone and a
# developer's tree with uncommitted changes both build what is in front of
# them. Source1 is `cargo vendor` of Cargo.lock (the only step that needs
# crates.io), so rpmbuild itself builds offline, as on Mageia's build hosts.
#
# rpmbuild runs with a private %_topdir. On a host without Mageia's macros
# (/usr/lib/rpm/mageia) it loads rpm/shim.macros and skips the BuildRequires
# check: rpm's database there does not know the host's rust and cargo.
set -euo pipefail

if [ $# -ne 1 ]; then
    echo "usage: $0 OUTDIR" >&2
    exit 2
fi
repo=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$1"
out=$(cd "$1" && pwd)

for tool in git tar cargo rpmbuild rpmspec; do
    command -v "$tool" >/dev/null || { echo "build.sh: $tool is missing" >&2; exit 1; }
done

name=ferroban
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$repo/Cargo.toml" | head -n 1)
spec_version=$(sed -n 's/^Version:[[:space:]]*//p' "$repo/rpm/$name.spec")
if [ "$version" != "$spec_version" ]; then
    echo "build.sh: Cargo.toml has version $version but rpm/$name.spec has $spec_version" >&2
    exit 1
fi

top=$(mktemp -d "${TMPDIR:-/tmp}/ferroban-rpm.XXXXXX")
trap 'rm -rf "$top"' EXIT
mkdir -p "$top"/{BUILD,BUILDROOT,RPMS,SOURCES,SPECS,SRPMS,vendor-stage}

# Source0. Files deleted from the tree but still tracked are left out.
# Owners, order and dates are fixed so the same tree gives the same tarball.
mtime=$(git -C "$repo" log -1 --format=%ct 2>/dev/null || date +%s)
(
    cd "$repo"
    git ls-files -co --exclude-standard -z |
        while IFS= read -r -d '' f; do
            if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi
        done |
        tar --null --no-recursion -T - --sort=name --owner=0 --group=0 --numeric-owner \
            --mtime="@$mtime" --transform "s,^,$name-$version/," \
            -czf "$top/SOURCES/$name-$version.tar.gz"
)

# Source1: the crates, unpacked by %setup -a 1 as vendor/ in the source tree.
echo "build.sh: vendoring crates" >&2
(cd "$repo" && cargo vendor --locked --quiet "$top/vendor-stage/vendor" >/dev/null)
tar -C "$top/vendor-stage" --sort=name --owner=0 --group=0 --numeric-owner \
    --mtime="@$mtime" -czf "$top/SOURCES/$name-$version-vendor.tar.gz" vendor
rm -rf "$top/vendor-stage"

macros=()
deps=()
if [ ! -d /usr/lib/rpm/mageia ]; then
    echo "build.sh: no Mageia macros here: loading rpm/shim.macros" >&2
    macros=(--load "$repo/rpm/shim.macros")
    deps=(--nodeps)
fi

# The spec with its %changelog, written from git as Mageia's repsys writes
# it from the commit log: one entry for this build, dated like HEAD.
evr=$(rpmspec "${macros[@]}" -q --srpm --qf '%{version}-%{release}\n' "$repo/rpm/$name.spec")
if git -C "$repo" rev-parse -q --verify HEAD >/dev/null; then
    when=$(LC_ALL=C git -C "$repo" log -1 --date=format:'%a %b %d %Y' --format=%ad)
    who=$(git -C "$repo" log -1 --format='%an <%ae>')
    what=$(git -C "$repo" describe --always --dirty)
else
    when=$(LC_ALL=C date -u +'%a %b %d %Y')
    who="ferroban build <root@localhost>"
    what="a tree outside git"
fi
{
    cat "$repo/rpm/$name.spec"
    printf '\n%%changelog\n* %s %s %s\n- build of %s\n' "$when" "$who" "$evr" "$what"
} >"$top/SPECS/$name.spec"

# Mageia's build system sets the packager; so does this script.
args=(--define "_topdir $top" --define "packager ${PACKAGER:-ferroban rpm/build.sh <root@localhost>}")
args+=("${macros[@]}" "${deps[@]}")

echo "build.sh: rpmbuild -ba (a release build: several minutes)" >&2
rpmbuild "${args[@]}" -ba "$top/SPECS/$name.spec"

shopt -s nullglob
built=("$top"/SRPMS/*.src.rpm "$top"/RPMS/*/*.rpm)
if [ ${#built[@]} -lt 2 ]; then
    echo "build.sh: rpmbuild made no source and binary package" >&2
    exit 1
fi
cp "${built[@]}" "$out/"
for f in "${built[@]}"; do
    echo "$out/$(basename "$f")"
done
