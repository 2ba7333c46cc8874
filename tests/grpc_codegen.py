"""Generates infer/grpc_predict_v2_pb2.py and _pb2_grpc.py from infer/grpc_predict_v2.proto (development only:
the generated modules are committed, so serving needs grpcio and protobuf but not grpcio-tools).

    python tests/grpc_codegen.py          # rewrite the two modules
    tests/test_open_inference.py          # fails when the committed modules differ from what this makes

Two edits to protoc's output, both so that the modules live inside the package:
- the service module imports the messages relatively (`from . import grpc_predict_v2_pb2`), as every import of the
  package is (tests/test_layout.py);
- the messages go to a descriptor pool of their own, not protobuf's default one: Triton's client defines the same
  protocol under the same names (inference.ModelInferRequest, ...), and the default pool refuses a second
  definition, so with it a process could not hold both bertvino's server and tritonclient.grpc.
"""

import subprocess
import sys
import tempfile
from pathlib import Path

INFER = Path(__file__).resolve().parent.parent / "infer"
PROTO = "grpc_predict_v2.proto"
MODULES = ("grpc_predict_v2_pb2.py", "grpc_predict_v2_pb2_grpc.py")
EDITS = {
    "grpc_predict_v2_pb2.py": [("_descriptor_pool.Default()", "_descriptor_pool.DescriptorPool()")],
    "grpc_predict_v2_pb2_grpc.py": [("import grpc_predict_v2_pb2 as", "from . import grpc_predict_v2_pb2 as")],
}


def generate() -> dict:
    """{module file name: text} as generated from the .proto now."""
    with tempfile.TemporaryDirectory() as out:
        subprocess.run([sys.executable, "-m", "grpc_tools.protoc", f"-I{INFER}", f"--python_out={out}",
                        f"--grpc_python_out={out}", str(INFER / PROTO)], check=True)
        texts = {name: (Path(out) / name).read_text() for name in MODULES}
    for name, edits in EDITS.items():
        for old, new in edits:
            assert texts[name].count(old) == 1, f"protoc's {name} changed: {old!r} is not there once"
            texts[name] = texts[name].replace(old, new)
    return texts


if __name__ == "__main__":
    for name, text in generate().items():
        (INFER / name).write_text(text)
        print(f"wrote {INFER / name}")
