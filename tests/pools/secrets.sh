#!/bin/bash
# Secrets: virsh's secret-* commands against the state dir.  Definitions
# with and without a UUID, redefinition and libvirt's refusals, values
# through --base64, --file and piped --interactive, private secrets, the
# secret-list table and its filters, ephemeral secrets and reboots, file
# modes, hostile XML and state files, bad base64, concurrent processes.
. "$(dirname "$0")/../functions.sh"
export VDK_STATE_DIR=$TMP/state
S=$VDK_STATE_DIR
mode () { stat -c %a "$1"; }
UUIDRE='^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$'
# No command may ever print a value in a message: every value used below
# contains this marker (or its base64), checked in the stderr of each step.
MARK=s3cr3tMARK
MARK64=$(printf '%s' "$MARK" | base64)
no_leak () {
  ! grep -q -e "$MARK" -e "$MARK64" "$TMP/err" "$TMP/out" 2>/dev/null ||
    fail "a secret value appears in a message: $(cat "$TMP/err")"
}

# ---- define without a UUID: one is generated --------------------------------
cat > ceph.xml <<'EOF'
<secret ephemeral='no' private='yes'>
  <description>ceph admin key</description>
  <usage type='ceph'>
    <name>client.admin secret</name>
  </usage>
</secret>
EOF
out=$($VDK secret-define ceph.xml)
[[ $out =~ ^Secret\ (.*)\ created$ ]] || fail "secret-define printed '$out'"
C=${BASH_REMATCH[1]}
[[ $C =~ $UUIDRE ]] || fail "generated UUID '$C' is not a version 4 UUID"
expect_eq "$(mode "$S/secrets")" 700 "secrets dir mode"
expect_eq "$(mode "$S/secrets/$C.xml")" 600 "definition mode"
cat > expect <<EOF
<secret ephemeral='no' private='yes'>
  <uuid>$C</uuid>
  <description>ceph admin key</description>
  <usage type='ceph'>
    <name>client.admin secret</name>
  </usage>
</secret>
EOF
$VDK secret-dumpxml "$C" > got
cmp expect got || { diff expect got; fail "secret-dumpxml"; }
# The definition file is the same libvirt XML: a round trip through it.
cmp expect "$S/secrets/$C.xml" || fail "stored definition differs from dumpxml"
expect_rc 0 $VDK secret-define got
expect_eq "$(cat out)" "Secret $C created" "redefining from dumpxml"

# ---- define with a UUID (upper case is accepted, stored lower case) -----------
I=0a1b2c3d-4e5f-4a6b-8c7d-0123456789ab
cat > iscsi.xml <<'EOF'
<secret ephemeral='no' private='no'>
  <uuid>0A1B2C3D-4E5F-4A6B-8C7D-0123456789AB</uuid>
  <usage type='iscsi'><target>libvirtiscsi</target></usage>
</secret>
EOF
expect_eq "$($VDK secret-define iscsi.xml)" "Secret $I created"
V=7e000000-0000-4000-8000-000000000001
cat > vol.xml <<EOF
<secret><uuid>$V</uuid><usage type='volume'><volume>/var/lib/images/a &amp; b.qcow2</volume></usage></secret>
EOF
expect_eq "$($VDK secret-define vol.xml)" "Secret $V created"
N=00000000-0000-4000-8000-00000000000f
printf '<secret private="no"><uuid>%s</uuid><description>no usage</description></secret>\n' $N > none.xml
expect_eq "$($VDK secret-define none.xml)" "Secret $N created"
expect_eq "$($VDK secret-dumpxml $V | sed -n 4p)" "    <volume>/var/lib/images/a &amp; b.qcow2</volume>"

# ---- values: --base64, --file (base64 or --plain bytes), piped --interactive --
expect_rc 0 $VDK secret-set-value $I --base64 "$MARK64"; no_leak
expect_eq "$(cat out)" "Secret value set"
expect_grep "Passing secret value as command-line argument is insecure" err
expect_eq "$(mode "$S/secrets/$I.base64")" 600 "value mode"
expect_eq "$($VDK secret-get-value $I)" "$MARK64" "get-value after --base64"
expect_eq "$(cat "$S/secrets/$I.base64")" "$MARK64" "stored value"
# The positional form virsh has always accepted.
expect_rc 0 $VDK secret-set-value $I "$(printf 'x%sx' $MARK | base64)"; no_leak
expect_eq "$($VDK secret-get-value $I --plain)" "x${MARK}x"
# --file: base64 text with base64(1)'s line breaks; --plain: raw bytes, NULs too.
head -c 3000 /dev/urandom > raw.bin
printf '%s' "$MARK" >> raw.bin
base64 raw.bin > raw.b64
[ "$(wc -l < raw.b64)" -gt 1 ] || fail "base64 did not wrap"
expect_rc 0 $VDK secret-set-value $I --file raw.b64; no_leak
$VDK secret-get-value $I --plain > back.bin
cmp raw.bin back.bin || fail "--file base64 value differs"
printf 'a\0b\0\n' > nul.bin
expect_rc 0 $VDK secret-set-value $I --file nul.bin --plain
$VDK secret-get-value $I --plain > back.bin
cmp nul.bin back.bin || fail "--file --plain value differs"
expect_eq "$($VDK secret-get-value $I)" "$(base64 < nul.bin)"
# --interactive: one line, without its newline; a pipe only with --allow-pipe.
expect_fail $VDK secret-set-value $I --interactive < /dev/null
expect_grep "standard input is not one" err
printf '%s pass\nNEXT LINE\n' "$MARK" > line
expect_rc 0 $VDK secret-set-value $I --interactive --allow-pipe < line; no_leak
expect_eq "$(cat out)" "Enter new value for secret:Secret value set"
expect_eq "$($VDK secret-get-value $I --plain)" "$MARK pass"
# Only the first line is consumed: the rest stays for the next reader.
{ $VDK secret-set-value $I --interactive --allow-pipe >/dev/null; cat > rest; } < line
expect_eq "$(cat rest)" "NEXT LINE" "input after the line"
expect_fail $VDK secret-set-value $I --interactive --allow-pipe < /dev/null
expect_grep "Failed to read secret: end of input" err
expect_eq "$($VDK secret-get-value $I --plain)" "$MARK pass" "value kept after a failure"
# An empty line is an empty value, as virsh sets it.
echo | $VDK secret-set-value $V --interactive --allow-pipe >/dev/null
expect_eq "$($VDK secret-get-value $V)" "" "empty value"
[ -f "$S/secrets/$V.base64" ] && [ ! -s "$S/secrets/$V.base64" ] || fail "empty value file"

# On a terminal: echo is off while the value is typed and back afterwards,
# also when the user interrupts the prompt.
pty_run () {   # pty_run INPUT: vdk --interactive on a pseudo terminal, then stty
  python3 - "$VDK" "$I" "$1" <<'PY'
import os, pty, select, sys, time
vdk, uuid = sys.argv[1], sys.argv[2]
data = sys.argv[3].encode().decode("unicode_escape").encode()
pid, fd = pty.fork()
if pid == 0:
    os.execv("/bin/sh", ["sh", "-c", 'trap "echo INTERRUPTED" INT; "$0" secret-set-value "$1"'
                         ' --interactive; echo "rc=$?"; stty -a', vdk, uuid])
out = b""
def read_until(pat, timeout=10):
    global out
    end = time.time() + timeout
    while pat is None or pat not in out:
        if time.time() > end:
            sys.exit("timeout waiting for %r, got %r" % (pat, out))
        if select.select([fd], [], [], 0.2)[0]:
            try:
                d = os.read(fd, 4096)
            except OSError:
                return
            if not d:
                return
            out += d
read_until(b"Enter new value for secret:")
os.write(fd, data)
read_until(None)
os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors="replace"))
PY
}
if python3 -c 'import pty' 2>/dev/null && command -v stty >/dev/null; then
  pty_run "$MARK tty\\n" > pty.out || fail "interactive on a terminal: $(cat pty.out)"
  grep -q "$MARK" pty.out && fail "the value was echoed: $(cat pty.out)"
  expect_grep "Secret value set" pty.out
  expect_grep "rc=0" pty.out
  grep -q -- ' echo ' pty.out || fail "echo not restored: $(cat pty.out)"
  expect_eq "$($VDK secret-get-value $I --plain)" "$MARK tty" "value typed on a terminal"
  pty_run "${MARK}\\x03" > pty.out || fail "interrupted prompt: $(cat pty.out)"
  expect_grep "rc=130" pty.out
  grep -q -- ' echo ' pty.out || fail "echo not restored after ^C: $(cat pty.out)"
  expect_eq "$($VDK secret-get-value $I --plain)" "$MARK tty" "value kept after ^C"
fi

# Missing value, option conflicts, usage errors.
expect_fail $VDK secret-get-value $N
expect_grep "Secret not found: secret '$N' does not have a value" err
expect_fail $VDK secret-set-value $I
expect_grep "Input secret value is missing" err
expect_fail $VDK secret-set-value $I --file raw.b64 --base64 eA==
expect_grep "Options --file and --base64 are mutually exclusive" err
expect_fail $VDK secret-set-value $I --interactive --file raw.b64
expect_grep "Options --interactive and --file are mutually exclusive" err
expect_fail $VDK secret-set-value $I --file raw.b64 --plain --interactive
expect_grep "mutually exclusive" err
expect_fail $VDK secret-set-value $I --base64 eA== --plain
expect_grep "Options --plain and --base64 are mutually exclusive" err
expect_fail $VDK secret-get-value
expect_grep "requires <secret> option" err
expect_fail $VDK secret-set-value $I --file missing.b64
expect_grep "Failed to open file 'missing.b64'" err

# ---- private secrets: the value is not handed out ----------------------------
printf '%s' "$MARK" | base64 > mark.b64
expect_rc 0 $VDK secret-set-value $C --file mark.b64; no_leak
expect_rc 1 $VDK secret-get-value $C; no_leak
expect_grep "Invalid secret: secret is private" err
[ ! -s out ] || fail "a private secret's value was printed"
expect_rc 1 $VDK secret-get-value $C --plain; no_leak
expect_eq "$(cat "$S/secrets/$C.base64")" "$MARK64" "private value stored"

# ---- redefinition and libvirt's refusals --------------------------------------
sed 's/ceph admin key/new description/' expect > redef.xml
expect_rc 0 $VDK secret-define redef.xml
expect_eq "$($VDK secret-dumpxml $C | grep description)" "  <description>new description</description>"
expect_eq "$(cat "$S/secrets/$C.base64")" "$MARK64" "value kept across a redefinition"
# Same usage under another UUID.
sed "s/$C/11111111-2222-4333-8444-555555555555/" expect > dup.xml
expect_fail $VDK secret-define dup.xml
expect_grep "a secret with UUID $C already defined for use with client.admin secret" err
# Same UUID, another usage.
sed 's/client.admin secret/client.other secret/' expect > other.xml
expect_fail $VDK secret-define other.xml
expect_grep "a secret with UUID $C is already defined for use with client.admin secret" err
# A private secret stays private.
sed "s/private='yes'/private='no'/" expect > public.xml
expect_fail $VDK secret-define public.xml
expect_grep "cannot change private flag on existing secret" err
# The same usage id under another usage type is another usage.
sed "s/$C/22222222-2222-4333-8444-555555555555/; s/ceph/tls/" expect > tls.xml
expect_rc 0 $VDK secret-define tls.xml
T=22222222-2222-4333-8444-555555555555
# Secrets without a usage never conflict.
sed "s/0000000f/0000000e/" none.xml > none2.xml
expect_rc 0 $VDK secret-define none2.xml
N2=00000000-0000-4000-8000-00000000000e

# ---- ephemeral secrets: run/secrets, gone after a reboot ----------------------
E=eeeeeeee-0000-4000-8000-000000000001
cat > eph.xml <<EOF
<secret ephemeral='yes' private='no'>
  <uuid>$E</uuid>
  <usage type='ceph'><name>client.eph secret</name></usage>
</secret>
EOF
expect_eq "$($VDK secret-define eph.xml)" "Secret $E created"
expect_rc 0 $VDK secret-set-value $E --base64 "$MARK64"
[ -f "$S/run/secrets/$E.xml" ] && [ -f "$S/run/secrets/$E.base64" ] || fail "ephemeral files"
[ ! -e "$S/secrets/$E.xml" ] && [ ! -e "$S/secrets/$E.base64" ] || fail "ephemeral secret stored persistently"
expect_eq "$(mode "$S/run/secrets")" 700 "run/secrets mode"
expect_eq "$(mode "$S/run/secrets/$E.base64")" 600 "ephemeral value mode"

# ---- secret-list: virsh's table, sorted by UUID, and its filters --------------
# table UUID USAGE ...: what virsh prints (vshTable), rows sorted by UUID.
table () {
  local -a a=("$@")
  local w=5 i
  for ((i = 1; i < ${#a[@]}; i += 2)); do (( ${#a[i]} > w )) && w=${#a[i]}; done
  printf ' %-36s   %s\n' UUID Usage
  printf '%*s\n' $((36 + 3 + w + 3)) '' | tr ' ' -
  for ((i = 0; i < ${#a[@]}; i += 2)); do printf ' %-36s   %s\n' "${a[i]}" "${a[i+1]}"; done | sort
}
sorted () { printf '%s\n' "$@" | sort | tr '\n' ' '; }
$VDK secret-list > got
table $N2 Unused $N Unused $C "ceph client.admin secret" $I "iscsi libvirtiscsi" \
  $T "tls client.admin secret" $V "volume /var/lib/images/a & b.qcow2" \
  $E "ceph client.eph secret" > expect
cmp expect got || { diff expect got; fail "secret-list table"; }
list_uuids () { $VDK secret-list "$@" | awk 'NR > 2 { print $1 }' | tr '\n' ' '; }
expect_eq "$(list_uuids --ephemeral)" "$E "
expect_eq "$(list_uuids --private)" "$(sorted $C $T)"
expect_eq "$(list_uuids --no-private --ephemeral)" "$E "
expect_eq "$(list_uuids --no-ephemeral --no-private)" "$N2 $N $I $V "
expect_eq "$(list_uuids --ephemeral --no-ephemeral)" "$(sorted $N2 $N $C $I $T $V $E)"
expect_fail $VDK secret-list --bogus
expect_grep "doesn't support option --bogus" err
expect_eq "$(VDK_STATE_DIR=$TMP/empty $VDK secret-list)" \
  "$(printf ' UUID   Usage\n---------------')" "empty list"

# An ephemeral secret made persistent takes its value along, and back.
sed "s/ephemeral='yes'/ephemeral='no'/" eph.xml > eph-p.xml
expect_rc 0 $VDK secret-define eph-p.xml
[ -f "$S/secrets/$E.xml" ] && [ ! -e "$S/run/secrets/$E.xml" ] && [ ! -e "$S/run/secrets/$E.base64" ] ||
  fail "ephemeral -> persistent files"
expect_eq "$($VDK secret-get-value $E)" "$MARK64" "value moved to secrets/"
expect_rc 0 $VDK secret-define eph.xml
[ -f "$S/run/secrets/$E.base64" ] && [ ! -e "$S/secrets/$E.xml" ] && [ ! -e "$S/secrets/$E.base64" ] ||
  fail "persistent -> ephemeral files"
expect_eq "$($VDK secret-get-value $E)" "$MARK64" "value moved to run/secrets/"
# Reboot (another boot id): the ephemeral secret is gone for readers, and
# its files are removed by the next command that changes state.
echo 00000000-0000-0000-0000-000000000000 > "$S/run/boot_id"
expect_eq "$(list_uuids --ephemeral)" ""
expect_fail $VDK secret-dumpxml $E
expect_grep "Secret not found: no secret with matching uuid '$E'" err
expect_rc 0 $VDK secret-set-value $I --base64 eA==
[ ! -e "$S/run/secrets/$E.xml" ] && [ ! -e "$S/run/secrets/$E.base64" ] || fail "stale ephemeral files left"
expect_eq "$($VDK secret-get-value $C --plain 2>&1 >/dev/null)" "vdk: Invalid secret: secret is private"

# ---- undefine ------------------------------------------------------------------
expect_eq "$($VDK secret-undefine $T)" "Secret $T deleted"
[ ! -e "$S/secrets/$T.xml" ] && [ ! -e "$S/secrets/$T.base64" ] || fail "undefine left files"
expect_fail $VDK secret-undefine $T
expect_grep "Secret not found: no secret with matching uuid '$T'" err
expect_fail $VDK secret-get-value not-a-uuid
expect_grep "no secret with matching uuid 'not-a-uuid'" err
expect_fail $VDK secret-dumpxml ../../etc/passwd
expect_grep "no secret with matching uuid '../../etc/passwd'" err
# A UUID given in upper case finds the secret.
expect_eq "$($VDK secret-get-value ${I^^})" "eA=="
# A new secret does not inherit a value left behind without its definition.
printf 'eA==' > "$S/secrets/$T.base64"
expect_rc 0 $VDK secret-define tls.xml
[ ! -e "$S/secrets/$T.base64" ] || fail "a new secret got an orphaned value"

# ---- file modes whatever the umask ---------------------------------------------
(umask 000; $VDK secret-set-value $N --base64 eA== >/dev/null 2>&1)
expect_eq "$(mode "$S/secrets/$N.base64")" 600 "value mode under umask 000"
# Another user reads nothing, even with a file made readable by mistake.
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
  chmod 711 "$TMP" "$S"
  chmod 644 "$S/secrets/$I.base64"
  setpriv --reuid=65534 --regid=65534 --clear-groups cat "$S/secrets/$I.base64" \
    > out 2> err && fail "another user read a secret value"
  expect_grep "Permission denied" err
  chmod 600 "$S/secrets/$I.base64"
fi
chmod 755 "$S/secrets"
expect_rc 0 $VDK secret-set-value $N --base64 eQ==
expect_eq "$(mode "$S/secrets")" 700 "secrets dir mode repaired"

# ---- bad base64 and sizes -------------------------------------------------------
for bad in 'a!bc' 'abcde' 'ab=c' 'a===' '=abc' 'ab==cd=='; do
  expect_fail $VDK secret-set-value $N --base64 "$bad"
  expect_grep "invalid base64 data" err
done
expect_eq "$($VDK secret-get-value $N)" "eQ==" "value kept after bad base64"
# Padding may be left out.
expect_rc 0 $VDK secret-set-value $N --base64 'eHk'
expect_eq "$($VDK secret-get-value $N)" "eHk="
printf 'not base64 at all!\n' > bad.b64
expect_fail $VDK secret-set-value $N --file bad.b64
expect_grep "bad.b64: invalid base64 data" err
head -c 65536 /dev/zero | tr '\0' 'v' > max.bin
expect_rc 0 $VDK secret-set-value $N --file max.bin --plain
expect_eq "$($VDK secret-get-value $N --plain | wc -c)" 65536 "largest value"
head -c 65537 /dev/zero > big.bin
expect_fail $VDK secret-set-value $N --file big.bin --plain
expect_grep "big.bin: file is too large (more than 65536 bytes)" err
base64 -w0 big.bin > big.b64
expect_fail $VDK secret-set-value $N --file big.b64
expect_grep "too large (the limit is 65536 bytes)" err
expect_fail $VDK secret-set-value $N --base64 "$(cat big.b64)"
expect_grep "too large (the limit is 65536 bytes)" err
head -c 70000 /dev/zero | tr '\0' 'x' | $VDK secret-set-value $N --interactive --allow-pipe \
  > out 2> err && fail "a 70000-byte line was accepted"
expect_grep "the value is too large" err
expect_eq "$($VDK secret-get-value $N --plain | wc -c)" 65536 "value kept after too large"

# ---- hostile XML -------------------------------------------------------------------
hostile () {   # hostile FILE-CONTENT EXPECTED-MESSAGE
  printf '%s\n' "$1" > h.xml
  expect_fail $VDK secret-define h.xml
  expect_grep "$2" err
  [ "$(wc -l < err)" = 1 ] || fail "more than one error line: $(cat err)"
}
hostile "<secret><uuid>not-a-uuid</uuid></secret>" "h.xml: malformed uuid element"
hostile "<secret><uuid>0a1b2c3d-4e5f-4a6b-8c7d-0123456789a/</uuid></secret>" "malformed uuid element"
hostile "<secret><usage type='bogus'><name>x</name></usage></secret>" \
  "h.xml: XML error: unknown secret usage type bogus"
hostile "<secret><usage><name>x</name></usage></secret>" "unknown secret usage type"
hostile "<secret><usage type='ceph'/></secret>" "Ceph usage specified, but name is missing"
hostile "<secret><usage type='iscsi'><name>x</name></usage></secret>" \
  "iSCSI usage specified, but target is missing"
hostile "<secret><usage type='volume'><volume></volume></usage></secret>" \
  "volume usage specified, but volume path is missing"
hostile "<secret ephemeral='maybe'/>" "XML error: invalid value of 'ephemeral'"
hostile "<secret private='1'/>" "invalid value of 'private'"
hostile "<pool type='dir'><name>x</name></pool>" "unexpected root element <pool>, expecting <secret>"
hostile "<secret><uuid>x" "h.xml: "
# No external entities are read, no entity bombs expanded.
X=acacacac-0000-4000-8000-000000000001
printf '<!DOCTYPE s [<!ENTITY e SYSTEM "file:///etc/passwd">]><secret><uuid>%s</uuid><description>&e;</description></secret>\n' $X > xxe.xml
expect_rc 0 $VDK secret-define xxe.xml
$VDK secret-dumpxml $X > out
grep -q 'root:' out && fail "an external entity was read"
expect_rc 0 $VDK secret-undefine $X
hostile '<!DOCTYPE s [<!ENTITY a "aaaaaaaaaaaaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;"><!ENTITY f "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;">]><secret><description>&f;</description></secret>' "h.xml: "
{ printf '<secret><description>'; head -c 70000 /dev/zero | tr '\0' d; printf '</description></secret>\n'; } > huge.xml
expect_fail $VDK secret-define huge.xml
expect_grep "huge.xml: file is too large (more than 65536 bytes)" err
expect_fail $VDK secret-define /nonexistent.xml
expect_grep "Failed to open file '/nonexistent.xml'" err
# Nothing of the above was defined.
expect_eq "$($VDK secret-list | wc -l)" 8 "secrets after hostile definitions"

# ---- damaged state files ----------------------------------------------------------
cp "$S/secrets/$V.xml" saved.xml
printf '<secret><uuid>%s</uuid>' $V > "$S/secrets/$V.xml"
expect_eq "$($VDK secret-list | grep -c $V || true)" 0 "a damaged definition is left out of the list"
expect_fail $VDK secret-dumpxml $V
expect_grep "$S/secrets/$V.xml: " err
sed "s/$V/$I/" saved.xml > "$S/secrets/$V.xml"
expect_fail $VDK secret-dumpxml $V
expect_grep "the secret definition is damaged (uuid or ephemeral flag)" err
# Redefining repairs it.
expect_rc 0 $VDK secret-define vol.xml
expect_rc 0 $VDK secret-dumpxml $V
printf 'garbage!!' > "$S/secrets/$N.base64"
expect_fail $VDK secret-get-value $N
expect_grep "$S/secrets/$N.base64: the secret value is damaged (not base64)" err
grep -q garbage err && fail "a damaged value was printed"
# A foreign file in the directory is ignored.
touch "$S/secrets/README.xml" "$S/secrets/$I.xml.tmp.123"
expect_eq "$($VDK secret-list | wc -l)" 8 "foreign files in secrets/"
rm "$S/secrets/README.xml" "$S/secrets/$I.xml.tmp.123"

# ---- concurrent processes -----------------------------------------------------------
# 10 different usages at once: all defined, values set, files well formed.
for i in $(seq 10); do
  ( u=$(printf 'c0c0c0c0-0000-4000-8000-%012d' $i)
    printf '<secret><uuid>%s</uuid><usage type="ceph"><name>client.par%d</name></usage></secret>' $u $i > par$i.xml
    $VDK secret-define par$i.xml >/dev/null &&
    $VDK secret-set-value $u --base64 "$(printf 'value %d' $i | base64)" >/dev/null 2>&1 ) &
done
# 6 processes define the same usage under different UUIDs: one wins.
for i in $(seq 6); do
  ( printf '<secret><uuid>d0d0d0d0-0000-4000-8000-%012d</uuid><usage type="iscsi"><target>race</target></usage></secret>' $i > race$i.xml
    $VDK secret-define race$i.xml >/dev/null 2>&1 || true ) &
done
wait
expect_eq "$(list_uuids | tr ' ' '\n' | grep -c '^c0c0c0c0')" 10 "concurrent defines"
for i in $(seq 10); do
  u=$(printf 'c0c0c0c0-0000-4000-8000-%012d' $i)
  expect_eq "$($VDK secret-get-value $u --plain)" "value $i" "concurrent value $i"
  expect_eq "$(mode "$S/secrets/$u.xml")$(mode "$S/secrets/$u.base64")" 600600
done
expect_eq "$($VDK secret-list | grep -c 'iscsi race$')" 1 "one secret per usage under concurrency"
ls "$S/secrets" | grep -q '\.tmp\.' && fail "temporary files left in the state dir"
echo OK
