"""Read the authors' checkpoint files without running anything in them.

Their encoder and network-A ``best_model.pth`` files are pickled whole modules, written by torch 1.0-1.3. A restricted
unpickler admits only tensor and storage reconstruction and plain containers, and turns the authors' module classes
into inert `PickledObject` placeholders whose ``_parameters`` / ``_buffers`` / ``_modules`` are read back
(`module_state_dict`). Both of torch's file formats are read: the zip format (torch >= 1.6) and the legacy stream the
authors' torch 1.3 wrote. Anything else a pickle asks for raises `UnsafeCheckpointError` before it could run.
"""

from __future__ import annotations

import _compat_pickle
import collections
import io
import logging
import os
import pickle
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

logger = logging.getLogger(__name__)

__all__ = [
    "OfficialCheckpointError",
    "PickledObject",
    "UnsafeCheckpointError",
    "load_official_file",
    "module_state_dict",
]

# torch.serialization's legacy stream: magic number, then protocol version (both pickled ints).
LEGACY_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL_VERSION = 1001
PICKLE_PROTO_OPCODE = b"\x80"  # every pickle of protocol >= 2 starts with PROTO


class OfficialCheckpointError(ValueError):
    """The file is not a readable official checkpoint (wrong kind, truncated, unexpected contents)."""


class UnsafeCheckpointError(OfficialCheckpointError):
    """The pickle asks for something other than tensors, containers and module placeholders; nothing was run."""


# =====================================================================================================================
# Restricted unpickling
# =====================================================================================================================
class PickledObject:
    """Inert stand-in for a class named in a pickle (the authors' modules, torch.nn layers, torchvision ResNets).

    It never runs code of the class it replaces: construction stores the arguments, ``__setstate__`` stores the
    state. ``qualified_name`` says which class it replaces; ``state`` is the pickled ``__dict__`` (for modules:
    ``_parameters``, ``_buffers``, ``_modules``, plain attributes).
    """

    qualified_name = "?"

    def __new__(cls, *args: Any, **kwargs: Any) -> PickledObject:
        instance = super().__new__(cls)
        instance.__dict__["args"] = args
        instance.__dict__["state"] = {}
        return instance

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # noqa: D107 - accepts and ignores REDUCE arguments
        pass

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2:  # (__dict__, __slots__ state)
            merged = dict(state[0] or {})
            merged.update(state[1] or {})
            state = merged
        if isinstance(state, dict):
            self.__dict__["state"].update(state)

    def __repr__(self) -> str:
        return f"<pickled {self.qualified_name}>"


_PLACEHOLDER_CLASSES: dict[str, type[PickledObject]] = {}
# Classes under these modules become placeholders (their code is never imported).
PLACEHOLDER_MODULE_PREFIXES = (
    "inference.",
    "torch.nn.modules.",
    "torch.nn.backends.",
    "torch.nn.parallel.",
    "torchvision.models.",
)


def _placeholder_class(module: str, name: str) -> type[PickledObject]:
    qualified = f"{module}.{name}"
    if qualified not in _PLACEHOLDER_CLASSES:
        _PLACEHOLDER_CLASSES[qualified] = type(name, (PickledObject,), {"qualified_name": qualified})
    return _PLACEHOLDER_CLASSES[qualified]


@dataclass
class _Storage:
    """A flat typed storage: ``data`` is a 1-D tensor (None during the legacy format's first, data-less pass)."""

    dtype: torch.dtype
    data: torch.Tensor | None


class _Marker:
    """Base of the shared, immutable objects `find_class` hands out for storage and tensor classes.

    A pickle may try to BUILD (set state on) anything it has a reference to; these refuse, so one file cannot change
    how the next one is read.
    """

    __slots__ = ()

    def __setstate__(self, state: Any) -> None:
        raise UnsafeCheckpointError(f"the pickle tried to modify {self!r}; refused.")

    def __setattr__(self, name: str, value: Any) -> None:
        raise UnsafeCheckpointError(f"the pickle tried to modify {self!r}; refused.")


class _StorageType(_Marker):
    """What ``torch.FloatStorage`` & co. resolve to: only their element type matters."""

    __slots__ = ("dtype",)

    def __init__(self, dtype: torch.dtype):
        object.__setattr__(self, "dtype", dtype)

    def __repr__(self) -> str:
        return f"<storage type {self.dtype}>"


class _TensorType(_Marker):
    """What ``torch.Tensor`` / ``torch.nn.Parameter`` resolve to (arguments of ``_rebuild_from_type_v2``)."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        object.__setattr__(self, "name", name)

    def __repr__(self) -> str:
        return f"<tensor type {self.name}>"


class _LegacyBackend(_Marker):
    """What ``torch.nn.backends.thnn._get_thnn_function_backend`` resolves to.

    torch 1.0-1.2 stored every module's ``_backend`` attribute as a call of that function. The call lands here and
    returns this same inert object, which nothing reads: torch's function itself is never looked up or run.
    """

    __slots__ = ()

    def __call__(self, *args: Any, **kwargs: Any) -> _LegacyBackend:
        return self

    def __repr__(self) -> str:
        return "<legacy torch backend, unused>"


class _AdmittedFunction(_Marker):
    """One of our rebuild functions as `find_class` hands it out: callable, but a pickle cannot BUILD on it (a plain
    function would take new ``__defaults__`` from a crafted file and break every later load in the process)."""

    __slots__ = ("function",)

    def __init__(self, function: Callable[..., Any]):
        object.__setattr__(self, "function", function)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.function(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<checkpoint reader's {self.function.__name__}>"


def _rebuild_tensor(
    storage: _Storage,
    storage_offset: int,
    size: tuple[int, ...],
    stride: tuple[int, ...],
    requires_grad: bool = False,
    backward_hooks: Any = None,
    metadata: Any = None,
) -> torch.Tensor | None:
    """Our ``torch._utils._rebuild_tensor_v2``: a strided view of a storage, bounds-checked."""
    if not isinstance(storage, _Storage):
        raise UnsafeCheckpointError(f"a tensor was to be rebuilt from a {type(storage).__name__}, not a storage.")
    size, stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)
    if storage.data is None:
        return None  # legacy format, first pass: storages are read after the object tree
    if len(size) != len(stride) or min((*size, *stride, int(storage_offset)), default=0) < 0:
        raise OfficialCheckpointError(f"corrupt tensor record: size {size}, stride {stride}, offset {storage_offset}.")
    extent = int(storage_offset) + sum((s - 1) * st for s, st in zip(size, stride)) + 1 if all(size) else 0
    if extent > storage.data.numel():
        raise OfficialCheckpointError(
            f"corrupt tensor record: it needs {extent} elements but its storage holds {storage.data.numel()}."
        )
    return storage.data.as_strided(size, stride, int(storage_offset))


def _rebuild_parameter(data: Any, requires_grad: bool = False, backward_hooks: Any = None, state: Any = None) -> Any:
    """Our ``torch._utils._rebuild_parameter(_with_state)``: a parameter is read as its plain tensor."""
    return data


def _rebuild_from_type(func: Any, new_type: Any, args: tuple, state: Any = None) -> Any:
    """Our ``torch._tensor._rebuild_from_type_v2``: only admitted rebuild functions may be called."""
    if func not in (_REBUILD_TENSOR, _REBUILD_PARAMETER):
        raise UnsafeCheckpointError(f"a tensor subclass asked to be rebuilt by {func!r}; refused.")
    return func(*args)


def _reconstructor(cls: Any, base: Any, state: Any = None) -> Any:
    """Our ``copyreg._reconstructor`` (protocol 0/1 objects): placeholders and ordered dicts only."""
    if isinstance(cls, type) and issubclass(cls, PickledObject) and base is object:
        return cls.__new__(cls)
    if cls is collections.OrderedDict:
        return collections.OrderedDict()
    raise UnsafeCheckpointError(f"copyreg._reconstructor asked for {cls!r} on {base!r}; refused.")


_STORAGE_DTYPES = {
    "FloatStorage": torch.float32,
    "DoubleStorage": torch.float64,
    "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16,
    "LongStorage": torch.int64,
    "IntStorage": torch.int32,
    "ShortStorage": torch.int16,
    "CharStorage": torch.int8,
    "ByteStorage": torch.uint8,
    "BoolStorage": torch.bool,
    "UntypedStorage": torch.uint8,
}
_REBUILD_TENSOR, _REBUILD_PARAMETER = _AdmittedFunction(_rebuild_tensor), _AdmittedFunction(_rebuild_parameter)
_REBUILD_FROM_TYPE = _AdmittedFunction(_rebuild_from_type)
_ADMITTED: dict[tuple[str, str], Any] = {
    ("torch._utils", "_rebuild_tensor_v2"): _REBUILD_TENSOR,
    ("torch._utils", "_rebuild_tensor"): _REBUILD_TENSOR,
    ("torch._utils", "_rebuild_parameter"): _REBUILD_PARAMETER,
    ("torch._utils", "_rebuild_parameter_with_state"): _REBUILD_PARAMETER,
    ("torch._tensor", "_rebuild_from_type_v2"): _REBUILD_FROM_TYPE,
    ("torch.tensor", "_rebuild_from_type_v2"): _REBUILD_FROM_TYPE,
    ("torch", "Tensor"): _TensorType("Tensor"),
    ("torch._tensor", "Tensor"): _TensorType("Tensor"),
    ("torch.nn.parameter", "Parameter"): _TensorType("Parameter"),
    ("torch", "Size"): torch.Size,
    ("torch", "device"): torch.device,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "slice"): slice,
    ("builtins", "complex"): complex,
    ("builtins", "object"): object,
    ("copyreg", "_reconstructor"): _AdmittedFunction(_reconstructor),
    ("torch.nn.backends.thnn", "_get_thnn_function_backend"): _LegacyBackend(),
    **{("torch", name): _StorageType(dtype) for name, dtype in _STORAGE_DTYPES.items()},
    **{("torch.storage", name): _StorageType(dtype) for name, dtype in _STORAGE_DTYPES.items()},
    **{
        ("torch", name): getattr(torch, name)
        for name in ("float32", "float64", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8", "bool")
    },
}


class _RestrictedUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` whose ``find_class`` admits only `_ADMITTED` and placeholder classes.

    ``load_storage(saved_id)`` serves torch's persistent ids (storages); module classes saved by the legacy format
    as persistent ids arrive through ``find_class`` too, so they become placeholders like every other module.
    """

    def __init__(self, file: io.BufferedIOBase, load_storage: Callable[[tuple], _Storage], source: str):
        super().__init__(file, encoding="utf-8")
        self._load_storage = load_storage
        self._source = source

    def find_class(self, module: str, name: str) -> Any:
        # Protocol-2 pickles use Python 2 names (__builtin__.set); the default find_class would translate them.
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        if (module, name) in _ADMITTED:
            return _ADMITTED[(module, name)]
        if module.startswith(PLACEHOLDER_MODULE_PREFIXES) and name[:1].isupper() and name.isidentifier():
            return _placeholder_class(module, name)
        raise UnsafeCheckpointError(
            f"{self._source}: refusing to load '{module}.{name}'. This file asks to run code that a checkpoint of "
            "tensors and modules never needs, so nothing was loaded or executed. Only open files you trust."
        )

    def persistent_load(self, saved_id: Any) -> Any:
        if not isinstance(saved_id, tuple) or not saved_id:
            raise OfficialCheckpointError(f"{self._source}: unexpected persistent id {saved_id!r}.")
        kind = saved_id[0].decode("ascii") if isinstance(saved_id[0], bytes) else saved_id[0]
        if kind == "module":  # legacy format: (module class, source file, source); the class is a placeholder
            return saved_id[1]
        if kind == "storage":
            return self._load_storage(saved_id[1:])
        raise OfficialCheckpointError(f"{self._source}: unknown persistent id kind {kind!r}.")


def _element_size(dtype: torch.dtype) -> int:
    return torch.empty((), dtype=dtype).element_size()


def _storage_from_bytes(raw: bytes, dtype: torch.dtype, numel: int, swap: bool, where: str) -> torch.Tensor:
    size = _element_size(dtype)
    if len(raw) != numel * size:
        raise OfficialCheckpointError(f"{where}: storage has {len(raw)} bytes, expected {numel * size} (truncated?).")
    flat = torch.frombuffer(bytearray(raw), dtype=torch.uint8) if raw else torch.empty(0, dtype=torch.uint8)
    if swap and size > 1:
        flat = flat.view(-1, size).flip(1).reshape(-1)
    return flat.view(dtype) if numel else torch.empty(0, dtype=dtype)


def _storage_dtype(storage_type: Any, where: str) -> torch.dtype:
    if not isinstance(storage_type, _StorageType):
        raise UnsafeCheckpointError(f"{where}: storage type {storage_type!r} is not a torch storage class.")
    return storage_type.dtype


def _load_zip(path: Path) -> Any:
    """torch's zip format: ``<archive>/data.pkl`` plus one raw record ``<archive>/data/<key>`` per storage."""
    source = str(path)
    with zipfile.ZipFile(path) as archive:
        pickles = [name for name in archive.namelist() if name.endswith("data.pkl") and name.count("/") == 1]
        if len(pickles) != 1:
            raise OfficialCheckpointError(f"{source} is a zip file but not a PyTorch checkpoint (no */data.pkl).")
        prefix = pickles[0][: -len("data.pkl")]
        byteorder = b"little"
        if f"{prefix}byteorder" in archive.namelist():
            byteorder = archive.read(f"{prefix}byteorder").strip()
        swap = byteorder.decode("ascii", "replace") != "little"
        storages: dict[str, _Storage] = {}

        def load_storage(record: tuple) -> _Storage:
            if len(record) != 4:
                raise OfficialCheckpointError(f"{source}: unexpected storage record {record!r}.")
            storage_type, key, _location, numel = record
            dtype = _storage_dtype(storage_type, source)
            key = str(key)
            if key not in storages:
                name = f"{prefix}data/{key}"
                try:
                    raw = archive.read(name)
                except KeyError:
                    raise OfficialCheckpointError(f"{source}: storage record '{name}' is missing.") from None
                storages[key] = _Storage(dtype, _storage_from_bytes(raw, dtype, int(numel), swap, source))
            stored = storages[key]
            return stored if stored.dtype == dtype else _Storage(dtype, stored.data.view(torch.uint8).view(dtype))

        return _RestrictedUnpickler(io.BytesIO(archive.read(pickles[0])), load_storage, source).load()


def _load_legacy(path: Path) -> Any:
    """torch < 1.6 stream: magic, protocol, sys_info, the object pickle, storage keys, then each storage's bytes.

    The storages come after the object tree, so the tree is read twice: first to learn each storage's type and
    size, then again with the data in hand.
    """
    source = str(path)
    with open(path, "rb") as file:
        header = [_RestrictedUnpickler(file, _no_storage, source).load() for _ in range(3)]
        if header[0] != LEGACY_MAGIC_NUMBER or header[1] != LEGACY_PROTOCOL_VERSION:
            raise OfficialCheckpointError(f"{source} is not a PyTorch checkpoint (no torch.save header).")
        sys_info = header[2] if isinstance(header[2], dict) else {}
        swap = not sys_info.get("little_endian", True)  # data is little-endian when written by a little-endian host
        tree_start = file.tell()
        layout: dict[str, tuple[torch.dtype, int]] = {}

        def record_storage(record: tuple) -> _Storage:
            storage_type, root_key, _location, numel, _view = _legacy_record(record, source)
            layout.setdefault(str(root_key), (_storage_dtype(storage_type, source), int(numel)))
            return _Storage(_storage_dtype(storage_type, source), None)

        _RestrictedUnpickler(file, record_storage, source).load()
        keys = _RestrictedUnpickler(file, _no_storage, source).load()
        if not isinstance(keys, list):
            raise OfficialCheckpointError(f"{source}: corrupt storage index.")
        file_size = os.fstat(file.fileno()).st_size
        data: dict[str, torch.Tensor] = {}
        for key in keys:
            key = str(key)
            if key not in layout:
                raise OfficialCheckpointError(f"{source}: storage '{key}' is listed but never used.")
            dtype, numel = layout[key]
            count = int.from_bytes(_read_exactly(file, 8, source), "little", signed=True)
            if count != numel or count * _element_size(dtype) > file_size - file.tell():
                raise OfficialCheckpointError(f"{source}: storage '{key}' is corrupt or the file is truncated.")
            data[key] = _storage_from_bytes(
                _read_exactly(file, count * _element_size(dtype), source), dtype, count, swap, source
            )

        def load_storage(record: tuple) -> _Storage:
            storage_type, root_key, _location, _numel, view = _legacy_record(record, source)
            dtype = _storage_dtype(storage_type, source)
            if str(root_key) not in data:
                raise OfficialCheckpointError(f"{source}: storage '{root_key}' has no data (truncated file?).")
            flat = data[str(root_key)]
            if view is not None:
                _view_key, offset, view_size = view
                flat = flat[int(offset) : int(offset) + int(view_size)]
            return _Storage(dtype, flat)

        file.seek(tree_start)
        return _RestrictedUnpickler(file, load_storage, source).load()


def _legacy_record(record: tuple, source: str) -> tuple:
    if len(record) != 5:
        raise OfficialCheckpointError(f"{source}: unexpected storage record {record!r}.")
    return record


def _no_storage(record: tuple) -> _Storage:
    raise OfficialCheckpointError(f"unexpected storage reference {record!r} outside the object tree.")


def _read_exactly(file: io.BufferedIOBase, size: int, source: str) -> bytes:
    data = file.read(size)
    if len(data) != size:
        raise OfficialCheckpointError(f"{source} is truncated: it ends inside a tensor's data.")
    return data


# What a malformed pickle or archive can raise inside the standard library and torch.
_READ_ERRORS = (
    pickle.UnpicklingError,
    EOFError,
    zipfile.BadZipFile,
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    RuntimeError,
    OverflowError,
    MemoryError,
    UnicodeDecodeError,
)


def load_official_file(path: str | os.PathLike) -> Any:
    """Read a ``torch.save`` file (zip or legacy format) without executing any code from it.

    Tensors come back as CPU tensors; the authors' modules as `PickledObject` placeholders (see `module_state_dict`).

    Raises:
        FileNotFoundError: no such file.
        UnsafeCheckpointError: the pickle references anything beyond tensors, containers and module classes.
        OfficialCheckpointError: not a PyTorch checkpoint, or truncated / corrupt.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        if zipfile.is_zipfile(path):
            return _load_zip(path)
        with open(path, "rb") as file:
            start = file.read(4)
        if start == b"PK\x03\x04":  # a zip whose directory at the end is missing: cut short
            raise OfficialCheckpointError(
                f"{path} is a truncated or damaged PyTorch checkpoint (its zip directory is missing); copy or "
                "download it again."
            )
        if start[:1] != PICKLE_PROTO_OPCODE:
            raise OfficialCheckpointError(
                f"{path} is not a PyTorch checkpoint (neither torch's zip nor its pickle format)."
            )
        return _load_legacy(path)
    except OfficialCheckpointError:
        raise
    except _READ_ERRORS as error:
        raise OfficialCheckpointError(
            f"{path} is not a readable PyTorch checkpoint (truncated or not a torch.save file): "
            f"{type(error).__name__}: {error}"
        ) from error


def module_state_dict(module: PickledObject, prefix: str = "") -> dict[str, torch.Tensor]:
    """The state dict a pickled ``nn.Module`` would give: parameters and persistent buffers, recursively."""
    state_dict: dict[str, torch.Tensor] = {}
    seen: set[int] = set()

    def visit(node: Any, path: str) -> None:
        if not isinstance(node, PickledObject) or id(node) in seen:
            return
        seen.add(id(node))
        state = node.state
        skipped = set(state.get("_non_persistent_buffers_set") or ())
        for group in ("_parameters", "_buffers"):
            for name, tensor in (state.get(group) or {}).items():
                if isinstance(tensor, torch.Tensor) and not (group == "_buffers" and name in skipped):
                    state_dict[path + name] = tensor
        for name, child in (state.get("_modules") or {}).items():
            visit(child, f"{path}{name}.")

    visit(module, prefix)
    return state_dict


# =====================================================================================================================
