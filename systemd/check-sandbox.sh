#!/usr/bin/env bash
# Checks that fail2ban.service's sandbox leaves the actions working: runs
# what the actions run (iptables, ip6tables, nft, shorewall, sendmail/dma)
# and fail2ban-server itself under the unit's CapabilityBoundingSet (with
# setpriv), in a private network namespace, under strace; then checks that
# each command worked, that every system call they made is in the unit's
# SystemCallFilter, and every socket family in RestrictAddressFamilies.
#
#   systemd/check-sandbox.sh [UNIT] [SERVER_BIN_DIR]
#
# UNIT defaults to systemd/fail2ban.service, SERVER_BIN_DIR to target/debug.
# Needs root, ip, setpriv, strace and systemd-analyze; a missing firewall
# tool or dma is reported and skipped. Mail goes to the user nobody, whose
# mailbox is removed afterwards if this script created it.
#
# It does not run systemd itself (CI has no systemd as PID 1), so the mount
# settings (ProtectSystem=full: /usr, /boot, /etc read-only) are not
# exercised here: the tools above write only under /var and /run.
set -uo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
unit=${1:-$repo/systemd/fail2ban.service}
bindir=${2:-$repo/target/debug}

if [ "$(id -u)" -ne 0 ]; then
    echo "skipping: needs root (network namespace, capabilities)" >&2
    exit 0
fi
for tool in ip setpriv strace systemd-analyze; do
    if ! command -v "$tool" >/dev/null; then
        echo "skipping: $tool is not installed" >&2
        exit 0
    fi
done

failures=()
fail() {
    echo "FAIL: $*" >&2
    failures+=("$*")
}

value() {
    awk -v k="$1" -F= '$1 == k { sub(/^[^=]*=/, ""); print }' "$unit" | tail -n 1
}
caps=$(value CapabilityBoundingSet)
families=$(value RestrictAddressFamilies)
filter=$(value SystemCallFilter)
# setpriv's form: -all,+net_admin,+net_raw,...
bounding=-all$(for c in $caps; do c=${c#CAP_}; printf ',+%s' "${c,,}"; done)
echo "bounding set: $bounding"

work=$(mktemp -d "${TMPDIR:-/tmp}/ferroban-sandbox.XXXXXX")
ns=f2bsbx$$
cleanup() {
    if ip netns list | grep -qw "$ns"; then
        if command -v shorewall >/dev/null; then
            ip netns exec "$ns" shorewall clear >/dev/null 2>&1
        fi
        ip netns del "$ns"
    fi
    rm -rf "/etc/netns/$ns" "$work"
}
trap cleanup EXIT

# The system calls the filter allows, groups expanded.
expand() {
    systemd-analyze syscall-filter "$1" | tail -n +2 | sed 's/^ *//' | grep -v -e '^#' -e '^$' |
        while read -r s; do
            case $s in @*) expand "$s" ;; *) echo "$s" ;; esac
        done
}
for group in $filter; do expand "$group"; done | sort -u >"$work/allowed.txt"
echo "SystemCallFilter=$filter allows $(wc -l <"$work/allowed.txt") calls"

ip netns add "$ns" || { fail "ip netns add"; exit 1; }
ip -n "$ns" link set lo up
ip -n "$ns" link add v0 type veth peer name v1 && ip -n "$ns" addr add 192.0.2.1/24 dev v0 && ip -n "$ns" link set v0 up

# run NAME CMD...: CMD in the namespace, under the bounding set, traced.
run() {
    local name=$1
    shift
    if ip netns exec "$ns" strace -f -qq -o "$work/trace.$name" \
        setpriv --bounding-set="$bounding" --inh-caps=-all -- "$@" >"$work/out.$name" 2>&1; then
        echo "ok: $name: $*"
    else
        fail "$name: $* failed under the sandbox: $(cat "$work/out.$name")"
    fi
}

if command -v iptables >/dev/null; then
    run ipt-chain iptables -w -N f2b-sshd
    run ipt-rule iptables -w -I f2b-sshd 1 -s 192.0.2.2 -j REJECT --reject-with icmp-port-unreachable
    run ipt-jump iptables -w -I INPUT -p tcp -m multiport --dports 22 -j f2b-sshd
    run ipt-check iptables -w -C f2b-sshd -s 192.0.2.2 -j REJECT --reject-with icmp-port-unreachable
    run ip6t-chain ip6tables -w -N f2b-sshd
    run ip6t-rule ip6tables -w -I f2b-sshd 1 -s 2001:db8::2 -j DROP
else
    echo "skipping iptables: not installed" >&2
fi
if command -v nft >/dev/null; then
    run nft-table nft add table inet f2b-table
    run nft-set nft add set inet f2b-table addr-set-sshd '{ type ipv4_addr; }'
    run nft-element nft add element inet f2b-table addr-set-sshd '{ 192.0.2.2 }'
    run nft-delete nft delete element inet f2b-table addr-set-sshd '{ 192.0.2.2 }'
else
    echo "skipping nft: not installed" >&2
fi
if command -v shorewall >/dev/null && [ -d /usr/share/doc/shorewall/examples/one-interface ]; then
    # A one-interface Shorewall in the namespace (ip netns exec shows
    # /etc/netns/NS/shorewall as /etc/shorewall).
    conf=/etc/netns/$ns/shorewall
    mkdir -p "$conf"
    cp /usr/share/doc/shorewall/examples/one-interface/* "$conf/"
    gunzip -f "$conf"/*.gz 2>/dev/null
    sed -i 's/physical=eth0/physical=v0/; s/^net[[:space:]]\+eth0/net v0/' "$conf/interfaces"
    sed -i 's/^STARTUP_ENABLED=.*/STARTUP_ENABLED=Yes/' "$conf/shorewall.conf"
    if ip netns exec "$ns" shorewall start >"$work/shorewall-start.txt" 2>&1; then
        run shorewall-reject shorewall reject 192.0.2.2
        run shorewall-allow shorewall allow 192.0.2.2
    else
        fail "shorewall does not start in the namespace: $(tail -n 5 "$work/shorewall-start.txt")"
    fi
else
    echo "skipping shorewall: not installed" >&2
fi
if [ -x /usr/sbin/sendmail ] && [ -e /usr/sbin/dma ]; then
    mbox=/var/mail/nobody
    size=$(stat -c %s "$mbox" 2>/dev/null || echo none)
    subject="ferroban sandbox check $$"
    printf 'Subject: %s\n\nA test of the sendmail action under the unit sandbox.\n' "$subject" >"$work/mail.txt"
    run dma /bin/sh -c "/usr/sbin/sendmail -i -f fail2ban@localhost nobody <'$work/mail.txt'"
    for _ in $(seq 50); do
        grep -q "$subject" "$mbox" 2>/dev/null && break
        sleep 0.2
    done
    if grep -q "$subject" "$mbox" 2>/dev/null; then
        echo "ok: dma delivered to $mbox"
    else
        fail "dma did not deliver to $mbox under the sandbox"
    fi
    # Leave the mailbox as it was.
    if [ "$size" = none ]; then rm -f "$mbox"; else truncate -s "$size" "$mbox"; fi
else
    echo "skipping sendmail: dma is not installed" >&2
fi

# The server: start, ping, reload, stop, on a configuration of its own.
if [ -x "$bindir/fail2ban-server" ] && [ -x "$bindir/fail2ban-client" ]; then
    srv=$work/server
    mkdir -p "$srv/conf"
    printf '[Definition]\nlogtarget = %s\nsocket = %s\npidfile = %s\ndbfile = %s\n' \
        "$srv/f2b.log" "$srv/f2b.sock" "$srv/f2b.pid" "$srv/f2b.db" >"$srv/conf/fail2ban.conf"
    printf '[DEFAULT]\n' >"$srv/conf/jail.conf"
    ip netns exec "$ns" strace -f -qq -o "$work/trace.server" \
        setpriv --bounding-set="$bounding" --inh-caps=-all -- \
        "$bindir/fail2ban-server" -c "$srv/conf" -xf start >"$work/out.server" 2>&1 &
    server_pid=$!
    for _ in $(seq 100); do
        "$bindir/fail2ban-client" -c "$srv/conf" ping >/dev/null 2>&1 && break
        sleep 0.1
    done
    if "$bindir/fail2ban-client" -c "$srv/conf" reload >/dev/null 2>&1 &&
        "$bindir/fail2ban-client" -c "$srv/conf" stop >/dev/null 2>&1 && wait "$server_pid"; then
        echo "ok: fail2ban-server started, reloaded and stopped"
    else
        fail "fail2ban-server under the sandbox: $(cat "$work/out.server")"
        kill "$server_pid" 2>/dev/null
    fi
else
    echo "skipping the server: no $bindir/fail2ban-server (cargo build)" >&2
fi

# What the traces show.
cat "$work"/trace.* 2>/dev/null |
    sed -E 's/^[0-9]+ +//; s/^<\.\.\. ([a-z0-9_]+) resumed>.*/\1/; s/^([a-z0-9_]+)\(.*/\1/' |
    grep -E '^[a-z0-9_]+$' | sort -u >"$work/used.txt"
outside=$(comm -23 "$work/used.txt" "$work/allowed.txt" | tr '\n' ' ')
echo "system calls made: $(wc -l <"$work/used.txt")"
if [ -n "$outside" ]; then
    fail "system calls outside SystemCallFilter=$filter: $outside"
else
    echo "ok: every system call is in SystemCallFilter=$filter"
fi
used_families=$(cat "$work"/trace.* 2>/dev/null | grep -oE 'socket\(AF_[A-Z0-9]+' | sed 's/socket(//' | sort -u | tr '\n' ' ')
for fam in $used_families; do
    case " $families " in
        *" $fam "*) ;;
        *) fail "socket family $fam is not in RestrictAddressFamilies=$families" ;;
    esac
done
echo "socket families used: $used_families"

if [ ${#failures[@]} -ne 0 ]; then
    echo "check-sandbox.sh: ${#failures[@]} checks failed" >&2
    exit 1
fi
echo "check-sandbox.sh: the actions work under the unit's sandbox"
