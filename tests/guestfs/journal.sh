#!/bin/bash
# ext3/ext4 journal replay in memory.  Dirty journals are made with debugfs'
# journal writer (journal_open/journal_write/journal_close): the blocks that
# differ between an image and a changed copy of it become a transaction, so
# the image "needs recovery" and only a replay shows the change.  The oracle
# is e2fsck -fy (which replays the journal) on a copy: vdk reading the dirty
# image must see exactly what vdk and debugfs see on the recovered copy, and
# debugfs on the dirty image (no replay) must still see the old state.
. "$(dirname "$0")/../functions.sh"
requires mkfs.ext4 mkfs.ext3 debugfs e2fsck dumpe2fs python3
JTOOL="python3 $(dirname "$0")/jtool.py"
export E2FSPROGS_FAKE_TIME=1700000000

mkdir t t/dir
echo "old content of file A" > t/a.txt
echo "file B original" > t/b.txt
echo x > t/dir/x

# changed_blocks OLD NEW BS: filesystem blocks that differ
changed_blocks () { { cmp -l "$1" "$2" || true; } | awk -v bs="$3" '{print int(($1-1)/bs)}' | uniq | paste -sd,; }
# blocks_of IMG BS LIST OUT: those blocks of IMG, concatenated
blocks_of () {
  local b; : > "$4"
  for b in ${3//,/ }; do dd if="$1" bs="$2" skip="$b" count=1 status=none >> "$4"; done
}
# view IMG: what vdk reads (listing with sizes, and every file's content)
view () {
  $VDK ls -lR -a "$1" / > "$1.ls" 2> "$1.err" || { cat "$1.err"; fail "vdk ls $1"; }
  awk '{print $1, $5, $NF}' "$1.ls"
  for f in a.txt b.txt a2.txt dir/x; do
    echo "== $f"; { $VDK cat -a "$1" "/$f" 2>&1 || true; } | od -c
  done
}
# check_replay DIRTY: vdk on DIRTY == vdk on an e2fsck'ed copy
check_replay () {
  cp "$1" "$1.fixed"
  e2fsck -fy "$1.fixed" > "$1.fsck" 2>&1 || [ $? -le 1 ] || { cat "$1.fsck"; fail "e2fsck $1"; }
  grep -q "recovering journal" "$1.fsck" || fail "$1: e2fsck found no journal to recover"
  view "$1" > "$1.view"
  view "$1.fixed" > "$1.fixed.view"
  diff -u "$1.fixed.view" "$1.view" || fail "$1: replayed view differs from e2fsck's"
}
jblocks () { debugfs -R "blocks <8>" "$1" 2>/dev/null > "$1.jblocks"; echo "$1.jblocks"; }

# ---- A: ext4, 1 KiB blocks, 64bit, metadata_csum; journal csum v3 --------
mkfs.ext4 -q -F -b 1024 -J size=1 -d t -U 22222222-2222-3333-4444-555555555501 a.img 8M
cp a.img mod.img
printf 'new content of file A, longer\n' > newa
debugfs -w -R "write newa a2.txt" mod.img >/dev/null 2>&1
list=$(changed_blocks a.img mod.img 1024)
blocks_of mod.img 1024 "$list" t1.bin
# an uncommitted second transaction overwriting a.txt's data: not replayed
ablk=$(debugfs -R "bmap /a.txt 0" a.img 2>/dev/null)
printf 'UNCOMMITTED\n' | dd of=t2.bin bs=1024 conv=sync status=none
debugfs -w -f - a.img > jw.out 2>&1 <<EOF
jo -c
jw -b $list t1.bin
jw -b $ablk -c t2.bin
jc
EOF
dumpe2fs -h a.img 2>/dev/null | grep -q 'needs_recovery' || fail "debugfs did not leave a dirty journal"
dumpe2fs -h a.img 2>/dev/null | grep -q 'journal_checksum_v3' || fail "no csum v3 journal"
debugfs -R "ls /" a.img 2>/dev/null | grep -q a2.txt && fail "debugfs already sees a2.txt"
cp a.img a-orig.img
check_replay a.img
expect_eq "$($VDK cat -a a.img /a2.txt)" "new content of file A, longer" "replayed new file"
expect_eq "$($VDK cat -a a.img /a.txt)" "old content of file A" "uncommitted transaction"
expect_eq "$(debugfs -R 'cat /a2.txt' a.img.fixed 2>/dev/null)" "new content of file A, longer" "debugfs after e2fsck"
$VDK filesystems -a a.img > /dev/null 2> err
[ ! -s err ] || { cat err; fail "a clean replay warns"; }

# wrap-around: the same log moved so that transaction 1 crosses the end
cp a-orig.img wrap.img
$JTOOL wrap.img "$(jblocks wrap.img)" 1024 rotate 1018
check_replay wrap.img
expect_eq "$($VDK cat -a wrap.img /a2.txt)" "new content of file A, longer" "wrapped log"

# ---- B: ext3 (4 KiB blocks, no 64bit, no checksums): revoke ------------
mkfs.ext3 -q -F -b 4096 -d t -U 22222222-2222-3333-4444-555555555502 b.img 16M
ablk=$(debugfs -R "bmap /a.txt 0" b.img 2>/dev/null)
bblk=$(debugfs -R "bmap /b.txt 0" b.img 2>/dev/null)
printf 'REPLAYED A\n' | dd of=na.bin bs=4096 conv=sync status=none
printf 'REPLAYED B\n' | dd of=nb.bin bs=4096 conv=sync status=none
cat na.bin nb.bin > t1.bin
# T1 writes both data blocks, T2 revokes a.txt's: only b.txt changes
debugfs -w -f - b.img > jw.out 2>&1 <<EOF
jo
jw -b $ablk,$bblk t1.bin
jw -r $ablk /dev/null
jc
EOF
dumpe2fs -h b.img 2>/dev/null | grep -q 'needs_recovery' || fail "ext3: no dirty journal"
cp b.img b-orig.img
check_replay b.img
expect_eq "$($VDK cat -a b.img /a.txt)" "old content of file A" "revoked block"
expect_eq "$($VDK cat -a b.img /b.txt | tr -d '\0')" "REPLAYED B" "replayed block"
expect_eq "$(debugfs -R 'cat /b.txt' b-orig.img 2>/dev/null)" "file B original" "debugfs does not replay"

# ---- C: journal csum v2 ----------------------------------------------------
mkfs.ext4 -q -F -b 1024 -J size=1 -d t c.img 8M
bblk=$(debugfs -R "bmap /b.txt 0" c.img 2>/dev/null)
printf 'CSUM V2\n' | dd of=nb.bin bs=1024 conv=sync status=none
debugfs -w -f - c.img > jw.out 2>&1 <<EOF
jo -c -v 2
jw -b $bblk nb.bin
jc
EOF
dumpe2fs -h c.img 2>/dev/null | grep -q 'journal_checksum_v2' || fail "no csum v2 journal"
check_replay c.img
expect_eq "$($VDK cat -a c.img /b.txt | tr -d '\0')" "CSUM V2" "csum v2 replay"

# ---- an external journal (what mke2fs -J device= writes): reported only
mkfs.ext4 -q -F -O ^has_journal -b 1024 -d t ext.img 8M
debugfs -w -f - ext.img > /dev/null 2>&1 <<EOF
feature has_journal needs_recovery
ssv journal_uuid 33333333-4444-5555-6666-777777777777
ssv journal_dev 0x801
EOF
$VDK cat -a ext.img /b.txt > out 2> err
expect_eq "$(cat out)" "file B original" "external journal: disk contents"
expect_grep 'journal needs recovery but is on an external device (UUID 33333333-4444-5555-6666-777777777777' err

# ---- hostile journals: a warning naming the device, the rest still read ---
# (ext4 without journal checksums, so that only the edited field is wrong)
mkfs.ext4 -q -F -b 1024 -J size=1 -d t d.img 8M
bblk=$(debugfs -R "bmap /b.txt 0" d.img 2>/dev/null)
printf 'REPLAYED B\n' | dd of=nb.bin bs=1024 conv=sync status=none
debugfs -w -f - d.img > jw.out 2>&1 <<EOF
jo
jw -b $bblk nb.bin
jc
EOF
expect_eq "$($VDK cat -a d.img /b.txt | tr -d '\0')" "REPLAYED B" "ext4 journal without checksums"
js=$(jblocks d.img)
hostile () {   # NAME OP [ARG]
  cp d.img "$1.img"
  $JTOOL "$1.img" "$js" 1024 "$2" ${3:-}
  timeout 20 $VDK cat -a "$1.img" /b.txt > "$1.out" 2> "$1.err" || { cat "$1.err"; fail "$1: vdk cat failed"; }
}
hostile magic magic
expect_grep 'bad journal superblock' magic.err
expect_eq "$(cat magic.out)" "file B original" "unusable journal: disk contents"
hostile start start 99999
expect_grep 'log start 99999 is outside the log area' start.err
hostile tag tag 0xfffffff0
expect_grep 'block 4294967280 is beyond the filesystem' tag.err
expect_eq "$(cat tag.out)" "file B original" "bad transaction not replayed"
hostile seq seq 0x7ffffff0
expect_eq "$(cat seq.out)" "file B original" "sequence gap: nothing to replay"
expect_grep 'holds no committed transaction 2147483632; nothing to replay' seq.err
hostile commits commits
expect_grep 'the log is longer than the journal' commits.err
# every message names the device
for f in magic start tag seq commits; do expect_grep '/dev/sda' $f.err; done
exit 0
