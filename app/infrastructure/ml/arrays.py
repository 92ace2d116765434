"""Named numeric arrays: what an artifact stores besides JSON, checked on the way back in.

Every array is read back with the dtype and number of dimensions the code expects, and sparse
matrices are rebuilt through scipy's full format check, so an artifact whose arrays do not fit
the model is refused at load instead of failing (or reading out of bounds) while serving.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

# The dtype is checked at run time (see `get`), not known to the type checker.
Array = npt.NDArray[Any]


class ArtifactArrays:
    """A view of one artifact's arrays whose names start with `prefix` (see `scope`)."""

    def __init__(self, arrays: MutableMapping[str, Array] | None = None, prefix: str = "") -> None:
        self.arrays: MutableMapping[str, Array] = arrays if arrays is not None else {}
        self._prefix = prefix

    def scope(self, name: str) -> ArtifactArrays:
        """The arrays under `name/`: each part of a model stores its own without name clashes."""
        return ArtifactArrays(self.arrays, f"{self._prefix}{name}/")

    def put(self, name: str, array: npt.ArrayLike) -> None:
        key = self._prefix + name
        if key in self.arrays:
            raise ValueError(f"array {key} is stored twice")
        stored = np.asarray(array)
        if stored.dtype.hasobject:
            raise TypeError(f"array {key} holds Python objects, which an artifact never stores")
        self.arrays[key] = stored

    def get(self, name: str, dtype: npt.DTypeLike, ndim: int = 1) -> Array:
        """The array `name`, which must have exactly this dtype and number of dimensions."""
        key = self._prefix + name
        if key not in self.arrays:
            raise ValueError(f"array {key} is missing")
        array = self.arrays[key]
        if array.dtype != np.dtype(dtype) or array.ndim != ndim:
            raise ValueError(
                f"array {key} is {array.dtype} with {array.ndim} dimension(s), "
                f"expected {np.dtype(dtype)} with {ndim}"
            )
        return array

    def put_sparse(self, name: str, matrix: sp.csr_matrix | sp.csc_matrix) -> None:
        self.put(f"{name}.data", matrix.data)
        self.put(f"{name}.indices", matrix.indices)
        self.put(f"{name}.indptr", matrix.indptr)
        self.put(f"{name}.shape", np.asarray(matrix.shape, dtype=np.int64))

    def get_csr(self, name: str, dtype: npt.DTypeLike = np.float32) -> sp.csr_matrix:
        matrix = sp.csr_matrix(self._compressed(name, dtype), shape=self._shape(name))
        matrix.check_format(full_check=True)
        return matrix

    def get_csc(self, name: str, dtype: npt.DTypeLike = np.float32) -> sp.csc_matrix:
        matrix = sp.csc_matrix(self._compressed(name, dtype), shape=self._shape(name))
        matrix.check_format(full_check=True)
        return matrix

    def _compressed(self, name: str, dtype: npt.DTypeLike) -> tuple[Array, Array, Array]:
        indices, indptr = self._index(f"{name}.indices"), self._index(f"{name}.indptr")
        return self.get(f"{name}.data", dtype), indices, indptr

    def _index(self, name: str) -> Array:
        key = self._prefix + name
        array = self.arrays.get(key)
        # scipy picks int32 or int64 by size; both are read back as they were written.
        dtype = array.dtype if array is not None and array.dtype in (np.int32, np.int64) else np.int32
        return self.get(name, dtype)

    def _shape(self, name: str) -> tuple[int, int]:
        shape = self.get(f"{name}.shape", np.int64)
        if shape.shape != (2,) or bool((shape < 0).any()):
            raise ValueError(f"array {self._prefix}{name}.shape is not the shape of a matrix")
        return int(shape[0]), int(shape[1])
