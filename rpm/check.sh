#!/usr/bin/env bash
# Acceptance checks on the packages rpm/build.sh wrote into OUTDIR.
#
#   rpm/check.sh OUTDIR
#
# 1. rpmlint on the source and binary packages: no error (the few findings
#    rpm/rpmlintrc accepts say why); warnings are listed.
# 2. The binary package's contents: the three programs, the unit, the
#    tmpfiles.d entry, the logrotate file, the man pages, every file of the
#    source tree's etc/fail2ban as a %config(noreplace) file, and the
#    Provides/Conflicts/scriptlets Mageia expects.
# 3. Installed with `rpm --root DIR --nodeps --noscripts -i` (an empty root
#    has no /bin/sh nor rpm-helper to run the scriptlets), then the steps
#    %post takes done by hand on DIR:
#    - the installed fail2ban-client passes `-t` on the installed
#      /etc/fail2ban;
#    - `systemd-tmpfiles --root=DIR --create fail2ban.conf` (%tmpfiles_create)
#      makes DIR/run/fail2ban;
#    - mcc/check-drakxservices.sh DIR: the Control Centre lists the service;
#    - `systemctl --root=DIR enable|disable fail2ban.service` (what rpm-helper
#      and the Control Centre's "On boot" run), with is-enabled after each;
#    - `systemd-analyze verify --root=DIR fail2ban.service`: the unit loads and
#      its ExecStart/ExecStop programs are there, in DIR. A bare package root
#      lacks systemd's own units (sysinit.target...), so the host's are
#      copied in first, leaving the package's unit file as installed;
#    - systemd/check-sandbox.sh: the firewall tools, dma and the installed
#      server work under the unit's capabilities and system call filter;
#    - logrotate parses the installed logrotate file.
# Exits 1 after listing every check that failed.
set -uo pipefail

if [ $# -ne 1 ]; then
    echo "usage: $0 OUTDIR" >&2
    exit 2
fi
out=$(cd "$1" && pwd) || exit 2
repo=$(cd "$(dirname "$0")/.." && pwd)

failures=()
fail() {
    echo "FAIL: $*" >&2
    failures+=("$*")
}
pass() {
    echo "ok: $*"
}
need() {
    command -v "$1" >/dev/null || { fail "$1 is not installed"; return 1; }
}

shopt -s nullglob
srpms=("$out"/ferroban-*.src.rpm)
rpms=()
for f in "$out"/ferroban-*.rpm; do
    case $f in
        *.src.rpm | *-debuginfo-* | *-debugsource-*) ;;
        *) rpms+=("$f") ;;
    esac
done
if [ ${#srpms[@]} -ne 1 ] || [ ${#rpms[@]} -ne 1 ]; then
    echo "FAIL: expected one source and one binary ferroban package in $out" >&2
    ls -l "$out" >&2
    exit 1
fi
srpm=${srpms[0]}
rpm=${rpms[0]}
echo "checking $(basename "$srpm") and $(basename "$rpm")"

work=$(mktemp -d "${TMPDIR:-/tmp}/ferroban-check.XXXXXX")
trap 'rm -rf "$work"' EXIT

# --- 1. rpmlint ---------------------------------------------------------
if need rpmlint; then
    # rpmlint reads the spec inside the source package with rpm's macros;
    # off Mageia, those are rpm/shim.macros, given as the home's .rpmmacros.
    lint_home=$work/lint-home
    mkdir -p "$lint_home"
    if [ ! -d /usr/lib/rpm/mageia ]; then
        cp "$repo/rpm/shim.macros" "$lint_home/.rpmmacros"
    fi
    HOME=$lint_home rpmlint --config "$repo/rpm/rpmlint.toml" --rpmlintrc "$repo/rpm/rpmlintrc" \
        "$srpm" "$rpm" >"$work/rpmlint.txt" 2>&1
    summary=$(grep -E '[0-9]+ errors?, [0-9]+ warnings?' "$work/rpmlint.txt" | tail -n 1)
    errors=$(sed -nE 's/.* ([0-9]+) errors?,.*/\1/p' <<<"$summary")
    warnings=$(sed -nE 's/.* ([0-9]+) warnings?.*/\1/p' <<<"$summary")
    echo "rpmlint: ${errors:-?} errors, ${warnings:-?} warnings"
    grep -E ': [EW]: ' "$work/rpmlint.txt" | sed 's/^/    /'
    if [ -z "$summary" ]; then
        fail "rpmlint printed no summary:"
        cat "$work/rpmlint.txt" >&2
    elif [ "$errors" -ne 0 ]; then
        fail "rpmlint found $errors errors"
    else
        pass "rpmlint: no errors"
    fi
fi

# --- 2. contents --------------------------------------------------------
if need rpm; then
    rpm -qlp "$rpm" >"$work/files.txt" 2>/dev/null
    rpm -qcp "$rpm" >"$work/config.txt" 2>/dev/null
    echo "the package holds $(wc -l <"$work/files.txt") paths, $(wc -l <"$work/config.txt") of them config files"
    has() { grep -qxE "$1" "$work/files.txt"; }
    for want in \
        /usr/bin/fail2ban-server /usr/bin/fail2ban-client /usr/bin/fail2ban-regex \
        /usr/lib/systemd/system/fail2ban.service /usr/lib/tmpfiles.d/fail2ban.conf \
        /etc/logrotate.d/ferroban /var/lib/fail2ban /etc/fail2ban \
        '/usr/share/man/man1/fail2ban-server\.1(\.[a-z0-9]+)?' \
        '/usr/share/man/man1/fail2ban-client\.1(\.[a-z0-9]+)?' \
        '/usr/share/man/man1/fail2ban-regex\.1(\.[a-z0-9]+)?' \
        '/usr/share/man/man5/jail\.conf\.5(\.[a-z0-9]+)?' \
        '/usr/share/licenses/ferroban[^/]*/COPYING' '/usr/share/doc/ferroban[^/]*/README\.md'; do
        if has "$want"; then pass "contains $want"; else fail "rpm -qlp lacks $want"; fi
    done
    # Every file of the tree's etc/fail2ban, as a config file.
    n=0
    while IFS= read -r -d '' f; do
        path=/etc/fail2ban/${f#"$repo"/etc/fail2ban/}
        n=$((n + 1))
        if ! grep -qxF "$path" "$work/config.txt"; then
            fail "$path is not in the package as a config file"
        fi
    done < <(find "$repo/etc/fail2ban" -type f -print0)
    if [ "$n" -eq 0 ]; then
        fail "etc/fail2ban in the tree holds no file"
    else
        pass "all $n files of etc/fail2ban are %config files"
    fi
    rpm -qp --qf '[%{FILEFLAGS:fflags} %{FILENAMES}\n]' "$rpm" 2>/dev/null |
        awk '$2 ~ "^/etc/fail2ban/" && $1 !~ /n/ { print $2 }' >"$work/replace.txt"
    if [ -s "$work/replace.txt" ]; then
        fail "config files without noreplace: $(tr '\n' ' ' <"$work/replace.txt")"
    fi
    rpm -qp --provides "$rpm" 2>/dev/null | grep -qE '^fail2ban( |$)' && pass "provides fail2ban" ||
        fail "does not provide fail2ban"
    rpm -qp --conflicts "$rpm" 2>/dev/null | grep -qxE 'fail2ban' && pass "conflicts with fail2ban" ||
        fail "does not conflict with fail2ban"
    rpm -qp --scripts "$rpm" >"$work/scripts.txt" 2>/dev/null
    for want in 'rpm-helper/add-service ferroban \$1 fail2ban' 'rpm-helper/del-service ferroban \$1 fail2ban' \
        'systemd-tmpfiles --create fail2ban\.conf'; do
        if grep -qE "$want" "$work/scripts.txt"; then pass "scriptlets run $want"; else fail "scriptlets lack $want"; fi
    done
fi

# --- 3. installed -------------------------------------------------------
root=$work/root
mkdir -p "$root"
if need rpm && rpm --root "$root" --nodeps --noscripts -i "$rpm" >"$work/install.txt" 2>&1; then
    pass "rpm --root DIR --nodeps --noscripts -i"
else
    fail "rpm --root install failed: $(cat "$work/install.txt" 2>/dev/null)"
fi

unit=$root/usr/lib/systemd/system/fail2ban.service
if [ -f "$unit" ] && [ ! -L "$unit" ]; then pass "the unit is a real file"; else fail "$unit is missing or a symlink"; fi

client=$root/usr/bin/fail2ban-client
if [ -x "$client" ]; then
    if "$client" -c "$root/etc/fail2ban" -t >"$work/t.txt" 2>&1 &&
        grep -q "OK: configuration test is successful" "$work/t.txt"; then
        pass "fail2ban-client -c DIR/etc/fail2ban -t"
    else
        fail "fail2ban-client -t on the installed configuration: $(cat "$work/t.txt")"
    fi
else
    fail "no $client"
fi

if need systemd-tmpfiles; then
    if systemd-tmpfiles --root="$root" --create fail2ban.conf >"$work/tmpfiles.txt" 2>&1 &&
        [ -d "$root/run/fail2ban" ]; then
        pass "systemd-tmpfiles --create fail2ban.conf makes /run/fail2ban"
    else
        fail "systemd-tmpfiles: $(cat "$work/tmpfiles.txt")"
    fi
fi

if bash "$repo/mcc/check-drakxservices.sh" "$root"; then
    pass "mcc/check-drakxservices.sh"
else
    fail "mcc/check-drakxservices.sh: the Control Centre would not list fail2ban"
fi

if need systemctl; then
    if systemctl --root="$root" enable fail2ban.service >"$work/enable.txt" 2>&1 &&
        [ "$(systemctl --root="$root" is-enabled fail2ban.service 2>/dev/null)" = enabled ] &&
        [ -L "$root/etc/systemd/system/multi-user.target.wants/fail2ban.service" ]; then
        pass "systemctl --root=DIR enable: is-enabled says enabled"
    else
        fail "systemctl enable: $(cat "$work/enable.txt"); is-enabled: $(systemctl --root="$root" is-enabled fail2ban.service 2>&1)"
    fi
    if systemctl --root="$root" disable fail2ban.service >"$work/disable.txt" 2>&1 &&
        [ "$(systemctl --root="$root" is-enabled fail2ban.service 2>/dev/null)" = disabled ] &&
        [ ! -e "$root/etc/systemd/system/multi-user.target.wants/fail2ban.service" ]; then
        pass "systemctl --root=DIR disable: is-enabled says disabled"
    else
        fail "systemctl disable: $(cat "$work/disable.txt"); is-enabled: $(systemctl --root="$root" is-enabled fail2ban.service 2>&1)"
    fi
fi

if need systemd-analyze; then
    units=$root/usr/lib/systemd/system
    for host in /usr/lib/systemd/system /lib/systemd/system; do
        [ -d "$host" ] || continue
        for f in "$host"/*; do
            name=${f##*/}
            case $name in fail2ban*) continue ;; esac
            if [ -f "$f" ] && [ ! -e "$units/$name" ] && [ ! -L "$units/$name" ]; then
                cp -P "$f" "$units/"
            fi
        done
    done
    if systemd-analyze verify --root="$root" fail2ban.service >"$work/verify.txt" 2>&1 &&
        [ ! -s "$work/verify.txt" ]; then
        pass "systemd-analyze verify --root=DIR fail2ban.service"
    else
        fail "systemd-analyze verify: $(cat "$work/verify.txt")"
    fi
    systemd-analyze security --offline=yes --root="$root" fail2ban.service 2>/dev/null |
        tail -n 1 | sed 's/^/    /'
fi

# The unit's sandbox against the tools the actions run, with the installed
# programs (skips, saying why, without root or its tools).
if bash "$repo/systemd/check-sandbox.sh" "$unit" "$root/usr/bin"; then
    pass "systemd/check-sandbox.sh"
else
    fail "systemd/check-sandbox.sh: the unit's sandbox breaks an action"
fi

if need logrotate; then
    if logrotate --debug --state "$work/logrotate.state" "$root/etc/logrotate.d/ferroban" >"$work/logrotate.txt" 2>&1; then
        pass "logrotate reads /etc/logrotate.d/ferroban"
    else
        fail "logrotate: $(cat "$work/logrotate.txt")"
    fi
fi

if [ ${#failures[@]} -ne 0 ]; then
    echo "rpm/check.sh: ${#failures[@]} checks failed:" >&2
    printf '  - %s\n' "${failures[@]}" >&2
    exit 1
fi
echo "rpm/check.sh: all checks passed"
