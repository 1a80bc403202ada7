# cython: language_level=3
"""What other Cython modules of the package (_kernels) cimport from _engine."""
from libc.stdint cimport int64_t

from fastmlp._capi cimport fm_api, fm_input


cdef class Input:
    cdef fm_input c
    cdef object keep  # the arrays c points into
    cdef readonly object dtype
    cdef readonly tuple shape


cdef void *_address(arr)
cdef const fm_api *api_of(dtype) except NULL
cdef Input _as_input(X, dtype, int64_t n_features)
