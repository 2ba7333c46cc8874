"""What machine a benchmark ran on: every results file records it, since CPUs differ in what they accelerate
(AVX-512 VNNI for INT8, AVX512_BF16/AMX for bfloat16)."""

import os
import platform
from pathlib import Path

# Instruction-set extensions that change which precision is fast.
NOTABLE_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16", "amx_int8")


def describe() -> dict:
    model, flags = platform.processor(), set()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
    import numpy
    import openvino
    return {"cpu": model, "cores": os.cpu_count(), "cpu_flags": [f for f in NOTABLE_FLAGS if f in flags],
            "python": platform.python_version(), "openvino": openvino.__version__, "numpy": numpy.__version__}
