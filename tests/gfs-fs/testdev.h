#ifndef VDK_TESTS_GFS_TESTDEV_H
#define VDK_TESTS_GFS_TESTDEV_H
#include "guestfs/fs.h"
int test_dev_open (const char *path, struct gfs_dev **out);
const char *test_last_error (void);
#endif
