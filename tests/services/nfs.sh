#!/bin/bash
# nfs.sh - a real NFS server (nfs-ganesha, FSAL VFS) on 127.0.0.1 for tests.
#
#   nfs.sh start STATE DIR   export DIR as /export; writes STATE/env:
#                            NFS_URL (nfs://127.0.0.1/export, via the portmapper),
#                            NFS_Q (?nfsport=..&mountport=.., no portmapper needed),
#                            NFS_PORT, MNT_PORT
#   nfs.sh stop STATE        stop ganesha (and rpcbind if we started it), by PID
#
# Exit 3 when the server cannot run here (packages missing), 1 on errors.
# Packages: nfs-ganesha nfs-ganesha-vfs rpcbind.  Needs root.
# rpcbind (port 111, all addresses: 'rpcbind -h' crashes in Debian 12) is
# started if no portmapper runs, and stopped with the server; ganesha
# registers its ports there, which is what portmapper URLs (qemu-img) need.
set -euo pipefail
SVC_NAME=nfs
. "$(dirname "$0")/lib.sh"

start () {
  local state=$1 dir=$2 plugins port i
  [ "$(id -u)" = 0 ] || { svc_log "needs root (ganesha, rpcbind on port 111)"; exit 3; }
  command -v ganesha.nfsd >/dev/null || { svc_log "ganesha.nfsd not installed (nfs-ganesha)"; exit 3; }
  command -v rpcbind >/dev/null || { svc_log "rpcbind not installed"; exit 3; }
  plugins=$(dirname "$(dpkg -L nfs-ganesha-vfs 2>/dev/null | grep 'libfsalvfs\.so$' | head -1)")
  [ -n "$plugins" ] && [ "$plugins" != . ] || { svc_log "nfs-ganesha-vfs not installed"; exit 3; }
  mkdir -p "$state/recovery" "$dir"
  dir=$(cd "$dir" && pwd -P)
  : > "$state/pids"
  trap 'svc_stop_all "$state"' ERR
  port=$(svc_free_port 2) || svc_die "no free port"
  cat > "$state/ganesha.conf" <<CONF
NFS_CORE_PARAM {
  Bind_addr = 127.0.0.1;
  NFS_Port = $port;
  MNT_Port = $((port + 1));
  Protocols = 3, 4;
  Enable_NLM = false;
  Enable_RQUOTA = false;
  Enable_UDP = false;
  mount_path_pseudo = true;
  Plugins_Dir = "$plugins";
}
NFSv4 { Graceless = true; RecoveryBackend = fs; RecoveryRoot = "$state/recovery"; }
NFS_KRB5 { Active_krb5 = false; }
EXPORT {
  Export_Id = 1;
  Path = "$dir";
  Pseudo = /export;
  Access_Type = RW;
  Squash = No_Root_Squash;
  SecType = sys;
  Protocols = 3, 4;
  Transports = TCP;
  FSAL { Name = VFS; }
}
LOG { Default_Log_Level = EVENT; }
CONF
  # ganesha refuses to start without a portmapper; qemu-img needs one too.
  if ! rpcinfo -p 127.0.0.1 >/dev/null 2>&1; then
    mkdir -p /run/rpcbind
    svc_spawn "$state" rpcbind "$state/rpcbind.log" rpcbind -f
    for ((i = 0; i < 100; i++)); do
      rpcinfo -p 127.0.0.1 >/dev/null 2>&1 && break
      sleep 0.05
    done
    rpcinfo -p 127.0.0.1 >/dev/null 2>&1 || svc_die "rpcbind did not come up"
  fi
  svc_spawn "$state" ganesha "$state/ganesha.out" ganesha.nfsd -F -f "$state/ganesha.conf" \
    -L "$state/ganesha.log" -p "$state/ganesha.pid" -N NIV_EVENT
  local gpid=$SVC_PID
  for ((i = 0; i < 200; i++)); do
    svc_alive "$gpid" || { tail -5 "$state/ganesha.log" >&2 || true; svc_die "ganesha exited"; }
    # ready once MOUNT answers through the portmapper
    rpcinfo -T tcp 127.0.0.1 mountd 3 >/dev/null 2>&1 && rpcinfo -T tcp 127.0.0.1 nfs 3 >/dev/null 2>&1 && break
    sleep 0.05
  done
  rpcinfo -T tcp 127.0.0.1 mountd 3 >/dev/null 2>&1 || svc_die "ganesha not ready"
  trap - ERR
  cat > "$state/env" <<ENV
NFS_URL=nfs://127.0.0.1/export
NFS_Q='?nfsport=$port&mountport=$((port + 1))'
NFS_PORT=$port
MNT_PORT=$((port + 1))
NFS_DIR='$dir'
ENV
  svc_log "ganesha pid $gpid on 127.0.0.1:$port exporting $dir"
}

case ${1:-} in
start) [ $# = 3 ] || svc_die "usage: $0 start STATE DIR"; start "$2" "$3" ;;
stop) [ $# = 2 ] || svc_die "usage: $0 stop STATE"; svc_stop_all "$2" ;;
*) echo "usage: $0 start STATE DIR | stop STATE" >&2; exit 2 ;;
esac
