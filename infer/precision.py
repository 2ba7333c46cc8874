"""Which arithmetic to run a bundle in on this CPU: INT8, bf16 or f32, and why.

    --precision f32   the float IR (model.xml) in f32 arithmetic: results equal TensorFlow's to ~1e-6
    --precision bf16  the float IR in bfloat16 arithmetic (OpenVINO's INFERENCE_PRECISION_HINT)
    --precision int8  the INT8 IR (model-int8.xml); the ops NNCF left in float run in f32
    --precision auto  (the default) the fastest of these this CPU runs natively, as below

auto decides by capability, not by a timing: INT8 where the CPU has fast int8 dot products (AVX512_VNNI, AVX_VNNI
or AMX-INT8) and the bundle's INT8 IR passed the accuracy guard; else bf16 where OpenVINO runs bf16 natively
(AVX512_BF16 or AMX-BF16); else f32. A timing would cost every first run seconds and vary with the machine's load,
and it would rarely change the answer: every CPU with native bf16 so far (Cooper Lake, Sapphire Rapids, Zen 4/5)
also has VNNI, so bf16 is only the pick for a bundle without a usable INT8 IR, and there OpenVINO itself chooses
bf16 by default on such CPUs. The fast-int8 flags come from /proc/cpuinfo because OpenVINO's
OPTIMIZATION_CAPABILITIES lists INT8 on every x86 CPU (it can run int8 anywhere, slowly without VNNI); native bf16
comes from OpenVINO ("BF16" in that list), which is exactly when its CPU plugin computes in bf16.

The accuracy guard: auto uses an INT8 IR only if bundle.json records, for it, an IMDB-test (or other labelled
test set) accuracy within `MAX_ACCURACY_LOSS` of the float IR's on the same reviews and the same label as the
float IR on at least `MIN_AGREEMENT` of them; `--precision int8` forces it regardless.
"""

import dataclasses
from pathlib import Path

from ..core.bundle import FLOAT_IR, INT8_IR, Bundle
from ..core.errors import BertvinoError

PRECISION_CHOICES = ("auto", "int8", "bf16", "f32")
FAST_INT8_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")  # /proc/cpuinfo names
MAX_ACCURACY_LOSS = 0.003  # 0.3 points
MIN_AGREEMENT = 0.99


@dataclasses.dataclass(frozen=True)
class Capabilities:
    """What this CPU computes fast: its /proc/cpuinfo flags and OpenVINO's OPTIMIZATION_CAPABILITIES."""

    cpu_flags: frozenset = frozenset()
    openvino: frozenset = frozenset()  # e.g. {"FP32", "BF16", "INT8", ...}

    @property
    def fast_int8(self) -> tuple:
        """The CPU's int8 dot-product extensions (empty: int8 runs, but no faster than f32)."""
        return tuple(flag for flag in FAST_INT8_FLAGS if flag in self.cpu_flags)

    @property
    def native_bf16(self) -> bool:
        return "BF16" in self.openvino


def detect_capabilities(core=None) -> Capabilities:
    """This machine's capabilities for the CPU device (no flags off Linux: INT8 is then never assumed fast)."""
    import openvino as ov

    flags = set()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    core = core or ov.Core()
    return Capabilities(cpu_flags=frozenset(flags),
                        openvino=frozenset(core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")))


@dataclasses.dataclass(frozen=True)
class Choice:
    """The IR and arithmetic a classifier runs, and one sentence saying why."""

    precision: str  # "int8", "bf16" or "f32"
    model_xml: Path
    inference_precision: str  # OpenVINO's INFERENCE_PRECISION_HINT for the float ops
    reason: str


def int8_guard(bundle: Bundle) -> tuple:
    """(passed, why): does bundle.json show the INT8 IR as accurate as the float IR?"""
    accuracy = bundle.ir_record(INT8_IR).get("accuracy") or {}
    test = accuracy.get("test") or {}
    if not {"accuracy", "float_accuracy", "agreement"} <= test.keys():
        return False, ("its accuracy has not been measured (bundle.json has no irs/model-int8.xml/accuracy/test "
                       "record; benchmarks/int8_accuracy.py --record writes one)")
    loss, agreement = test["float_accuracy"] - test["accuracy"], test["agreement"]
    measured = (f"{100 * test['accuracy']:.2f} % vs {100 * test['float_accuracy']:.2f} % float on "
                f"{test.get('reviews', '?')} test reviews, {100 * agreement:.2f} % same labels")
    if loss > MAX_ACCURACY_LOSS + 1e-9:  # the tolerance keeps exactly 0.3 points (0.9118 - 0.9088) inside
        return False, f"it loses {100 * loss:.2f} points (> {100 * MAX_ACCURACY_LOSS:.1f}): {measured}"
    if agreement < MIN_AGREEMENT - 1e-9:
        return False, f"it agrees with the float IR on fewer than {100 * MIN_AGREEMENT:.0f} %: {measured}"
    return True, measured


def choose_precision(capabilities: Capabilities, bundle: Bundle, requested: str = "auto") -> Choice:
    """The path for `--precision requested` on a CPU with `capabilities` (see the module docstring)."""
    if requested not in PRECISION_CHOICES:
        raise BertvinoError(f"unknown precision {requested!r}: choose one of {', '.join(PRECISION_CHOICES)}")
    float_ir = f"the {(bundle.precision or 'float').upper()} IR ({FLOAT_IR})"
    if bundle.precision == "int8":  # a bundle from before the INT8 IR moved beside the float one
        return Choice("int8", bundle.model_xml, "f32", f"{FLOAT_IR} is this bundle's only IR, and it is INT8")
    if requested == "f32":
        return Choice("f32", bundle.model_xml, "f32", f"asked for: {float_ir} in f32 arithmetic")
    if requested == "bf16":
        return Choice("bf16", bundle.model_xml, "bf16", f"asked for: {float_ir} in bf16 arithmetic"
                      + ("" if capabilities.native_bf16 else " (not native on this CPU: expect it to be slow)"))
    if requested == "int8":
        if not bundle.has_int8_ir:
            raise BertvinoError(f"{bundle.path} has no INT8 IR ({INT8_IR}): make one with `bertvino convert "
                                f"{bundle.path} --precision int8 --calibration REVIEWS --calibration-split train`")
        return Choice("int8", bundle.int8_xml, "f32", "asked for: the INT8 IR")

    if not bundle.has_int8_ir:
        int8_no = "the bundle has no INT8 IR"
    elif not capabilities.fast_int8:
        int8_no = "this CPU has no fast int8 arithmetic (no AVX512_VNNI, AVX_VNNI or AMX-INT8)"
    else:
        passed, why = int8_guard(bundle)
        if passed:
            return Choice("int8", bundle.int8_xml, "f32", f"the CPU has {', '.join(capabilities.fast_int8)} and "
                                                          f"the INT8 IR passed the accuracy guard ({why})")
        int8_no = f"the INT8 IR is not trusted: {why}"
    if capabilities.native_bf16:
        return Choice("bf16", bundle.model_xml, "bf16", f"not INT8 because {int8_no}; the CPU runs bf16 natively, "
                                                        f"so {float_ir} in bf16 arithmetic")
    return Choice("f32", bundle.model_xml, "f32", f"not INT8 because {int8_no}; no native bf16 either, so "
                                                  f"{float_ir} in f32 arithmetic")
