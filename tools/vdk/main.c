/* vdk: one command-line tool for images, pools, guests and VMs. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vdk.h"
#include "pool.h"
#include "secret.h"

const char *progname = "vdk";

static const struct command commands[] = {
  { "create", cmd_create, "create a new image",
    "Usage: vdk create [-q] [-f FMT] [-o OPTIONS] [-b BACKING [-F BACKING_FMT]] [-u]\n"
    "                  FILENAME [SIZE]\n"
    "\n"
    "Create an image of SIZE bytes (k, M, G, T, P, E suffixes; 1024-based).\n"
    "With -b, SIZE may be left out: the backing file's size is used.\n"
    "\n"
    "  -f FMT           image format (default: raw)\n"
    "  -o OPTIONS       format options, key=value,... ('-o help' lists them)\n"
    "  -b BACKING       backing file (relative names are relative to FILENAME)\n"
    "  -F BACKING_FMT   format of the backing file\n"
    "  -u               do not open the backing file (SIZE is then required)\n"
    "  -q               quiet\n" },
  { "info", cmd_info, "show information about an image",
    "Usage: vdk info [-f FMT] [--output=human|json] [--backing-chain] [-U] IMAGE\n"
    "\n"
    "  -f FMT            image format (default: probe)\n"
    "  --output=FMT      human (default) or json\n"
    "  --backing-chain   show every image of the backing chain\n"
    "  -U, --force-share open read-only without taking the image lock\n" },
  { "convert", cmd_convert, "copy an image, converting its format",
    "Usage: vdk convert [-p] [-q] [-n] [-W] [-U] [-f FMT] [-O OUTPUT_FMT] [-o OPTIONS]\n"
    "                   [-B BACKING [-F BACKING_FMT]] [-S SPARSE_SIZE] [-m N]\n"
    "                   [-t CACHE] [-T SRC_CACHE] [--target-is-zero] [-c] [-C]\n"
    "                   [-l SNAPSHOT_PARAM] [--progress=human|json]\n"
    "                   SOURCE [SOURCE...] OUTPUT\n"
    "\n"
    "Copy SOURCE (several are concatenated) to OUTPUT.  Holes, zeroes and\n"
    "unallocated ranges are not copied.  A failed or interrupted convert removes\n"
    "the OUTPUT it created; with -n the existing OUTPUT is kept.\n"
    "\n"
    "  -f FMT            source format (default: probe)\n"
    "  -O OUTPUT_FMT     output format (default: raw)\n"
    "  -o OPTIONS        output format options\n"
    "  -B BACKING        the output gets this backing file; only data the source\n"
    "                    holds above its own backing is copied\n"
    "  -F BACKING_FMT    format of BACKING\n"
    "  -n                do not create OUTPUT: write into the existing image (of\n"
    "                    format -O if given, else probed); with -B BACKING only\n"
    "                    what the source holds above its backing is written\n"
    "  -c                compress the output (qcow2; vmdk streamOptimized)\n"
    "  -C                copy offloading: data that maps from a file to a file of\n"
    "                    the same filesystem is copied by the kernel\n"
    "                    (copy_file_range), as it is: no zero detection in data\n"
    "                    (holes and unallocated ranges are still skipped); not\n"
    "                    with -S or -c.  -S 0 copies that way too\n"
    "  -l snapshot.id=ID,snapshot.name=NAME\n"
    "                    copy this internal snapshot of the first source\n"
    "  -l NAME, -s NAME  the same by id or name (one source only)\n"
    "  -S SIZE           zero detection granularity (default 4k; 0 = write all)\n"
    "  -m N              requests in flight (1..16, default 8)\n"
    "  -W                allow out-of-order writes (default: in order)\n"
    "  -t CACHE          output cache mode: writeback, none, unsafe, writethrough,\n"
    "                    directsync (default: unsafe, like qemu-img: no flush)\n"
    "  -T CACHE          source cache mode (default: writeback)\n"
    "  --target-is-zero  the existing output (-n) reads as zeroes: skip zeroes\n"
    "  -p                show progress (SIGUSR1 prints one progress line anyway)\n"
    "  --progress=json   machine-readable progress lines on stdout\n"
    "  -U                open the source without taking its lock\n"
    "  -q                quiet\n" },
  { "resize", cmd_resize, "change the virtual size of an image",
    "Usage: vdk resize [-q] [-f FMT] [--shrink] [--preallocation=MODE] IMAGE [+|-]SIZE\n"
    "\n"
    "  --shrink             allow making the image smaller (data past the end is lost)\n"
    "  --preallocation=MODE off, metadata, falloc or full for the new area\n" },
  { "compare", cmd_compare, "compare the contents of two images",
    "Usage: vdk compare [-f FMT] [-F FMT] [-s] [-q] [-p] [-U] IMAGE1 IMAGE2\n"
    "\n"
    "Exit status: 0 identical, 1 different (or a usage error), 2 error.\n"
    "\n"
    "  -f FMT   format of IMAGE1      -F FMT   format of IMAGE2\n"
    "  -s       strict: sizes and allocation must match too\n"
    "  -U       open the images without taking their locks\n" },
  { "check", cmd_check, "check an image for consistency, repair it",
    "Usage: vdk check [-q] [-f FMT] [-r leaks|all] [--output=human|json] [-U] IMAGE\n"
    "\n"
    "Check the metadata of IMAGE (qcow2: refcounts, L1/L2 tables, overlaps).\n"
    "Exit status: 0 no problems, 1 the check could not complete, 2 corruptions,\n"
    "3 leaked clusters only, 63 the format cannot be checked.\n"
    "\n"
    "  -f FMT          image format (default: probe)\n"
    "  -r leaks        repair leaked clusters\n"
    "  -r all          repair leaks and errors\n"
    "  --output=FMT    human (default) or json\n"
    "  -U              open read-only without taking the image lock\n"
    "  -q              quiet\n" },
  { "snapshot", cmd_snapshot, "list, create, apply or delete internal snapshots",
    "Usage: vdk snapshot [-q] [-f FMT] [-U] (-l | -c NAME | -a NAME | -d NAME) IMAGE\n"
    "\n"
    "  -l        list the snapshots\n"
    "  -c NAME   create a snapshot NAME of the current state\n"
    "  -a NAME   apply (revert to) snapshot NAME (a name or an ID)\n"
    "  -d NAME   delete snapshot NAME (a name or an ID)\n"
    "  -U        with -l: open without taking the image lock\n"
    "\n"
    "On a raw RBD image (rbd: or an rbd pool's vol:) these are RBD snapshots, as\n"
    "with qemu-img; a protected snapshot (one that clones depend on) is kept.\n" },
  { "amend", cmd_amend, "change the format options of an image",
    "Usage: vdk amend [-q] [-f FMT] -o OPTIONS IMAGE\n"
    "\n"
    "qcow2 options: compat=0.10|1.1, lazy_refcounts=on|off, refcount_bits=N,\n"
    "size=SIZE (grows or shrinks; 0 leaves it), backing_file and backing_fmt only\n"
    "unchanged (use rebase).  -o help lists them.\n" },
  { "map", cmd_map, "show where the data of an image is",
    "Usage: vdk map [-f FMT] [--output=human|json] [--start-offset=OFF]\n"
    "               [--max-length=LEN] [-U] IMAGE\n" },
  { "rebase", cmd_rebase, "change the backing file of an image",
    "Usage: vdk rebase [-q] [-p] [-u] [-f FMT] [-t CACHE] -b BACKING [-F BACKING_FMT] IMAGE\n"
    "\n"
    "Make BACKING (relative to IMAGE's directory, or \"\" for none) the backing file of\n"
    "IMAGE.  Safe mode copies into IMAGE every range the new backing file would read\n"
    "differently, so IMAGE's content does not change.\n"
    "  -u   unsafe: only rewrite the name (the new backing file must hold the same data);\n"
    "       without -b the backing file is removed\n" },
  { "commit", cmd_commit, "write an image's data into its backing file",
    "Usage: vdk commit [-q] [-p] [-d] [-f FMT] [-t CACHE] [-b BASE] IMAGE\n"
    "\n"
    "Copy the data IMAGE holds above BASE (default: its backing file) into BASE, then\n"
    "empty IMAGE so it reads through to BASE.\n"
    "  -d       do not empty IMAGE\n"
    "  -b BASE  commit into this image of the chain (implies -d: the images between\n"
    "           BASE and IMAGE no longer match)\n" },
  { "measure", cmd_measure, "how much host space an image needs",
    "Usage: vdk measure [--output=human|json] [-O OUTPUT_FMT] [-o OPTIONS]\n"
    "                   [--size N | [-f FMT] [-U] [-l SNAPSHOT_PARAM] IMAGE]\n"
    "\n"
    "Print the host bytes needed by an OUTPUT_FMT image (default raw): of N bytes, or\n"
    "holding the data of IMAGE (or of its snapshot, -l as in convert).  'required'\n"
    "is what the data needs now, 'fully allocated' what a fully written image needs;\n"
    "from a qcow2 v3 source into qcow2 v3, 'bitmaps size' is what its persistent\n"
    "bitmaps need.  raw and qcow2: qemu-img's numbers; vmdk, vhdx and vpc: vdk's\n"
    "own layouts.\n" },
  { "dd", cmd_dd, "copy part of an image (dd style)",
    "Usage: vdk dd [-U] [-f FMT] [-O OUTPUT_FMT] [bs=SIZE] [count=N] [skip=N]\n"
    "              if=INPUT of=OUTPUT\n"
    "\n"
    "Create OUTPUT and copy COUNT blocks of BS bytes (default 512; all by default)\n"
    "from INPUT, starting SKIP blocks in.\n" },
  { "bench", cmd_bench, "measure I/O performance on an image",
    "Usage: vdk bench [-c COUNT] [-d DEPTH] [-f FMT] [-n] [-o OFFSET] [-q] [-s SIZE]\n"
    "                 [-S STEP] [-t CACHE] [-i io_uring|threads] [-w] [-U]\n"
    "                 [--pattern=BYTE] [--flush-interval=N] [--random] IMAGE\n"
    "\n"
    "Send COUNT (75000) requests of SIZE (4k) bytes, DEPTH (64) in flight, starting at\n"
    "OFFSET and moving by STEP (default SIZE), or at random aligned offsets with\n"
    "--random.  -w writes (the pattern byte, default 0xa5) instead of reading.\n"
    "  -n         cache=none          -t CACHE  cache mode\n"
    "  -i MODE    io_uring (one thread, many in flight) or threads (DEPTH threads)\n" },
  { "sparsify", cmd_sparsify, "give back the space of zero-filled blocks",
    "Usage: vdk sparsify [-q] [-p] [-f FMT] [-S SIZE] --in-place IMAGE\n"
    "       vdk sparsify [-q] [-p] [-f FMT] [-O FMT] [-o OPTIONS] [-S SIZE] IMAGE OUTPUT\n"
    "\n"
    "Find blocks of SIZE bytes (default: the cluster size, or 4k) that hold only\n"
    "zeroes and release them: in place (discard/hole punching), or by writing a\n"
    "sparse copy.  No filesystem knowledge is used.\n" },
  /* Storage pools and volumes: virsh's commands, no daemon. */
  { "pool-define-as", cmd_pool_define_as, "define a persistent pool from arguments",
    "Usage: vdk pool-define-as NAME TYPE [--source-host H] [--source-path P]\n"
    "                          [--source-dev DEV] [--source-name N] [--target PATH]\n"
    "                          [--source-format FMT] [--auth-type T --auth-username U\n"
    "                          (--secret-usage S | --secret-uuid UUID)]\n"
    "                          [--source-initiator IQN] [--source-protocol-ver N]\n"
    "                          [--print-xml]\n"
    "\n"
    "Define (but do not start) a pool.  TYPE is dir, fs, disk, logical, netfs, iscsi\n"
    "or rbd.  As in virsh, the options after TYPE may also be given in this order\n"
    "without their names.\n"
    "\n"
    "  --target PATH        the directory (dir) or mount point (fs) of the pool\n"
    "  --source-dev DEV     fs: the block device, partition or image file\n"
    "  --source-format FMT  fs: auto (default), ext2, ext3, ext4, xfs, btrfs, vfat\n"
    "  logical: --source-dev is a PV (device or image file; pool XML lists several),\n"
    "  --source-name the volume group (default: the pool name), --target /dev/VG\n"
    "  rbd: --source-name the RADOS pool, --source-host the monitor (H or H:PORT,\n"
    "  port 6789 by default), --auth-type ceph --auth-username admin and a ceph\n"
    "  secret holding the key (secret-set-value UUID --base64 AQ..); no --target.\n"
    "  Pool XML may add libvirt's <rbd:config_opts> (rados_conf_set options; the\n"
    "  option 'conf' reads a ceph.conf, with or instead of <host> and <auth>)\n"
    "  netfs: --source-host H --source-path /export/dir: a directory on an NFS\n"
    "  server, reached in user space with libnfs (NFSv3; --source-protocol-ver 4 is\n"
    "  refused).  Nothing is mounted: --target is required but not used, and a\n"
    "  volume's path and key are its nfs:// URL (vol-path prints it; vol:POOL/VOL\n"
    "  opens it).  --source-format: auto or nfs.  Ports: <host port='N'/> (NFS) and\n"
    "  libvirt's <fs:mount_opts> in the pool XML (mountport=N, port=N, timeo=DSEC,\n"
    "  nfsvers=3); else the server's portmapper.  Every RPC times out (15 s, or\n"
    "  timeo).  NFS has no locks vdk can see: vol-delete and vol-wipe cannot tell\n"
    "  whether a netfs volume is in use.\n"
    "  iscsi: the LUNs of an iSCSI target, through libiscsi (no kernel initiator):\n"
    "  --source-host HOST[:PORT] the portal (port 3260 by default), --source-dev the\n"
    "  target IQN, --source-initiator IQN the initiator name (default: the host's,\n"
    "  from /etc/iscsi/initiatorname.iscsi, else vdk's), CHAP with --auth-type chap\n"
    "  --auth-username U and --secret-usage S or --secret-uuid UUID (an iscsi secret,\n"
    "  see secret-define).  Volumes are the disk LUNs, named unit:0:0:LUN; their\n"
    "  path and key are iscsi:// URLs that name the secret (password-secret=UUID),\n"
    "  never the password.  LUNs are not created, deleted or resized by vdk.\n"
    "  --print-xml          print the pool XML instead of defining it\n"
    "\n"
    "Pools live in the state dir: /var/lib/vdk for root, else $XDG_DATA_HOME/vdk\n"
    "(~/.local/share/vdk); 'vdk --state-dir DIR ...' or VDK_STATE_DIR override it.\n" },
  { "pool-define", cmd_pool_define, "define a persistent pool from libvirt XML",
    "Usage: vdk pool-define FILE\n"
    "\n"
    "FILE is libvirt storage pool XML (what 'virsh pool-dumpxml' prints).\n" },
  { "pool-create-as", cmd_pool_create_as, "create and start a transient pool from arguments",
    "Usage: vdk pool-create-as NAME TYPE [pool-define-as options]\n"
    "                          [--build] [--overwrite | --no-overwrite]\n"
    "\n"
    "A transient pool disappears when it is destroyed.  --build builds it first\n"
    "(see pool-build).\n" },
  { "pool-create", cmd_pool_create, "create and start a transient pool from XML",
    "Usage: vdk pool-create FILE [--build] [--overwrite | --no-overwrite]\n" },
  { "pool-build", cmd_pool_build, "build an inactive pool (mkdir, mkfs)",
    "Usage: vdk pool-build POOL [--overwrite | --no-overwrite]\n"
    "\n"
    "dir: creates the target directory.  fs: creates the target directory and\n"
    "runs mkfs.FORMAT (ext4 for auto) on the source device:\n"
    "  --no-overwrite  only if the device is blank (first 64 KiB are zeroes); a\n"
    "                  filesystem, partition table or any other data is an error\n"
    "  --overwrite     always: whatever the device holds is destroyed\n"
    "  (neither)       only if the device is blank (first 64 KiB are zeroes);\n"
    "                  a device holding anything is left as it is\n"
    "logical: writes an LVM2 PV label on every source device and the volume\n"
    "group (4 MiB extents) itself, as pvcreate + vgcreate would.  Devices that\n"
    "already hold the pool's VG are adopted unchanged (unless --overwrite);\n"
    "any other data is an error without --overwrite.\n"
    "netfs: creates the source directory (and its missing parents) under the\n"
    "export that holds it, on the NFS server.\n" },
  { "pool-start", cmd_pool_start, "start an inactive pool",
    "Usage: vdk pool-start POOL [--build] [--overwrite | --no-overwrite]\n"
    "       vdk pool-start --autostart\n"
    "\n"
    "fs pools are mounted on their target; netfs pools are checked (the server\n"
    "answers and the directory exists).  --autostart starts every pool marked\n"
    "with pool-autostart that is not running (contrib/vdk-pools.service runs it\n"
    "at boot).\n" },
  { "pool-destroy", cmd_pool_destroy, "stop a pool (no data is deleted)",
    "Usage: vdk pool-destroy POOL\n"
    "\n"
    "fs pools are unmounted.  A transient pool is gone afterwards.\n" },
  { "pool-delete", cmd_pool_delete, "delete an inactive, empty pool's storage",
    "Usage: vdk pool-delete POOL\n"
    "\n"
    "Removes the target directory; refused while it holds anything.\n"
    "logical: removes the PV labels; refused while the VG has logical volumes.\n"
    "netfs: removes the (empty) source directory from the server; an export\n"
    "itself is never removed.\n" },
  { "pool-undefine", cmd_pool_undefine, "undefine a persistent pool",
    "Usage: vdk pool-undefine POOL\n"
    "\n"
    "A running pool stays running, as a transient pool.\n" },
  { "pool-autostart", cmd_pool_autostart, "mark a pool to be started at boot",
    "Usage: vdk pool-autostart POOL [--disable]\n" },
  { "pool-list", cmd_pool_list, "list pools",
    "Usage: vdk pool-list [--inactive | --all] [--persistent] [--transient]\n"
    "                     [--autostart] [--no-autostart] [--type TYPES]\n"
    "                     [--details] [--name] [--uuid] [--output=human|json]\n"
    "\n"
    "Lists running pools unless --inactive or --all.  TYPES: comma-separated.\n" },
  { "pool-info", cmd_pool_info, "show a pool's state and sizes",
    "Usage: vdk pool-info POOL [--bytes] [--output=human|json]\n" },
  { "pool-dumpxml", cmd_pool_dumpxml, "print a pool's libvirt XML",
    "Usage: vdk pool-dumpxml POOL [--inactive]\n" },
  { "pool-refresh", cmd_pool_refresh, "rescan a pool's volumes",
    "Usage: vdk pool-refresh POOL\n" },
  { "pool-capabilities", cmd_pool_capabilities, "print the supported pool types (XML)",
    "Usage: vdk pool-capabilities\n" },
  { "find-storage-pool-sources", cmd_find_sources, "find potential pool sources (XML)",
    "Usage: vdk find-storage-pool-sources TYPE [SRCSPEC-FILE]\n"
    "\n"
    "Prints libvirt's <sources> XML for TYPE:\n"
    "  logical  one <source> per LVM2 volume group: its PVs (<device path=.../>),\n"
    "           <name>VG</name> and <format type='lvm2'/>\n"
    "  disk     each device with a GPT or DOS partition table (<format type='gpt|dos'/>)\n"
    "Every block device of the host is looked at (loop devices included), or\n"
    "only the devices or image files SRCSPEC-FILE names, a libvirt source XML:\n"
    "  <source><device path='/dev/sdb'/><device path='/srv/pv.img'/></source>\n" },
  { "find-storage-pool-sources-as", cmd_find_sources_as,
    "find potential pool sources from arguments (XML)",
    "Usage: vdk find-storage-pool-sources-as TYPE [HOST] [PORT] [INITIATOR]\n"
    "\n"
    "As find-storage-pool-sources, with a source spec made of the arguments as\n"
    "virsh does (<host name='HOST' port='PORT'/>, <initiator><iqn name=.../>).\n"
    "The logical and disk types look at the host's block devices.\n" },
  { "pool-name", cmd_pool_name, "print a pool's name from its UUID",
    "Usage: vdk pool-name UUID\n" },
  { "pool-uuid", cmd_pool_uuid, "print a pool's UUID",
    "Usage: vdk pool-uuid POOL\n" },
  { "vol-create-as", cmd_vol_create_as, "create a volume from arguments",
    "Usage: vdk vol-create-as POOL NAME CAPACITY [--allocation SIZE] [--format FMT]\n"
    "                         [--backing-vol VOL [--backing-vol-format FMT]]\n"
    "                         [--prealloc-metadata] [--print-xml]\n"
    "\n"
    "CAPACITY and SIZE: bytes, or with a unit (k/KiB=1024, KB=1000, M, G, T...).\n"
    "FMT: raw (default) or any format 'vdk --help' lists that can be created.\n"
    "--backing-vol: a volume name in POOL, a key, a path or vol:POOL/VOL.\n"
    "--allocation equal to CAPACITY preallocates the whole volume.\n" },
  { "vol-create", cmd_vol_create, "create a volume from libvirt XML",
    "Usage: vdk vol-create POOL FILE [--prealloc-metadata]\n" },
  { "vol-create-from", cmd_vol_create_from, "create a volume from XML as a copy of another",
    "Usage: vdk vol-create-from POOL FILE VOL [--inputpool POOL] [--prealloc-metadata]\n"
    "\n"
    "The new volume (any format, any pool) gets VOL's contents, flattened.\n"
    "rbd: within the same pool, a layered RBD clone of a protected snapshot of\n"
    "VOL (as libvirt), which the rbd CLI shows as its parent.\n" },
  { "vol-clone", cmd_vol_clone, "copy a volume within its pool",
    "Usage: vdk vol-clone VOL NEWNAME [--pool POOL] [--prealloc-metadata]\n"
    "\n"
    "rbd: a layered RBD clone, as vol-create-from.\n" },
  { "vol-delete", cmd_vol_delete, "delete a volume",
    "Usage: vdk vol-delete VOL [--pool POOL] [--delete-snapshots]\n"
    "\n"
    "Refused while another process has the volume open (netfs volumes excepted:\n"
    "NFSv3 shows vdk no opens or locks of other clients).  rbd: an image with\n"
    "snapshots is refused unless --delete-snapshots (which unprotects and\n"
    "removes them; refused while a snapshot has clones).\n" },
  { "vol-wipe", cmd_vol_wipe, "wipe a volume's contents",
    "Usage: vdk vol-wipe VOL [--pool POOL] [--algorithm ALG]\n"
    "\n"
    "ALG (virsh's; the patterns are scrub(1)'s), written over the volume's guest view:\n"
    "  zero        1 pass of zeroes (the default); data is deallocated where the\n"
    "              format allows\n"
    "  nnsa        random x2, 0x00, verify\n"
    "  dod         random, 0x00, 0xff, verify\n"
    "  bsi         0xff 0xfe 0xfd 0xfb 0xf7 0xef 0xdf 0xbf 0x7f\n"
    "  gutmann     Gutmann's 35 passes\n"
    "  schneier    0x00, 0xff, random x5\n"
    "  pfitzner7   random x7\n"
    "  pfitzner33  random x33\n"
    "  random      random x1\n"
    "  trim        discard everything (holes in files, BLKDISCARD on devices);\n"
    "              refused where discarded data would still read back\n"
    "Refused while another process has the volume open (not detectable for netfs\n"
    "volumes).\n" },
  { "vol-resize", cmd_vol_resize, "change a volume's capacity",
    "Usage: vdk vol-resize VOL CAPACITY [--pool POOL] [--allocate] [--delta] [--shrink]\n"
    "\n"
    "  --delta     CAPACITY is added (or, with a leading '-', subtracted)\n"
    "  --shrink    allow making the volume smaller (data past the end is lost)\n"
    "  --allocate  allocate the new space\n" },
  { "vol-upload", cmd_vol_upload, "write a file's contents into a volume",
    "Usage: vdk vol-upload VOL FILE [--pool POOL] [--offset N] [--length N] [--sparse]\n"
    "\n"
    "Writes through the volume's format (a qcow2 volume gets guest data).\n"
    "--sparse: zero blocks of FILE are deallocated in the volume, not written.\n" },
  { "vol-download", cmd_vol_download, "copy a volume's contents into a file",
    "Usage: vdk vol-download VOL FILE [--pool POOL] [--offset N] [--length N] [--sparse]\n"
    "\n"
    "Reads the guest view of the volume.  --sparse: zeroes become holes in FILE.\n" },
  { "vol-list", cmd_vol_list, "list a pool's volumes",
    "Usage: vdk vol-list POOL [--details] [--output=human|json]\n" },
  { "vol-info", cmd_vol_info, "show a volume's type and sizes",
    "Usage: vdk vol-info VOL [--pool POOL] [--bytes] [--physical] [--output=human|json]\n"
    "\n"
    "VOL is a name (with --pool), a key, a path or vol:POOL/VOL, here and in the\n"
    "other vol-* commands.\n" },
  { "vol-dumpxml", cmd_vol_dumpxml, "print a volume's libvirt XML",
    "Usage: vdk vol-dumpxml VOL [--pool POOL]\n" },
  { "vol-path", cmd_vol_path, "print a volume's path",
    "Usage: vdk vol-path VOL [--pool POOL]\n"
    "\n"
    "netfs: the volume's nfs:// URL (there is no mount point); it is also its key.\n" },
  { "vol-name", cmd_vol_name, "print a volume's name from its key or path",
    "Usage: vdk vol-name KEY_OR_PATH\n" },
  { "vol-key", cmd_vol_key, "print a volume's key",
    "Usage: vdk vol-key VOL [--pool POOL]\n" },
  { "vol-pool", cmd_vol_pool, "print the pool of a volume",
    "Usage: vdk vol-pool KEY_OR_PATH [--uuid]\n" },
  { "run", cmd_run, "boot a kernel or a disk image in a KVM virtual machine",
    "Usage: vdk run --kernel KERNEL [--initrd INITRD] [--cmdline CMDLINE]\n"
    "               [--disk SPEC[,readonly=on][,cache=MODE][,format=FMT][,serial=ID]]...\n"
    "               [--memory SIZE] [--cpus N] [--console stdio|pty|unix:PATH|none]\n"
    "               [--api unix:PATH] [--no-rng]\n"
    "       vdk run [--entry N|TITLE] [--print-boot] [run options] IMAGE[,readonly=on,...]\n"
    "\n"
    "Boot KERNEL (a bzImage or an ELF vmlinux, Linux 64-bit boot protocol) on KVM.\n"
    "With IMAGE (any image spec, with the --disk options), boot the image without\n"
    "firmware: its kernel, initrd and command line are found inside it (BLS entries\n"
    "in /boot/loader/entries, else grub.cfg's default entry, else the newest\n"
    "/boot/vmlinuz-* with root=UUID=<root filesystem> ro), read out of the image\n"
    "and booted with IMAGE as the first disk (writable unless readonly=on).\n"
    "console=ttyS0 is added when the command line names no console; --cmdline\n"
    "text is appended to it.\n"
    "Disks are virtio-blk devices backed by any image spec; they, and a virtio-rng,\n"
    "are announced on the command line as virtio_mmio.device=SIZE@ADDR:IRQ.  The\n"
    "console is an 8250 UART (ttyS0).  vdk exits when the guest resets (reboot),\n"
    "or on 'quit' from the control socket.\n"
    "\n"
    "  --kernel FILE     kernel to boot\n"
    "  --initrd FILE     initial ramdisk\n"
    "  --cmdline STR     kernel command line\n"
    "  --disk SPEC,...   add a disk (up to 8): readonly=on, cache=none|writeback|\n"
    "                    unsafe|writethrough|directsync, format=FMT, serial=ID\n"
    "                    (a comma in a file name is written ',,')\n"
    "  --memory SIZE     guest memory (default 512M; a bare number is MiB; 16M to\n"
    "                    256G, a multiple of 2M)\n"
    "  --cpus N          virtual CPUs (default 1)\n"
    "  --console MODE    stdio (default), pty (its name is printed on stderr),\n"
    "                    unix:PATH (a socket; output is kept until a client\n"
    "                    connects, up to 64 KiB) or none\n"
    "  --api unix:PATH   JSON control socket: query-status, pause, resume, quit,\n"
    "                    system-powerdown (Ctrl-Alt-Del), query-block\n"
    "  --no-rng          no virtio-rng device\n"
    "  --entry N|TITLE   boot entry of IMAGE to boot: its number in menu order (0\n"
    "                    first; grub submenus as 'N>M'), title or id\n"
    "  --print-boot      print what IMAGE would boot (source, entry, kernel,\n"
    "                    initrd, command line) and exit\n"
    "\n"
    "Exit status: 0 guest reset or quit, 1 error, 2 guest crashed (triple fault).\n" },
  /* Secrets: virsh's secret-* commands (pools use them to authenticate). */
  { "secret-define", cmd_secret_define, "define or modify a secret from libvirt XML",
    "Usage: vdk secret-define FILE\n"
    "\n"
    "FILE is libvirt secret XML (what 'virsh secret-dumpxml' prints):\n"
    "  <secret ephemeral='no' private='yes'>\n"
    "    <uuid>...</uuid>                    (generated when left out)\n"
    "    <description>...</description>\n"
    "    <usage type='ceph'><name>client.admin secret</name></usage>\n"
    "  </secret>\n"
    "Usage types: ceph and tls, vtpm (<name>), iscsi (<target>), volume (<volume>).\n"
    "Defining an existing UUID again modifies it; one secret per usage.\n"
    "Secrets live in the state dir (see pool-define-as), 0600, in a 0700\n"
    "directory; ephemeral secrets last until the next boot.\n" },
  { "secret-dumpxml", cmd_secret_dumpxml, "print a secret's libvirt XML",
    "Usage: vdk secret-dumpxml UUID\n" },
  { "secret-set-value", cmd_secret_set_value, "set a secret's value",
    "Usage: vdk secret-set-value UUID [--base64] B64\n"
    "       vdk secret-set-value UUID --file FILE [--plain]\n"
    "       vdk secret-set-value UUID --interactive [--allow-pipe]\n"
    "\n"
    "  --base64 B64    the value in base64 (insecure: visible to other users)\n"
    "  --file FILE     the value in base64 in FILE; with --plain, FILE's bytes\n"
    "  --interactive   read one line from the terminal, with echo off\n"
    "  --allow-pipe    with --interactive: read the line from standard input\n"
    "                  when it is not a terminal (else that is refused)\n"
    "Values are arbitrary bytes, up to 64 KiB.\n" },
  { "secret-get-value", cmd_secret_get_value, "print a secret's value (base64)",
    "Usage: vdk secret-get-value UUID [--plain]\n"
    "\n"
    "Refused for private secrets.  --plain prints the raw bytes.\n" },
  { "secret-undefine", cmd_secret_undefine, "delete a secret and its value",
    "Usage: vdk secret-undefine UUID\n" },
  { "secret-list", cmd_secret_list, "list secrets",
    "Usage: vdk secret-list [--ephemeral] [--no-ephemeral] [--private] [--no-private]\n" },
  { "filesystems", cmd_filesystems, "list the filesystems, partitions and volumes of a guest",
    "Usage: vdk filesystems -a IMAGE [-a IMAGE]... [--all] [--extra] [--filesystems]\n"
    "                       [--partitions] [--lvs] [--vgs] [--pvs] [--blkdevs]\n"
    "                       [-l|--long] [-h] [--uuid] [--csv] [--no-title]\n"
    "                       [--output=human|json] [--format=FMT]\n"
    "\n"
    "List what the guest's disks hold, as virt-filesystems does (same rows,\n"
    "order and columns).  Disks are named /dev/sda, /dev/sdb... in -a order;\n"
    "partitions /dev/sda1...; LVM logical volumes /dev/VG/LV.  A filesystem's\n"
    "size is what statvfs would report once mounted (the device size for swap\n"
    "and what vdk cannot read).  LUKS and filesystems vdk cannot read are\n"
    "listed with their type.\n"
    "\n"
    "  -a IMAGE         add a disk (any image spec; opened read-only, no lock)\n"
    "  --format=FMT     format of the following -a images (default: probe)\n"
    "  --filesystems    filesystems (the default), without swap and unknown\n"
    "  --extra          filesystems including swap and unknown content\n"
    "  --partitions, --lvs, --vgs, --pvs, --blkdevs\n"
    "                   partitions, LVs, VGs, PVs, whole disks\n"
    "  --all            all of the above\n"
    "  -l, --long       columns: name, type, VFS type, label, MBR id, size, parent\n"
    "  -h               human-readable sizes\n"
    "  --uuid           add a UUID column\n"
    "  --csv            comma-separated values\n"
    "  --no-title       no title line in --long output\n"
    "  --output=json    machine-readable list\n", CMD_OWN_H },
  { "ls", cmd_ls, "list a directory of a guest",
    "Usage: vdk ls [-l] [-R] [-x] -a IMAGE [-a IMAGE]... PATH\n"
    "\n"
    "PATH is either /path in the inspected guest (its root filesystem with the\n"
    "mountpoints of its /etc/fstab; a guest with one filesystem needs no\n"
    "inspection), or DEVICE:/path in one filesystem, e.g. /dev/sda1:/grub or\n"
    "/dev/VolGroup00/LogVol00:/etc.  Symbolic links in PATH are followed.\n"
    "\n"
    "  -l, --long       mode, links, uid, gid, size, mtime (UTC), name -> target\n"
    "  -R, --recursive  list subdirectories too, with their paths\n"
    "  -x, --xattrs     extended attributes under each entry (NAME=\"text\" or 0xHEX)\n"
    "  --format=FMT     format of the following -a images\n" },
  { "cat", cmd_cat, "print files of a guest",
    "Usage: vdk cat -a IMAGE [-a IMAGE]... PATH [PATH...]\n"
    "\n"
    "PATH as for 'vdk ls': /path in the inspected guest, or DEVICE:/path.\n" },
  { "df", cmd_df, "show free space of a guest's filesystems",
    "Usage: vdk df [-h] [-i] [--output=human|json] -a IMAGE [-a IMAGE]...\n"
    "\n"
    "Like virt-df: size, used and available space of every filesystem vdk can read.\n"
    "\n"
    "  -h               human-readable sizes\n"
    "  -i, --inodes     inodes instead of blocks\n"
    "  --output=json    raw counts as json\n", CMD_OWN_H },
  { "inspect", cmd_inspect, "describe the operating system(s) of a guest",
    "Usage: vdk inspect -a IMAGE [-a IMAGE]... [--output=xml|json]\n"
    "\n"
    "Like virt-inspector: OS type, distro, product name, version, hostname,\n"
    "architecture, package format and manager, mountpoints (from /etc/fstab,\n"
    "UUID= and LABEL= resolved), filesystems, installed applications (dpkg\n"
    "status, rpmdb.sqlite), kernels in /boot and boot loader (BLS) entries.\n"
    "ext3/ext4 journals that need recovery are replayed in memory first.  Parts\n"
    "of the guest that cannot be read are listed under problems; the rest is\n"
    "still reported.\n" },
  { "get-kernel", cmd_get_kernel, "copy the newest kernel and initrd out of a guest",
    "Usage: vdk get-kernel -a IMAGE [-a IMAGE]... [-o DIR]\n"
    "\n"
    "Copy the newest /boot/vmlinuz-VERSION of the inspected guest and its initrd\n"
    "into DIR (default: the current directory).\n"
    "\n"
    "  -o DIR           output directory\n" },
};

const struct command *
find_command (const char *name)
{
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (!strcmp (commands[i].name, name))
      return &commands[i];
  return NULL;
}

static void
usage (FILE *f)
{
  fprintf (f,
           "Usage: vdk COMMAND [OPTIONS...]\n"
           "       vdk --help | --version | help COMMAND\n"
           "       vdk --state-dir DIR COMMAND ...  (storage pools' state)\n"
           "\n"
           "vdk converts, creates and inspects virtual disk images and manages storage pools.\n"
           "Commands:\n");
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (strlen (commands[i].name) <= 17)
      fprintf (f, "  %-17s %s\n", commands[i].name, commands[i].summary);
    else   /* a long name gets a line of its own */
      fprintf (f, "  %s\n  %-17s %s\n", commands[i].name, "", commands[i].summary);
  fprintf (f, "\nFormats:");
  for (const char *const *n = disk_format_names (); *n; n++)
    fprintf (f, " %s", *n);
  fprintf (f, "\nProtocols:");
  for (const char *const *n = disk_protocol_names (); *n; n++)
    fprintf (f, " %s", *n);
  fprintf (f, "\n\nAn IMAGE is a path, a URL (file://...), vol:POOL/VOLUME, json:{...} or\n"
           "key=value options (driver=raw,file.filename=x.img).  'vdk COMMAND --help' shows a command's options.\n");
}

int
main (int argc, char **argv)
{
  const struct command *c;

  /* Network protocols write to sockets whose peer may be gone: get EPIPE,
   * not a silent death by SIGPIPE (qemu-img ignores it too). */
  signal (SIGPIPE, SIG_IGN);

  /* "vol:POOL/VOL" image specs go through the storage pools. */
  disk_set_spec_resolver (pool_spec_resolver);
  /* Secrets named in specs (iscsi's password-secret=UUID): the pools' secrets. */
  disk_set_secret_lookup (pool_secret_disk_lookup);
  /* vdk --state-dir DIR COMMAND ...: the pools' state dir. */
  while (argc >= 2 && !strncmp (argv[1], "--state-dir", 11)) {
    const char *dir = NULL;
    int used = 1;
    if (argv[1][11] == '=')
      dir = argv[1] + 12;
    else if (argv[1][11] == 0 && argc >= 3) {
      dir = argv[2];
      used = 2;
    }
    if (!dir || !dir[0]) {
      error ("--state-dir needs a directory");
      return 1;
    }
    if (setenv ("VDK_STATE_DIR", dir, 1) < 0) {
      error ("out of memory");
      return 1;
    }
    argv[used] = argv[0];
    argv += used;
    argc -= used;
  }
  if (argc < 2) {
    usage (stderr);
    return 1;
  }
  if (!strcmp (argv[1], "--help") || !strcmp (argv[1], "-h")) {
    usage (stdout);
    return 0;
  }
  if (!strcmp (argv[1], "--version") || !strcmp (argv[1], "-V")) {
    printf ("vdk version %s\n", disk_version ());
    return 0;
  }
  if (!strcmp (argv[1], "help")) {
    if (argc < 3) {
      usage (stdout);
      return 0;
    }
    c = find_command (argv[2]);
    if (!c) {
      error ("unknown command '%s'", argv[2]);
      return 1;
    }
    print_command_help (c);
    return 0;
  }
  c = find_command (argv[1]);
  if (!c) {
    error ("unknown command '%s' (try '%s --help')", argv[1], progname);
    return 1;
  }
  for (int i = 2; i < argc; i++) {
    if (!strcmp (argv[i], "--"))
      break;
    if (!strcmp (argv[i], "--help") ||
        (!strcmp (argv[i], "-h") && !(c->flags & CMD_OWN_H))) {
      print_command_help (c);
      return 0;
    }
  }
  {
    int rc = c->run (argc - 1, argv + 1);
    print_warnings ();   /* what libdisk noticed and did not fail on */
    return rc;
  }
}
