#!/bin/bash
# The state dir: persistent vs transient pools, autostart (and
# pool-start --autostart), runtime state from an earlier boot, --state-dir,
# concurrent vdk processes, and the refusals of the life cycle.
. "$(dirname "$0")/../functions.sh"
export VDK_STATE_DIR=$TMP/state
S=$VDK_STATE_DIR
mkdir a b c

# Persistent: config in STATE/pools, libvirt-style autostart symlink.
expect_rc 0 $VDK pool-define-as pa dir --target "$TMP/a"
[ -f "$S/pools/pa.xml" ] || fail "no persistent config"
expect_eq "$($VDK pool-autostart pa)" "Pool pa marked as autostarted"
expect_eq "$(readlink "$S/pools/autostart/pa.xml")" "../pa.xml" "autostart link"
expect_rc 0 $VDK pool-define-as pb dir --target "$TMP/b"

# Transient: pool-create-as starts it; no config file; gone on destroy.
expect_eq "$($VDK pool-create-as pc dir --target "$TMP/c")" "Pool pc created"
[ ! -e "$S/pools/pc.xml" ] || fail "a transient pool has a config file"
expect_fail $VDK pool-autostart pc
expect_grep "cannot set autostart for transient pool 'pc'" "$TMP/err"
expect_fail $VDK pool-undefine pc
expect_grep "cannot undefine transient storage pool 'pc'" "$TMP/err"

$VDK pool-list --all --details > out
expect_grep "^ pa     inactive   yes         yes          -            -            -$" out
expect_grep "^ pb     inactive   no          yes          -  " out
expect_grep "^ pc     running    no          no           [0-9.]* [KMGT]iB" out
expect_eq "$($VDK pool-list --transient --name)" "pc"
expect_eq "$($VDK pool-list --all --persistent --name | tr '\n' ' ')" "pa pb "
expect_eq "$($VDK pool-list --all --autostart --name)" "pa"
expect_eq "$($VDK pool-list --all --no-autostart --name | tr '\n' ' ')" "pb pc "
expect_eq "$($VDK pool-list --inactive --name | tr '\n' ' ')" "pa pb "
$VDK pool-info pc > out
expect_grep "^Persistent:     no$" out
expect_grep "^Autostart:      no$" out

expect_eq "$($VDK pool-destroy pc)" "Pool pc destroyed"
expect_fail $VDK pool-info pc
expect_grep "no storage pool with matching name 'pc'" "$TMP/err"
[ -d "$TMP/c" ] || fail "destroying a transient pool deleted its directory"

# pool-start --autostart starts pa only; a second run has nothing to do.
expect_eq "$($VDK pool-start --autostart)" "Pool pa started"
expect_eq "$($VDK pool-list --name)" "pa"
expect_eq "$($VDK pool-start --autostart)" ""
expect_fail $VDK pool-start pa
expect_grep "storage pool 'pa' is already active" "$TMP/err"
expect_fail $VDK pool-build pa
expect_grep "storage pool 'pa' is already active" "$TMP/err"
expect_eq "$($VDK pool-autostart pa --disable)" "Pool pa unmarked as autostarted"
[ ! -e "$S/pools/autostart/pa.xml" ] || fail "autostart link left"

# Undefining a running pool makes it transient; it stays up.
expect_eq "$($VDK pool-undefine pa)" "Pool pa has been undefined"
expect_eq "$($VDK pool-list --transient --name)" "pa"
expect_rc 0 $VDK pool-destroy pa
expect_eq "$($VDK pool-list --all --name)" "pb"

# Runtime state belongs to one boot: after a reboot (another boot id) pools
# are inactive and transient pools are gone.
expect_rc 0 $VDK pool-start pb
expect_rc 0 $VDK pool-create-as pt dir --target "$TMP/c"
echo "00000000-0000-0000-0000-000000000000" > "$S/run/boot_id"
expect_eq "$($VDK pool-list --all --details | awk 'NR>2{print $1,$2}' | tr '\n' ' ')" \
  "pb inactive " "after reboot"
expect_rc 0 $VDK pool-start pb
expect_eq "$($VDK pool-list --name)" "pb"

# pool-start of a missing directory says to build it.
expect_rc 0 $VDK pool-define-as pm dir --target "$TMP/missing"
expect_fail $VDK pool-start pm
expect_grep "cannot open directory '$TMP/missing'" "$TMP/err"
expect_eq "$($VDK pool-start pm --build)" "Pool pm started"
expect_fail $VDK pool-define-as pm2 dir --target "$TMP/missing"
expect_grep "Storage source conflict with pool: 'pm'" "$TMP/err"
expect_fail $VDK pool-create-as pm dir --target "$TMP/other"
expect_grep "pool 'pm' already exists" "$TMP/err"

# --state-dir overrides VDK_STATE_DIR.
expect_rc 0 $VDK --state-dir "$TMP/other-state" pool-define-as lone dir --target "$TMP/x"
expect_eq "$($VDK --state-dir="$TMP/other-state" pool-list --all --name)" "lone"
expect_eq "$($VDK pool-list --all --name | grep -c lone || true)" "0"

# The default state dir of a user: $XDG_DATA_HOME/vdk, else ~/.local/share/vdk.
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
  chmod 711 "$TMP"
  mkdir -m 700 home && chown 65534:65534 home
  asuser () { env -u VDK_STATE_DIR HOME="$TMP/home" "$@" 2>&1; }
  nobody="setpriv --reuid=65534 --regid=65534 --clear-groups"
  expect_eq "$(asuser $nobody $VDK pool-define-as up dir --target "$TMP/home/p")" "Pool up defined"
  [ -f home/.local/share/vdk/pools/up.xml ] || fail "user state dir (~/.local/share/vdk)"
  expect_eq "$(asuser XDG_DATA_HOME="$TMP/home/xdg" $nobody $VDK pool-define-as ux dir     --target "$TMP/home/q")" "Pool ux defined"
  [ -f home/xdg/vdk/pools/ux.xml ] || fail "user state dir (XDG_DATA_HOME)"
  expect_eq "$(asuser $nobody $VDK pool-start up --build)" "Pool up started"
  expect_eq "$(asuser $nobody $VDK vol-create-as up v 1M)" "Vol v created"
fi

# Concurrent processes: 12 defines and autostart flips at once; every pool
# ends up defined with a well-formed config.
for i in $(seq 12); do
  ( $VDK pool-define-as "par$i" dir --target "$TMP/par$i" >/dev/null &&
    $VDK pool-autostart "par$i" >/dev/null ) &
done
wait
expect_eq "$($VDK pool-list --all --name | grep -c '^par')" 12 "concurrent defines"
expect_eq "$($VDK pool-list --all --autostart --name | grep -c '^par')" 12
for i in $(seq 12); do
  grep -q "<name>par$i</name>" "$S/pools/par$i.xml" || fail "par$i.xml damaged"
done
ls "$S/pools" | grep -q tmp && fail "temporary files left in the state dir"

# Usage errors.
expect_fail $VDK pool-start
expect_grep "requires <pool> option" "$TMP/err"
expect_fail $VDK pool-info pb extra
expect_grep "unexpected data 'extra'" "$TMP/err"
expect_fail $VDK pool-list --bogus
expect_grep "doesn't support option --bogus" "$TMP/err"
expect_rc 0 $VDK pool-destroy pb
expect_fail $VDK pool-build pb --overwrite --no-overwrite
expect_grep "mutually exclusive" "$TMP/err"
echo OK
