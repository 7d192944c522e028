#!/bin/bash
# Internal snapshots: vdk creates/applies/deletes what qemu-img reads, and
# the other way round; refcounts stay right (qemu-img check clean).
. "$(dirname "$0")/../functions.sh"
requires qemu-img qemu-io
W="$BUILDDIR/tests/qcow2/qcow2-writer"
[ -x "$W" ] || skip "qcow2-writer not built"

clean () {
  qemu-img check "$1" > chk.txt 2>&1 || { cat chk.txt; fail "$2: qemu-img check failed"; }
  expect_grep "No errors were found on the image." chk.txt
  "$VDK" check "$1" > /dev/null 2>&1 || fail "$2: vdk check failed"
}

for o in "" cluster_size=4k,refcount_bits=8 extended_l2=on compat=0.10; do
  rm -f s.qcow2
  "$VDK" create -q -f qcow2 ${o:+-o $o} s.qcow2 2M
  truncate -s 0 sh.raw; truncate -s 2M sh.raw
  "$W" s.qcow2 sh.raw 1 40 65536 cache=unsafe || fail "writer ($o)"
  cp sh.raw s1.raw
  "$VDK" snapshot -c s1 s.qcow2
  clean s.qcow2 "after vdk snapshot -c s1 ($o)"
  "$W" s.qcow2 sh.raw 2 40 65536 cache=unsafe || fail "writer 2 ($o)"
  cp sh.raw s2.raw
  "$VDK" snapshot -c s2 s.qcow2
  "$W" s.qcow2 sh.raw 3 40 65536 cache=unsafe || fail "writer 3 ($o)"
  clean s.qcow2 "writes after two snapshots ($o)"
  qemu-img compare -q sh.raw s.qcow2 || fail "active state differs ($o)"

  # the lists agree
  "$VDK" snapshot -l s.qcow2 > v.txt
  qemu-img snapshot -l s.qcow2 > q.txt
  diff -u q.txt v.txt || fail "snapshot list differs ($o)"
  "$VDK" info s.qcow2 > i.txt
  expect_grep "^Snapshot list:" i.txt

  # qemu-img applies vdk's snapshot
  cp s.qcow2 q.qcow2
  qemu-img snapshot -a s1 q.qcow2
  qemu-img compare -q s1.raw q.qcow2 || fail "qemu-img apply of vdk snapshot s1 ($o)"
  qemu-img check q.qcow2 > /dev/null || fail "check after qemu-img apply ($o)"
  # vdk applies it
  "$VDK" snapshot -a s2 s.qcow2
  clean s.qcow2 "after vdk apply s2 ($o)"
  qemu-img compare -q s2.raw s.qcow2 || fail "vdk apply s2 ($o)"
  "$VDK" convert -O raw s.qcow2 out.raw
  cmp out.raw s2.raw || fail "vdk reads wrong data after apply ($o)"
  # writes after an apply go to new clusters (COW of shared ones)
  cp s2.raw sh.raw
  "$W" s.qcow2 sh.raw 4 40 65536 cache=unsafe || fail "writer 4 ($o)"
  clean s.qcow2 "writes after apply ($o)"
  "$VDK" snapshot -a 1 s.qcow2
  qemu-img compare -q s1.raw s.qcow2 || fail "apply by id ($o)"
  # deletes
  "$VDK" snapshot -d s1 s.qcow2
  clean s.qcow2 "after vdk delete s1 ($o)"
  qemu-img snapshot -l s.qcow2 > q.txt
  grep -q " s1 " q.txt && fail "s1 still listed ($o)"
  expect_grep " s2 " q.txt
  qemu-img snapshot -a s2 s.qcow2
  qemu-img compare -q s2.raw s.qcow2 || fail "s2 after deleting s1 ($o)"
  "$VDK" snapshot -d s2 s.qcow2
  clean s.qcow2 "no snapshots left ($o)"
  [ -z "$(qemu-img snapshot -l s.qcow2)" ] || fail "snapshots left ($o)"
done

# qemu-img's snapshots, applied and deleted by vdk
qemu-img create -q -f qcow2 q.qcow2 2M
qemu-io -c 'write -P 1 0 1M' q.qcow2 > /dev/null
qemu-img snapshot -c q1 q.qcow2
qemu-img convert -O raw q.qcow2 q1.raw
qemu-io -c 'write -P 2 512k 1M' -c 'write -z 0 64k' q.qcow2 > /dev/null
qemu-img snapshot -c q2 q.qcow2
"$VDK" snapshot -l q.qcow2 > v.txt
qemu-img snapshot -l q.qcow2 > qq.txt
diff -u qq.txt v.txt || fail "list of qemu-img snapshots differs"
"$VDK" snapshot -a q1 q.qcow2
clean q.qcow2 "vdk apply of a qemu-img snapshot"
qemu-img compare -q q1.raw q.qcow2 || fail "vdk apply of q1"
"$VDK" snapshot -d q2 q.qcow2
clean q.qcow2 "vdk delete of a qemu-img snapshot"
"$VDK" snapshot -c v3 q.qcow2
qemu-img snapshot -d v3 q.qcow2
clean q.qcow2 "qemu-img delete of a vdk snapshot"

# vdk writes into an image whose clusters qemu-img's snapshot shares
# (plain, compressed and zero clusters are copied on write)
qemu-img create -q -f qcow2 w.qcow2 2M
qemu-io -c 'write -P 1 0 1M' -c 'write -c -P 2 1M 256k' -c 'write -z 1536k 64k' w.qcow2 > /dev/null
qemu-img snapshot -c base w.qcow2
qemu-img convert -O raw w.qcow2 base.raw
cp base.raw sh.raw
"$W" w.qcow2 sh.raw 9 60 65536 cache=unsafe || fail "writer on a snapshotted image"
clean w.qcow2 "vdk writes over qemu-img snapshot clusters"
qemu-img compare -q sh.raw w.qcow2 || fail "active state after writes"
qemu-img snapshot -a base w.qcow2
qemu-img compare -q base.raw w.qcow2 || fail "qemu-img's snapshot damaged by vdk writes"
clean w.qcow2 "after applying base"

# random sequences of writes, creates, applies and deletes (vdk and
# qemu-img mixed), checked after every step against shadow copies
for seed in 1 2 3; do
  RANDOM=$seed
  for o in "" extended_l2=on cluster_size=4k,refcount_bits=4; do
    rm -f r.qcow2 snap_*
    "$VDK" create -q -f qcow2 ${o:+-o $o} r.qcow2 2M
    truncate -s 0 sh.raw; truncate -s 2M sh.raw
    names=()
    for step in 1 2 3 4 5 6 7 8; do
      op=$((RANDOM % 5))
      if [ $op -le 1 ] || { [ ${#names[@]} = 0 ] && [ $op -ge 3 ]; }; then
        "$W" r.qcow2 sh.raw $RANDOM 20 100000 cache=unsafe || fail "random writer ($seed $o)"
      elif [ $op = 2 ]; then
        "$VDK" snapshot -c n$step r.qcow2
        cp sh.raw snap_n$step
        names+=(n$step)
      elif [ $op = 3 ]; then
        nm=${names[$((RANDOM % ${#names[@]}))]}
        if [ $((RANDOM % 2)) = 0 ]; then "$VDK" snapshot -a $nm r.qcow2
        else qemu-img snapshot -a $nm r.qcow2; fi
        cp snap_$nm sh.raw
      else
        i=$((RANDOM % ${#names[@]}))
        nm=${names[$i]}
        if [ $((RANDOM % 2)) = 0 ]; then "$VDK" snapshot -d $nm r.qcow2
        else qemu-img snapshot -d $nm r.qcow2; fi
        names=("${names[@]:0:$i}" "${names[@]:$((i+1))}")
      fi
      clean r.qcow2 "random sequence seed $seed ($o) step $step op $op"
      qemu-img compare -q sh.raw r.qcow2 || fail "random sequence seed $seed ($o) step $step"
    done
  done
done

# errors
expect_rc 1 "$VDK" snapshot -a nosuch q.qcow2
expect_grep "nosuch" "$TMP/err"
expect_rc 1 "$VDK" snapshot -d nosuch q.qcow2
truncate -s 1M r.raw
expect_rc 1 "$VDK" snapshot -f raw -c x r.raw
expect_grep "does not support internal snapshots" "$TMP/err"
echo OK
