"""Which path a bundle runs on this CPU (int8, bf16 or f32), and why, in one line.

"Precision" means three things here, and each has its own name, declared once:

    weight format   how an IR stores its weights: fp32, fp16 or int8 (`core.bundle.WEIGHT_FORMATS`, convert's
                    --precision)
    path            what a classifier runs, `PATHS` (`--precision` of classify/score/serve/bench, or auto):
                      f32   the float IR (model.xml) in f32 arithmetic: results equal TensorFlow's to ~1e-6
                      bf16  the float IR in bfloat16 arithmetic
                      int8  the INT8 IR (model-int8.xml); the ops NNCF left in float run in bf16 where the
                            CPU has it natively, else in f32 (`path_ir`)
    arithmetic hint OpenVINO's INFERENCE_PRECISION_HINT for the float ops, `ARITHMETIC_HINTS`

auto runs the fastest path *measured on this machine* among those it may run (f32 always; bf16 where the CPU has
it natively and int8 where the bundle has an INT8 IR, each only once its accuracy passed the guard below), within
`TOLERANCE` preferring the more accurate one (f32, then bf16, then int8). The measurement is cached per
machine, OpenVINO version and IR (infer/autotune.py). Flags alone mislead: on an AMX Xeon bf16 is faster than INT8
(184 vs 171 seq/s at 128 tokens), on this AMD EPYC with VNNI but no AMX INT8 is. Where nothing is measured yet
(classify does not stop to measure; score, serve, bench and `bertvino tune` do) or nothing can be cached, auto
falls back to `capability_rule`, which knows AMX.

The accuracy guard: auto runs a non-f32 path only if bundle.json records, for it, an accuracy on labelled held-out
reviews within `MAX_ACCURACY_LOSS` of f32's on the same reviews, and the same label as f32 on at least
`MIN_AGREEMENT` of them (`bertvino validate` measures and records it). `--precision` (or $BERTVINO_PRECISION)
forces a path regardless.
"""

import dataclasses
import os
from pathlib import Path

from ..core.bundle import FLOAT_IR, INT8_IR, Bundle
from ..core.errors import BertvinoError
from .cache import model_cache

PATHS = ("f32", "bf16", "int8")  # most accurate first: the order auto prefers among paths equally fast
PATH_CHOICES = ("auto", *PATHS)  # what --precision accepts
ARITHMETIC_HINTS = ("f32", "bf16", "f16", "auto")  # OpenVINO's INFERENCE_PRECISION_HINT; auto: the device's own
PRECISION_ENV = "BERTVINO_PRECISION"  # the path to run when --precision is not given
FAST_INT8_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")  # /proc/cpuinfo names
AMX_FLAGS = ("amx_bf16", "amx_int8")
MAX_ACCURACY_LOSS = 0.003  # 0.3 points
MIN_AGREEMENT = 0.99
MIN_REVIEWS = 1000  # fewer cannot show 99 % agreement or a 0.3-point loss with any confidence

TOLERANCE = 0.03  # a more accurate path within 3 % of the fastest is taken instead: timings vary by that much


@dataclasses.dataclass(frozen=True)
class Capabilities:
    """What this CPU computes fast: its /proc/cpuinfo flags and OpenVINO's OPTIMIZATION_CAPABILITIES."""

    cpu_flags: frozenset = frozenset()
    openvino: frozenset = frozenset()  # e.g. {"FP32", "BF16", "INT8", ...}
    cpu_model: str = ""

    @property
    def fast_int8(self) -> tuple:
        """The CPU's int8 dot-product extensions (empty: int8 runs, but no faster than f32)."""
        return tuple(flag for flag in FAST_INT8_FLAGS if flag in self.cpu_flags)

    @property
    def amx(self) -> tuple:
        return tuple(flag for flag in AMX_FLAGS if flag in self.cpu_flags)

    @property
    def native_bf16(self) -> bool:
        return "BF16" in self.openvino


def detect_capabilities(core=None) -> Capabilities:
    """This machine's capabilities for the CPU device (no flags off Linux: INT8 is then never assumed fast). The
    fast-int8 flags come from /proc/cpuinfo because OpenVINO lists INT8 on every x86 CPU (it runs int8 anywhere,
    slowly without VNNI); native bf16 comes from OpenVINO, which is exactly when its CPU plugin computes in bf16."""
    import openvino as ov

    flags, model = set(), ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name") and not model:
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    core = core or ov.Core()
    return Capabilities(cpu_flags=frozenset(flags), cpu_model=model,
                        openvino=frozenset(core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")))


@dataclasses.dataclass(frozen=True)
class Choice:
    """The path a classifier runs, the IR and arithmetic hint that make it, and why (short enough for one line)."""

    path: str | None  # one of PATHS; None on a device bertvino chooses nothing for (GPU, AUTO, ...)
    model_xml: Path
    hint: str  # one of ARITHMETIC_HINTS
    reason: str
    measured: dict | None = None  # the table auto picked from, {path: seq/s}, when it was measured

    def line(self) -> str:
        """What classify/score/serve print once on stderr: "int8 (model-int8.xml): fastest measured here, ..."."""
        return f"{self.path or 'device default'} ({self.model_xml.name}): {self.reason}"


def requested_path(flag: str | None) -> tuple:
    """(path or "auto", where it came from): --precision when given, else $BERTVINO_PRECISION, else auto."""
    if flag is not None:
        if flag not in PATH_CHOICES:
            raise BertvinoError(f"unknown precision {flag!r}: choose one of {', '.join(PATH_CHOICES)}")
        return flag, f"--precision {flag}"
    value = os.environ.get(PRECISION_ENV, "").strip()
    if not value:
        return "auto", "auto"
    if value not in PATH_CHOICES:
        raise BertvinoError(f"{PRECISION_ENV}={value!r} in the environment: choose one of {', '.join(PATH_CHOICES)}")
    return value, f"{PRECISION_ENV}={value}"


def guard(bundle: Bundle, path: str) -> tuple:
    """(passed, why): does bundle.json show `path` as accurate as f32 on the same labelled reviews?"""
    test = bundle.path_accuracy(path).get("test") or {}
    if not {"accuracy", "float_accuracy", "agreement"} <= test.keys():
        return False, (f"its accuracy has not been measured (run `bertvino validate -m {bundle.path} --data "
                       f"HELD_OUT_REVIEWS --precision {path}`)")
    loss, agreement = test["float_accuracy"] - test["accuracy"], test["agreement"]
    measured = (f"{100 * test['accuracy']:.2f} % vs {100 * test['float_accuracy']:.2f} % f32 on "
                f"{test.get('reviews', '?')} reviews, {100 * agreement:.2f} % same labels")
    if test.get("reviews", 0) < MIN_REVIEWS:
        return False, f"measured on too few reviews (the guard needs {MIN_REVIEWS:,}): {measured}"
    if loss > MAX_ACCURACY_LOSS + 1e-9:  # the tolerance keeps exactly 0.3 points (0.9118 - 0.9088) inside
        return False, f"it loses {100 * loss:.2f} points (> {100 * MAX_ACCURACY_LOSS:.1f}): {measured}"
    if agreement < MIN_AGREEMENT - 1e-9:
        return False, f"it agrees with f32 on fewer than {100 * MIN_AGREEMENT:.0f} %: {measured}"
    return True, measured


def usable_paths(capabilities: Capabilities, bundle: Bundle) -> tuple:
    """([paths auto may run, most accurate first], {path: why not} for the others)."""
    usable, refused = ["f32"], {}
    if not capabilities.native_bf16:
        refused["bf16"] = "this CPU has no native bf16"
    if not bundle.has_int8_ir:
        refused["int8"] = "the bundle has no INT8 IR"
    for path in ("bf16", "int8"):
        if path not in refused:
            passed, why = guard(bundle, path)
            if passed:
                usable.append(path)
            else:
                refused[path] = f"not trusted: {why}"
    return usable, refused


def capability_rule(capabilities: Capabilities, usable) -> tuple:
    """(path, why) by CPU flags alone, for when nothing is measured: AMX -> bf16 (AMX's bf16 tiles beat its int8
    path with NNCF's IR); VNNI without AMX -> int8; native bf16 -> bf16; else f32; each only among `usable`."""
    if capabilities.amx:
        order, flags = ("bf16", "int8"), f"{', '.join(capabilities.amx)}: bf16 first"
    elif capabilities.fast_int8:
        order, flags = ("int8", "bf16"), f"{', '.join(capabilities.fast_int8)} without AMX: int8 first"
    elif capabilities.native_bf16:
        order, flags = ("bf16",), "native bf16, no fast int8: bf16 first"
    else:
        order, flags = (), "no fast int8 or bf16"
    path = next((path for path in order if path in usable), "f32")
    return path, flags


def path_ir(bundle: Bundle, path: str, native_bf16: bool = False) -> tuple:
    """(the IR, the arithmetic hint) that run `path`: bf16 and f32 are the float IR in that arithmetic; int8 is the
    INT8 IR with the ops NNCF left in float (LayerNorm, softmax, the residual adds, the FakeQuantize/dequantize
    around them) in bf16 where the CPU computes bf16 natively, else in f32. On the AMD EPYC (Zen 5) bf16 leftovers
    made the int8 engine faster at the same accuracy (docs/precision-and-speed.md, "Where INT8's time goes");
    without native bf16, OpenVINO would emulate it, slowly."""
    if path == "int8":
        return bundle.int8_xml, int8_float_hint(native_bf16)
    return bundle.model_xml, path


def int8_float_hint(native_bf16: bool) -> str:
    """The arithmetic of the float ops in the INT8 IR: bf16 where native, else f32."""
    return "bf16" if native_bf16 else "f32"


def forced_choice(capabilities: Capabilities, bundle: Bundle, path: str, source: str) -> Choice:
    """The choice for a path asked for by name (`source`: the flag or variable that asked)."""
    if bundle.precision == "int8":  # a bundle from before the INT8 IR moved beside the float one
        return Choice("int8", bundle.model_xml, int8_float_hint(capabilities.native_bf16),
                      f"{FLOAT_IR} is this bundle's only IR, and it is INT8")
    if path == "int8" and not bundle.has_int8_ir:
        raise BertvinoError(f"{bundle.path} has no INT8 IR ({INT8_IR}): make one with `bertvino convert "
                            f"{bundle.path} --precision int8 --calibration REVIEWS --calibration-split train`")
    slow = " (not native on this CPU: expect it to be slow)" if path == "bf16" and not capabilities.native_bf16 else ""
    return Choice(path, *path_ir(bundle, path, capabilities.native_bf16), f"asked for ({source}){slow}")


def choose_precision(capabilities: Capabilities, bundle: Bundle, requested: str | None = "auto",
                     measured: dict | None = None, unmeasured_why: str = "not measured on this machine yet") -> Choice:
    """The path for `requested` (None: $BERTVINO_PRECISION, else auto) on a CPU with `capabilities`; auto picks
    from `measured` ({path: seq/s}, see autotune) when it covers every usable path, else by `capability_rule`."""
    path, source = requested_path(requested)
    if path != "auto" or bundle.precision == "int8":
        return forced_choice(capabilities, bundle, path, source)
    usable, refused = usable_paths(capabilities, bundle)
    if usable == ["f32"]:
        why = "; ".join(f"not {other}: {reason}" for other, reason in refused.items())
        return Choice("f32", bundle.model_xml, "f32", f"the only path auto may run here ({why})")
    if measured and set(usable) <= set(measured):
        path, why = pick({p: measured[p] for p in usable})
        note = f"; {' and '.join(refused)} not run (see `bertvino info`)" if refused else ""
        guard_note = "; accuracy guard passed" if path != "f32" else ""
        return Choice(path, *path_ir(bundle, path, capabilities.native_bf16), f"{why}{guard_note}{note}", measured=measured)
    path, why = capability_rule(capabilities, usable)
    guard_note = ", accuracy guard passed" if path != "f32" else ""
    not_run = "".join(f"; not {other}: {reason}" for other, reason in refused.items())
    return Choice(path, *path_ir(bundle, path, capabilities.native_bf16), f"{unmeasured_why}, so by this CPU's flags ({why}){guard_note}"
                                                f"{not_run}")


def pick(seq_per_s: dict) -> tuple:
    """(path, why) from {path: seq/s}: the fastest, unless a more accurate path is within TOLERANCE of it."""
    fastest = max(seq_per_s, key=seq_per_s.get)
    for path in PATHS:  # most accurate first
        if path in seq_per_s and seq_per_s[path] >= (1 - TOLERANCE) * seq_per_s[fastest]:
            break
    f32 = seq_per_s.get("f32")
    speed = f"{seq_per_s[path] / f32:.2f}x f32" if f32 and path != "f32" else f"{seq_per_s[path]:.0f} seq/s"
    if path == fastest:
        return path, f"fastest measured here, {speed}"
    return path, (f"within {100 * TOLERANCE:.0f} % of the fastest measured here ({fastest}, "
                  f"{seq_per_s[fastest]:.0f} vs {seq_per_s[path]:.0f} seq/s) and more accurate")


def compile_config(device: str, performance_hint: str, arithmetic_hint: str, threads: int | None = None,
                   model_xml=None) -> dict:
    """OpenVINO properties for compiling the IR.

    `threads` caps the CPU threads OpenVINO uses (default: every core), so several processes that each hold a
    compiled model (Ray actors) share a machine's cores instead of each spreading over all of them.

    On CPUs with native bfloat16 (AVX512_BF16 or AMX), OpenVINO computes in bf16 unless told otherwise, which
    moves pooled outputs by ~1e-2; so the hint is always given: "f32" keeps results equal to TensorFlow's to
    ~1e-6, "bf16" is the faster half-precision arithmetic (`bertvino.infer.precision` decides which); "auto" leaves the
    device's own default (for GPUs and virtual devices).

    On the CPU, OpenVINO's model cache (CACHE_DIR, in bertvino's cache directory) keeps each compiled model, so a
    second `classify` loads it instead of compiling again; where the cache cannot be written, nothing is cached.
    Give `model_xml` when compiling from that file: its cache is then a directory of its own content
    (`cache.model_cache`), since OpenVINO would serve a file whose weights changed in place its old compile.
    Without it (a model compiled from memory, which OpenVINO hashes whole), no cache is used.
    """
    if arithmetic_hint not in ARITHMETIC_HINTS:
        raise BertvinoError(f"unknown arithmetic hint {arithmetic_hint!r}: choose one of {', '.join(ARITHMETIC_HINTS)}")
    config = {"PERFORMANCE_HINT": performance_hint}
    if arithmetic_hint != "auto" and not device.startswith(("AUTO", "MULTI", "HETERO", "BATCH")):
        config["INFERENCE_PRECISION_HINT"] = arithmetic_hint
    if threads is not None and device == "CPU":
        config["INFERENCE_NUM_THREADS"] = threads
    if device == "CPU" and model_xml is not None and (directory := model_cache(model_xml)) is not None:
        config["CACHE_DIR"] = str(directory)
    return config
