#!/bin/bash
# netlab's stand-in for systemctl inside a node (bind-mounted over /usr/bin/systemctl,
# so also reached as reboot/poweroff/halt/shutdown through their symlinks).
# Only the node's own processes are touched: the node has its own PID namespace.
# Power actions go to the node's /proc/sysrq-trigger, which is netlab's FIFO.

me=$(basename "$0")
MARKER=/var/lib/corosync/netlab-no-stack-at-boot  # a private folder of the node

wait_gone() {  # NAME SECONDS
    local i
    for ((i = 0; i < $2 * 10; i++)); do
        pidof "$1" >/dev/null || return 0
        sleep 0.1
    done
    return 1
}

start_corosync() {
    pidof corosync >/dev/null && return 0
    corosync || return 1
    local i
    for ((i = 0; i < 200; i++)); do
        corosync-cfgtool -s >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    return 1
}

start_pacemaker() {
    pidof pacemakerd >/dev/null && return 0
    pidof corosync >/dev/null || start_corosync || return 1
    # systemd's pacemaker.service has Restart=on-failure: a pacemakerd killed by a signal starts again
    setsid sh -c 'while :; do pacemakerd; rc=$?; [ "$rc" -gt 128 ] || exit "$rc"; sleep 0.5; done' </dev/null >/dev/null 2>&1 &
    local i
    for ((i = 0; i < 300; i++)); do
        crm_mon -1 >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    return 1
}

stop_pacemaker() {
    pidof pacemakerd >/dev/null || return 0
    kill -TERM $(pidof pacemakerd)
    wait_gone pacemakerd 120
}

stop_corosync() {
    pidof corosync >/dev/null || return 0
    stop_pacemaker || return 1
    kill -TERM $(pidof corosync)
    wait_gone corosync 30
}

os_down() {  # sysrq letter: o (off) or b (reboot)
    echo "netlab: clean $me: stopping the cluster stack" | logger -t "$me"
    stop_pacemaker
    stop_corosync
    sync
    echo "$1" > /run/netlab-sysrq  # netlab's FIFO, as /proc/sysrq-trigger is when the kernel has one
}

case "$me" in
    poweroff|halt) os_down o; exit 0 ;;
    reboot) os_down b; exit 0 ;;
    shutdown) if [[ " $* " == *" -r "* ]]; then os_down b; else os_down o; fi; exit 0 ;;
esac

verb=""; units=()
for arg in "$@"; do
    case "$arg" in
        -*) ;;
        *) if [[ -z $verb ]]; then verb=$arg; else units+=("${arg%.service}"); fi ;;
    esac
done

rc=0
case "$verb" in
    daemon-reload|reset-failed) exit 0 ;;
    list-unit-files)
        printf '%s\n' "corosync.service enabled" "pacemaker.service enabled"; exit 0 ;;
esac
for unit in "${units[@]}"; do
    case "$verb/$unit" in
        start/corosync) start_corosync || rc=1 ;;
        start/pacemaker) start_pacemaker || rc=1 ;;
        stop/pacemaker) stop_pacemaker || rc=1 ;;
        stop/corosync) stop_corosync || rc=1 ;;
        restart/*) "$0" stop "$unit"; "$0" start "$unit" || rc=1 ;;
        is-active/corosync|is-active/pacemaker|status/*)
            if pidof "${unit/pacemaker/pacemakerd}" >/dev/null; then echo active; else echo inactive; rc=3; fi ;;
        is-enabled/corosync|is-enabled/pacemaker)
            if [[ -e $MARKER ]]; then echo disabled; rc=1; else echo enabled; fi ;;
        enable/corosync|enable/pacemaker) rm -f "$MARKER" ;;
        disable/corosync|disable/pacemaker) touch "$MARKER" ;;
        *) echo "netlab systemctl: $verb $unit is not handled here" >&2; rc=1 ;;
    esac
done
exit $rc
