#!/bin/bash
# iscsi.sh - a real iSCSI target (tgt's userspace tgtd) on 127.0.0.1 for tests.
#
#   iscsi.sh start STATE [options]    writes STATE/env: ISCSI_PORT, ISCSI_IQN,
#                                     ISCSI_PORTAL (127.0.0.1:PORT); LUN N is
#                                     backed by STATE/lunN.img (LUN 0 is tgt's
#                                     controller)
#       --luns SIZES         comma list of LUN sizes (default 64M)
#       --initiator IQN      ACL: allow only these initiator names (repeatable;
#                            default: any initiator address)
#       --chap USER:PASS     one-way CHAP
#       --mutual-chap USER:PASS  the target's credentials (mutual CHAP)
#       --thin               thin provisioning (UNMAP, GET LBA STATUS)
#   iscsi.sh stop STATE      delete the target, stop tgtd (by PID)
#
# Exit 3 when tgtd is not installed (package tgt), 1 on errors.
set -euo pipefail
SVC_NAME=iscsi
. "$(dirname "$0")/lib.sh"
TGTD=/usr/sbin/tgtd
TGTADM=/usr/sbin/tgtadm

adm () { TGT_IPC_SOCKET=$SOCK "$TGTADM" "$@"; }

start () {
  local state=$1; shift
  local luns=64M chap= mchap= thin=0 i port pid s
  local -a inits=()
  while (($#)); do
    case $1 in
    --luns) luns=$2; shift 2 ;;
    --initiator) inits+=("$2"); shift 2 ;;
    --chap) chap=$2; shift 2 ;;
    --mutual-chap) mchap=$2; shift 2 ;;
    --thin) thin=1; shift ;;
    *) svc_die "unknown option $1" ;;
    esac
  done
  [ -x $TGTD ] && [ -x $TGTADM ] || { svc_log "tgtd not installed (package tgt)"; exit 3; }
  mkdir -p "$state"
  state=$(cd "$state" && pwd -P)
  SOCK=$state/tgtd.ctl
  ((${#SOCK} < 100)) || svc_die "state dir path too long for the control socket"
  : > "$state/pids"
  trap 'stop "$state"' ERR
  port=$(svc_free_port) || svc_die "no free port"
  svc_spawn "$state" tgtd "$state/tgtd.log" env TGT_IPC_SOCKET="$SOCK" $TGTD -f --iscsi "portal=127.0.0.1:$port"
  pid=$SVC_PID
  # ready when the control socket answers and the portal listens
  for ((i = 0; i < 300; i++)); do
    svc_alive "$pid" || { cat "$state/tgtd.log" >&2; svc_die "tgtd exited"; }
    adm --op show --mode sys >/dev/null 2>&1 && svc_port_busy "$port" && break
    sleep 0.02
  done
  svc_port_busy "$port" || svc_die "tgtd does not listen on $port"
  cat > "$state/env" <<ENV
ISCSI_PORT=$port
ISCSI_PORTAL=127.0.0.1:$port
ISCSI_IQN=iqn.2025-01.org.vdk.test:disk
ISCSI_SOCK=$SOCK
ENV
  adm --lld iscsi --mode target --op new --tid 1 --targetname iqn.2025-01.org.vdk.test:disk
  i=1
  for s in ${luns//,/ }; do
    rm -f "$state/lun$i.img"
    truncate -s "$s" "$state/lun$i.img"
    adm --lld iscsi --mode logicalunit --op new --tid 1 --lun $i --backing-store "$state/lun$i.img" --bstype rdwr
    if [ $thin = 1 ]; then
      adm --lld iscsi --mode logicalunit --op update --tid 1 --lun $i --params thin_provisioning=1
    fi
    i=$((i + 1))
  done
  if ((${#inits[@]})); then
    for s in "${inits[@]}"; do adm --lld iscsi --mode target --op bind --tid 1 --initiator-name "$s"; done
  else
    adm --lld iscsi --mode target --op bind --tid 1 --initiator-address ALL
  fi
  if [ -n "$chap" ]; then
    adm --lld iscsi --mode account --op new --user "${chap%%:*}" --password "${chap#*:}"
    adm --lld iscsi --mode account --op bind --tid 1 --user "${chap%%:*}"
  fi
  if [ -n "$mchap" ]; then
    adm --lld iscsi --mode account --op new --user "${mchap%%:*}" --password "${mchap#*:}"
    adm --lld iscsi --mode account --op bind --tid 1 --user "${mchap%%:*}" --outgoing
  fi
  trap - ERR
  svc_log "tgtd pid $pid on 127.0.0.1:$port"
}

# tgtd ignores SIGTERM: remove the target, ask it to exit, then SIGKILL.
stop () {
  local state=$1 name pid start n
  [ -s "$state/pids" ] || return 0
  SOCK=$state/tgtd.ctl
  read -r name pid start < "$state/pids"
  if svc_alive "$pid" "$start"; then
    for ((n = 0; n < 20; n++)); do
      adm --lld iscsi --mode target --op delete --force --tid 1 >/dev/null 2>&1 && break
      adm --lld iscsi --mode target --op show 2>/dev/null | grep -q '^Target 1:' || break
      sleep 0.1
    done
    adm --op delete --mode system >/dev/null 2>&1 || true
    for ((n = 0; n < 30; n++)); do svc_alive "$pid" "$start" || break; sleep 0.05; done
    if svc_alive "$pid" "$start"; then kill -KILL "$pid" 2>/dev/null || true; fi
    for ((n = 0; n < 40; n++)); do svc_alive "$pid" "$start" || break; sleep 0.05; done
  fi
  rm -f "$state/pids" "$SOCK".*
}

case ${1:-} in
start) [ $# -ge 2 ] || svc_die "usage: $0 start STATE [options]"; s=$2; shift 2; start "$s" "$@" ;;
stop) [ $# = 2 ] || svc_die "usage: $0 stop STATE"; stop "$2" ;;
*) echo "usage: $0 start STATE [options] | stop STATE" >&2; exit 2 ;;
esac
