#!/bin/bash
# ceph.sh - a throw-away one-node Ceph cluster (1 mon + 1 osd, memstore) on
# 127.0.0.1 for tests.  Everything lives in STATE; nothing in /etc/ceph or
# /var/lib/ceph.
#
#   ceph.sh start STATE    writes STATE/ceph.conf (client.admin keyring named
#                          in it) and STATE/env (CEPH_CONF, CEPH_POOL=rbd)
#   ceph.sh stop STATE     stop osd then mon, by PID
#
# Knobs: CEPH_STORE_SIZE (memstore bytes, default 1G).  memstore keeps the
# data in the OSD's RAM: keep test images small.
# Exit 3 when Ceph is not installed (ceph-mon ceph-osd ceph-common), 1 on errors.
set -euo pipefail
set +m
unset CEPH_ARGS CEPH_CONF
SVC_NAME=ceph
. "$(dirname "$0")/lib.sh"
TMO=${CEPH_START_TIMEOUT:-30}

C () { timeout "$TMO" ceph --conf "$CONF" --connect-timeout "$TMO" "$@"; }

wait_for () { # WHAT PID CMD...
  local what=$1 pid=$2 i
  shift 2
  for ((i = 0; i < TMO * 20; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    svc_alive "$pid" || { tail -20 "$S/log/"*.log >&2 2>/dev/null || true; svc_die "$what: daemon exited"; }
    sleep 0.05
  done
  svc_die "timeout waiting for $what"
}

start () {
  local port fsid uuid kr monkr
  for b in ceph-mon ceph-osd ceph ceph-authtool monmaptool rbd uuidgen; do
    command -v $b >/dev/null || { svc_log "$b not installed (ceph-mon ceph-osd ceph-common uuid-runtime)"; exit 3; }
  done
  mkdir -p "$S"
  S=$(cd "$S" && pwd -P)
  CONF=$S/ceph.conf
  rm -rf "$S/mon.a" "$S/osd.0" "$S/log" "$S/run"
  mkdir -p "$S/mon.a" "$S/osd.0" "$S/log" "$S/run"
  : > "$S/pids"
  trap 'svc_stop_all "$S"' ERR
  port=$(svc_free_port 2) || svc_die "no free port"
  fsid=$(uuidgen)
  uuid=$(uuidgen)
  cat > "$CONF" <<CONF
[global]
fsid = $fsid
mon host = [v2:127.0.0.1:$port,v1:127.0.0.1:$((port + 1))]
mon initial members = a
public addr = 127.0.0.1
public network = 127.0.0.0/8
ms bind ipv6 = false
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
keyring = $S/keyring
run dir = $S/run
crash dir = $S/run
log file = $S/log/\$name.log
mon cluster log file = $S/log/cluster.log
log to stderr = false
err to stderr = false
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon mgr mkfs grace = 31536000
mon data avail warn = 2
mon data avail crit = 1
paxos propose interval = 0.05
paxos min wait = 0.01
[mon]
mon data = $S/\$name
keyring = $S/\$name/keyring
admin socket = $S/run/\$name.asok
[osd]
osd data = $S/\$name
keyring = $S/\$name/keyring
admin socket = $S/run/\$name.asok
osd objectstore = memstore
memstore device bytes = $(numfmt --from=iec "${CEPH_STORE_SIZE:-1G}")
osd memory target = 1073741824
osd class update on start = false
osd check max object name len on startup = false
osd op num shards = 1
osd op num threads per shard = 2
CONF
  kr=$S/keyring
  monkr=$S/run/mon.keyring
  ceph-authtool --create-keyring "$kr" --gen-key -n client.admin --cap mon 'allow *' \
    --cap osd 'allow *' --cap mgr 'allow *' >/dev/null
  ceph-authtool --create-keyring "$monkr" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  ceph-authtool --create-keyring "$S/osd.0/keyring" --gen-key -n osd.0 \
    --cap mon 'allow profile osd' --cap mgr 'allow profile osd' --cap osd 'allow *' >/dev/null
  ceph-authtool "$monkr" --import-keyring "$kr" >/dev/null
  ceph-authtool "$monkr" --import-keyring "$S/osd.0/keyring" >/dev/null
  monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$port,v1:127.0.0.1:$((port + 1))]" \
    "$S/run/monmap" >/dev/null
  ceph-mon --conf "$CONF" --mkfs -i a --monmap "$S/run/monmap" --keyring "$monkr" \
    >"$S/log/mkfs.log" 2>&1 || { cat "$S/log/mkfs.log" >&2; svc_die "ceph-mon --mkfs failed"; }
  svc_spawn "$S" mon.a "$S/log/mon.a.out" ceph-mon -f --conf "$CONF" -i a
  wait_for "mon quorum" "$SVC_PID" C mon stat
  [ "$(C osd new "$uuid")" = 0 ] || svc_die "ceph osd new failed"
  ceph-osd --conf "$CONF" -i 0 --mkfs --osd-uuid "$uuid" >>"$S/log/mkfs.log" 2>&1 ||
    { tail -20 "$S/log/mkfs.log" >&2; svc_die "ceph-osd --mkfs failed"; }
  svc_spawn "$S" osd.0 "$S/log/osd.0.out" ceph-osd -f --conf "$CONF" -i 0
  wait_for "osd.0 up" "$SVC_PID" osd_up
  C osd pool create rbd 8 8 >/dev/null 2>&1 || svc_die "pool create failed"
  timeout "$TMO" rbd --conf "$CONF" pool init rbd || svc_die "rbd pool init failed"
  trap - ERR
  cat > "$S/env" <<ENV
CEPH_CONF=$CONF
CEPH_POOL=rbd
ENV
  svc_log "mon on 127.0.0.1:$port, osd.0 (memstore) up; conf $CONF"
}

osd_up () { C osd dump --format json | grep -q '"osd":0,"uuid":"[^"]*","up":1'; }

case ${1:-} in
start) [ $# = 2 ] || svc_die "usage: $0 start STATE"; S=$2; start ;;
stop) [ $# = 2 ] || svc_die "usage: $0 stop STATE"; svc_stop_all "$2" ;;
*) echo "usage: $0 start STATE | stop STATE" >&2; exit 2 ;;
esac
