/* netfs-sources HOST [PORT [SRCSPEC_XML]]: print what the netfs pool type's
 * find_sources callback gives (the XML of find-storage-pool-sources-as
 * netfs HOST), for netfs-pool.sh. */
#include <stdio.h>
#include <stdlib.h>

#include "pool-int.h"

int
main (int argc, char **argv)
{
  const struct pool_type_ops *t = pool_find_type ("netfs");
  char *xml;

  if (argc < 2 || argc > 4) {
    fprintf (stderr, "usage: %s HOST [PORT [SRCSPEC_XML]]\n", argv[0]);
    return 2;
  }
  if (!t || !t->find_sources) {
    fprintf (stderr, "%s: this build has no netfs pools\n", argv[0]);
    return 77;
  }
  if (t->find_sources (argv[1][0] ? argv[1] : NULL, argc > 2 && argv[2][0] ? argv[2] : NULL,
                       argc > 3 ? argv[3] : NULL, &xml) < 0) {
    fprintf (stderr, "%s\n", pool_last_error ());
    return 1;
  }
  fputs (xml, stdout);
  free (xml);
  return 0;
}
