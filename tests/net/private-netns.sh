# Sourced first by NFS tests: as root, re-run the calling test in its own
# network namespace with a private /run, so that its rpcbind and ganesha
# neither clobber nor get clobbered by another NFS test's portmapper
# registrations (meson runs tests in parallel; qemu-img can only find a
# server through the portmapper; ganesha registers over /run/rpcbind.sock).
# The extra address on lo is for getaddrinfo's AI_ADDRCONFIG (ganesha
# resolves 127.0.0.1 with it, and it wants an address that is not a
# loopback one).  Without root, unshare or ip the test runs unisolated.
if [ -z "${VDK_NET_PRIVATE:-}" ] && [ "$(id -u)" = 0 ] && command -v unshare >/dev/null &&
   command -v ip >/dev/null && unshare -n -m true 2>/dev/null; then
  export VDK_NET_PRIVATE=1
  exec unshare -n -m --propagation private bash -c \
    'ip link set lo up && ip addr add 192.0.2.1/32 dev lo &&
     mount -t tmpfs -o mode=0755 tmpfs /run && exec bash "$0"' "$0"
elif [ -z "${VDK_NET_PRIVATE:-}" ]; then
  echo "note: no private network namespace (needs root, unshare and ip from iproute2):" \
    "another NFS test running now may clobber the portmapper" >&2
fi
