"""The fused decoding step of a whole model compiled by ``torch.compile`` (``policy.compile_decode``).

A fused step (:func:`treecredit.models.hf_fast_step.decode_step`, ``GPT.decode_step``) is still a few dozen
small operations per layer between the matrix products, and on a CPU each of them finds the caches cold
after a product has streamed megabytes of weights. Compiled as one graph (TorchInductor: the norms,
rotary embeddings, residuals, SiLU and cache writes fused into a few C++ loops, called from one generated
function), the step runs with fewer, larger operations and no Python between them. Compiling each layer's
halves apart (the cache written eagerly between them) did not pay: 0–14 % slower than the fused step on
SmolLM2-135M; the whole step did (docs/sampling.md, "Decoder step against its floors").

How the step is made compilable once for every batch:

- the caches' own buffers are kept, so copy-on-write, selection and snapshots stay those of
  :mod:`treecredit.models.hf_cache` and :mod:`treecredit.models.kv_buffer`: a ``transformers`` layer makes
  room first (``GrowingLayer.room_for``), a small GPT layer is extended by a zero column (``GrowingKV.extend``),
  and the graph writes the real keys and values into that column of the buffer behind the cache's view
  (its leading rows; a layer whose keys are not the leading columns of a contiguous buffer takes a
  contiguous copy first);
- rows, cache length and buffer room are marked dynamic (``torch._dynamo.mark_dynamic``) and equal sizes
  are not assumed equal (no duck sizing), so one compilation serves every step of every batch; the
  attention mask is always given (zeros without padding), so there is one graph, not one with and one
  without padding;
- a batch of one row (a size of 1 would be specialised), or gradients on, run the eager fused step.

Compiling takes seconds to minutes (measured on this 2-core machine, shared: small GPT 17–28 s the first
time, 4–6 s later; SmolLM2-135M 56–105 s wall the first time, ~14 s in a later process from TorchInductor's
on-disk cache), and the gain is small (SmolLM2: 0.94–0.98× the fused step; small GPT: none, and slower at
4–16 rows). Hence the setting ``"auto"`` (what :class:`~treecredit.models.HFPolicy` and the trainer use by
default; :func:`wanted`): compiled for a model of at least :data:`AUTO_MIN_PARAMS` parameters, where the
compilation is a minute against hours of decoding, eager below; a compilation that fails under ``"auto"``
(no C++ compiler, an unsupported build) warns once and leaves that model on the eager fused step.
``True``/``"on"`` always compiles (and raises when it cannot), ``False``/``"off"`` never does.
:func:`compile_counters` reports the graphs compiled (benchmarks and tests check that there is one graph per
model, i.e. no recompilation).
"""

from __future__ import annotations

import sys
import warnings
import weakref

import torch

from treecredit.models.param_count import parameter_count_text

BACKEND = "inductor"  # tests may set "eager" / "aot_eager" to check the tracing alone, without C++ compiles
AUTO_MIN_PARAMS = 50_000_000  # "auto" compiles from here on (the trainer's large-model line, training.evaluation)
SETTINGS = ("auto", "on", "off")
_compiled: dict = {}
_seen: set = set()  # run()'s keys called once already
_failed: weakref.WeakSet = weakref.WeakSet()  # modules whose compilation failed under "auto": eager from then on
NOTE_LISTENERS: list = []
"""Callables also given the note :func:`run` prints when it compiles (a training run's ``RunLog`` adds its
``write`` while the run runs: the note reaches the run's log.txt)."""
_sizes: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # module → its parameter count


def setting_of(value) -> str:
    """``"auto"``, ``"on"`` or ``"off"`` from a ``compile_decode`` value (``True`` → on, ``False``/None → off).

    Raises:
        ValueError: naming ``compile_decode``, for anything else."""
    if value is True or value is False or value is None:
        return "on" if value else "off"
    if isinstance(value, str) and value.lower() in SETTINGS:
        return value.lower()
    from treecredit._validation import fail

    fail("compile_decode", f"is {value!r}", "pass 'auto' (compiled for models of ≥ 50M parameters), 'on' or 'off'")
    raise AssertionError  # fail raises


def wanted(value, module) -> bool:
    """Whether the decoding step of ``module`` should run compiled under ``compile_decode = value``: ``"on"``
    always, ``"off"`` never, ``"auto"`` when ``module`` has at least :data:`AUTO_MIN_PARAMS` parameters and
    its compilation has not failed (the count is read once per module)."""
    setting = setting_of(value)
    if setting != "auto":
        return setting == "on"
    return _size(module) >= AUTO_MIN_PARAMS and module not in _failed


def _size(module) -> int:
    """``module``'s parameter count, counted once per module."""
    size = _sizes.get(module)
    if size is None:
        size = _sizes[module] = sum(p.numel() for p in module.parameters())
    return size


def compiled(fn):
    """``torch.compile(fn)`` for :data:`BACKEND` (one per function and backend, made on first use)."""
    key = (fn, BACKEND)
    if key not in _compiled:
        _compiled[key] = torch.compile(fn, backend=BACKEND, dynamic=None)
    return _compiled[key]


def buffer_of(view):
    """The contiguous buffer whose leading rows (dim 0) and columns (dim 2) ``view (B, H, L, D)`` is, cut to
    its ``B`` rows (the spare rows are left out; the spare columns stay), or None. ``view`` itself when it is
    contiguous and not a view."""
    base = view._base
    if base is None and view.is_contiguous():
        return view
    if (base is None or base.dim() != 4 or not base.is_contiguous() or view.data_ptr() != base.data_ptr()
            or view.stride() != base.stride() or view.shape[1] != base.shape[1] or view.shape[3] != base.shape[3]
            or view.shape[0] > base.shape[0] or view.shape[2] > base.shape[2]):
        return None
    return base if base.shape[0] == view.shape[0] else base[:view.shape[0]]


def buffers_of(keys, values) -> tuple:
    """``(key buffer, value buffer, copied)`` behind a cache layer's ``keys`` / ``values`` views; when they are
    not a contiguous buffer's leading columns, contiguous copies (``copied`` True: the layer must take them)."""
    pair = buffer_of(keys), buffer_of(values)
    if pair[0] is None or pair[1] is None:
        return keys.contiguous(), values.contiguous(), True
    return pair[0], pair[1], False


def write_column(key_buffer, value_buffer, keys, values, length: int) -> tuple:
    """Inside the graph: ``keys`` / ``values (B, H, 1, D)`` into column ``length − 1`` of the buffers; returns
    the cache's ``(B, H, length, D)`` views."""
    key_buffer[:, :, length - 1:length] = keys
    value_buffer[:, :, length - 1:length] = values
    return key_buffer[:, :, :length], value_buffer[:, :, :length]


def run(fn, key, dynamic: list, *args, module=None, setting="on"):
    """Call the compiled ``fn(*args)``. The first call for ``key`` (a model's weights and dtype: where a
    compilation is due) marks the ``(tensor, dims)`` pairs of ``dynamic`` as dynamic sizes (rows, cache
    length, room) and switches duck sizing off (sizes that happen to be equal are not assumed equal), so
    later steps where they differ do not compile again; later calls skip both (a compiled graph's guards
    do not need the marks, and they cost ~10 µs a tensor). The first call says on standard error that it
    compiles (it takes a minute for a 100M-parameter model).

    Returns ``fn``'s output, or None when the compilation failed under ``setting="auto"`` (a
    ``RuntimeWarning`` says why, once; ``module`` stays on the eager step from then on: :func:`wanted`).

    Raises:
        RuntimeError: the compilation failed under ``setting="on"`` (the message says how to turn it off)."""
    import torch.fx.experimental._config as fx_config

    if key in _seen:
        return compiled(fn)(*args)
    for tensor, dims in dynamic:
        for dim in dims:
            torch._dynamo.mark_dynamic(tensor, dim)
    if module is not None:
        size = _size(module)
        of_size = f" of a {parameter_count_text(size)}-parameter model" if size else ""
        note = (f"treecredit: compiling the decoding step{of_size} with torch.compile (once per process: about a "
                "minute the first time, seconds from TorchInductor's disk cache; compile_decode='off' / "
                "--compile-decode off skips it)")
        print(note, file=sys.stderr, flush=True)
        for listener in list(NOTE_LISTENERS):  # a training run's log.txt
            listener(note)
    duck, fx_config.use_duck_shape = fx_config.use_duck_shape, False
    try:
        out = compiled(fn)(*args)
    except Exception as error:  # e.g. no C++ compiler for TorchInductor (BackendCompilerFailed)
        if setting != "auto":
            raise RuntimeError(f"compile_decode: torch.compile could not compile the decoding step ({error}); "
                               "set policy.compile_decode = 'off' (--compile-decode off; the eager fused step "
                               "gives the same tokens)") from error
        if module is not None:
            _failed.add(module)
        warnings.warn(f"compile_decode='auto': torch.compile could not compile the decoding step "
                      f"({type(error).__name__}: {str(error)[:300]}); decoding runs the eager fused step "
                      "instead (same tokens within float rounding; pass compile_decode='off' to skip the "
                      "attempt)", RuntimeWarning, stacklevel=3)
        return None
    finally:
        fx_config.use_duck_shape = duck
    _seen.add(key)
    return out


def compile_counters() -> dict:
    """``{"graphs": n}``: graphs ``torch._dynamo`` compiled in this process so far (each recompilation adds
    one, so one graph per model means it was never compiled again)."""
    from torch._dynamo.utils import counters

    return {"graphs": int(counters["stats"]["unique_graphs"])}
