/* HDF5 helpers. Debian's HDF5 is built without thread safety, so every HDF5
 * call in the library runs under one process-wide lock; the hot read path
 * (issue: io engine) does not call HDF5 at all. */
#ifndef BFD_CORE_H5_H
#define BFD_CORE_H5_H

#include <hdf5.h>

#include "core/error.h"

void bfdi_h5_lock(void);
void bfdi_h5_unlock(void);

/* Fails with BFD_ERR_HDF5 and a message that ends with the innermost HDF5
 * error description (HDF5's own printing is switched off). */
bfd_status bfdi_h5_fail(const char *fmt, ...) BFD_PRINTF(1, 2);

#endif
