#!/usr/bin/env bash
# Checks that Mageia Control Centre's services page (drakxservices) will list
# a service installed under a root directory, with a helpful description.
# See mcc/README for the conditions and where they come from.
#
#   mcc/check-drakxservices.sh DIR [SERVICE]      (SERVICE: fail2ban)
#
# Prints the row the page would show; exits 1 saying what fails.
set -u

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: $0 DIR [SERVICE]" >&2
    exit 2
fi
root=${1%/}
service=${2:-fail2ban}
failed=0
fail() {
    echo "FAIL: $*" >&2
    failed=1
}

unit=$root/usr/lib/systemd/system/$service.service

case $service in
    *@*) fail "$service.service is a template: drakxservices skips templates" ;;
esac
if [ -L "$unit" ]; then
    fail "$unit is a symlink: drakxservices only lists real unit files"
elif [ ! -e "$unit" ]; then
    echo "FAIL: no unit file $unit" >&2
    exit 1
elif [ ! -f "$unit" ]; then
    fail "$unit is not a regular file"
fi

# The values of KEY in SECTION, one per line (repeated keys add up).
values() {
    awk -v want_section="$1" -v want_key="$2" '
        /^[ \t]*[#;]/ { next }
        /^[ \t]*\[/ { gsub(/^[ \t]*\[|\][ \t]*$/, ""); section = $0; next }
        section == want_section && index($0, "=") {
            key = substr($0, 1, index($0, "=") - 1)
            value = substr($0, index($0, "=") + 1)
            gsub(/^[ \t]+|[ \t]+$/, "", key)
            gsub(/^[ \t]+|[ \t]+$/, "", value)
            if (key == want_key) print value
        }' "$unit"
}

wanted=$(values Install WantedBy | tr ' ' '\n')
if ! printf '%s\n' "$wanted" | grep -qx -e multi-user.target -e graphical.target; then
    fail "no WantedBy=multi-user.target in [Install]: the service could not be enabled at boot, and is listed only while running"
fi

description=$(values Unit Description | tail -n 1)
words=$(printf '%s\n' "$description" | wc -w)
plain=$(printf '%s\n' "$description" | tr 'A-Z' 'a-z' | tr -d '[:punct:]' |
    sed -e "s/\b$(printf '%s' "$service" | tr 'A-Z' 'a-z')\b//g" -e 's/\bservice\b//g' -e 's/\bdaemon\b//g' | tr -d ' ')
if [ -z "$description" ]; then
    fail "no Description=: the Info button would show nothing"
elif [ "$words" -lt 5 ]; then
    fail "Description= \"$description\" has $words words: say what the service does (5 words or more)"
elif [ "${#description}" -gt 120 ]; then
    fail "Description= is ${#description} characters long: 120 at most fit the Info popup"
elif [ -z "$plain" ]; then
    fail "Description= \"$description\" only repeats the service's name"
fi

state=unknown
if command -v systemctl >/dev/null; then
    state=$(systemctl --root="$root" list-unit-files --no-legend "$service.service" 2>/dev/null |
        awk -v u="$service.service" '$1 == u { print $2 }')
    case $state in
        enabled | disabled) ;;
        *) fail "systemctl --root=$root list-unit-files says \"${state:-nothing}\" for $service.service; the page toggles only enabled/disabled units" ;;
    esac
fi

if [ "$failed" -ne 0 ]; then
    exit 1
fi
on_boot="[ ]"
[ "$state" = enabled ] && on_boot="[x]"
echo "drakxservices would list: $service   $on_boot On boot   Info: $description"
