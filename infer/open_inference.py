"""The Open Inference Protocol (KServe v2) over REST, beside TensorFlow Serving's API in the same app: the same
model, limits, metrics and dynamic batcher, so texts from both kinds of request share batches.

    GET  /v2                                      server metadata: name, version, extensions
    GET  /v2/models/NAME[/versions/V]             model metadata: the input and output tensors
    GET  /v2/models/NAME[/versions/V]/ready       200 {"ready": true} once warmed up, else 503
    POST /v2/models/NAME[/versions/V]/infer       texts in, labels and probabilities out

(/v2/health/live and /v2/health/ready are the server's own, in infer/server.py.) The model has one input and two
outputs, named as in the metadata:

    text           BYTES  [n] or [n, 1]   the texts, UTF-8
    label          BYTES  [n]             each text's most probable label
    probabilities  FP32   [n, labels]     each label's probability, in the model's label order
    explanation    BYTES  [n]             only with the request parameter "explain": true (REST): each text's
                                          word attributions as a JSON string, as :explain gives them

A tensor's elements travel in its "data" list (nested or flat, row-major), or, with the protocol's binary tensor
extension, after the JSON header of the body: `Inference-Header-Content-Length` says where the JSON ends, an
input's `binary_data_size` parameter how many bytes are its, and a BYTES element is a 4-byte little-endian length
followed by the bytes. tritonclient.http sends inputs that way and asks for binary outputs unless told otherwise, so
both directions are supported; the outputs come back binary when the request's `binary_data_output` parameter, or
an output's `binary_data` parameter, is true. Errors are {"error": "..."} with 400 (a malformed request or text),
404 (no such model or version), 413 (too much in one request) or 503 (warming up, at capacity, shutting down).

With `-m`, the one bundle is version "1"; with --model-repository, a path without a version goes to the model's
newest version and the metadata lists every version served (infer/repository.py). The protocol-neutral pieces
(the metadata, reading texts out of BYTES elements, the outputs' values) are shared with the gRPC front end
(infer/grpc_inference.py).
"""

import importlib.metadata
import json
import struct

import numpy as np
from starlette.responses import JSONResponse, Response

from ..core.errors import first_line
from .refusals import RETRY_AFTER_SECONDS, ApiError, check_count, check_texts, json_type

SERVER_NAME = "bertvino"
EXTENSIONS = ["binary_tensor_data"]
INPUT = "text"
LABEL, PROBABILITIES, EXPLANATION = "label", "probabilities", "explanation"
HEADER_LENGTH = "inference-header-content-length"


# --- shared with gRPC ----------------------------------------------------------------------------------------------

def server_metadata() -> dict:
    return {"name": SERVER_NAME, "version": importlib.metadata.version("bertvino"), "extensions": EXTENSIONS}


def check_model(service, name: str, version: str = ""):
    """The ServedVersion of `name` (`version`, else its newest), or 404 (infer/repository.py)."""
    return service.models.resolve(name, version)


def model_metadata(service, name: str, version: str = "") -> dict:
    """The metadata of `name`'s `version` (else its newest), listing every version served."""
    served = check_model(service, name, version)
    labels = len(served.classifier.bundle.labels)
    versions = [s.version for s in service.models.versions(name)]
    return {"name": served.name, "versions": versions, "platform": "openvino",
            "inputs": [{"name": INPUT, "datatype": "BYTES", "shape": [-1]}],
            "outputs": [{"name": LABEL, "datatype": "BYTES", "shape": [-1]},
                        {"name": PROBABILITIES, "datatype": "FP32", "shape": [-1, labels]}]}


def check_input(name: str, datatype: str, shape: list) -> int:
    """The number of texts an input tensor declares, or 400 saying what is wrong with its name, type or shape."""
    if name != INPUT:
        raise ApiError(400, f"unknown input '{name}': the model takes one BYTES input named '{INPUT}'", "bad_input")
    if datatype != "BYTES":
        raise ApiError(400, f"input '{INPUT}' must have datatype BYTES, not {datatype!r}", "bad_input")
    if not (isinstance(shape, list) and shape and all(type(size) is int for size in shape)
            and (len(shape) == 1 or shape[1:] == [1])):
        raise ApiError(400, f"input '{INPUT}' must have shape [n] or [n, 1], not {shape}", "bad_input")
    if shape[0] < 1:
        raise ApiError(400, f"input '{INPUT}' has shape {shape}: send at least one text", "bad_input")
    return shape[0]


def texts_from_bytes(elements: list, limits) -> list:
    """The texts of BYTES elements, decoded from UTF-8 and checked as every protocol's texts are."""
    texts = []
    for index, element in enumerate(elements):
        try:
            texts.append(element.decode("utf-8"))
        except UnicodeDecodeError:
            raise ApiError(400, f"{INPUT}[{index}] is not UTF-8 text", "bad_instance") from None
    return check_texts(texts, limits, what=INPUT)


def deserialize_bytes(data: bytes, count: int) -> list:
    """`count` BYTES elements from the binary form (each a 4-byte little-endian length, then its bytes)."""
    elements, offset = [], 0
    for index in range(count):
        if offset + 4 > len(data):
            raise ApiError(400, f"the binary data of input '{INPUT}' ends before element {index} of {count}",
                           "bad_input")
        (size,) = struct.unpack_from("<I", data, offset)
        offset += 4
        if offset + size > len(data):
            raise ApiError(400, f"the binary data of input '{INPUT}' ends inside element {index}", "bad_input")
        elements.append(data[offset:offset + size])
        offset += size
    if offset != len(data):
        raise ApiError(400, f"the binary data of input '{INPUT}' has {len(data) - offset} bytes after its {count} "
                            f"elements", "bad_input")
    return elements


def serialize_bytes(elements) -> bytes:
    return b"".join(struct.pack("<I", len(element)) + element for element in elements)


def output_values(served, predictions, names) -> dict:
    """{output name: (datatype, shape, NumPy array)} for the requested output names, in their order, from the
    ServedVersion that made the predictions."""
    labels = served.classifier.bundle.labels
    values = {LABEL: ("BYTES", [len(predictions)], np.array([p.label.encode() for p in predictions], dtype=object)),
              PROBABILITIES: ("FP32", [len(predictions), len(labels)],
                              np.array([[p.probabilities[label] for label in labels] for p in predictions],
                                       dtype=np.float32))}
    return {name: values[name] for name in names}


def check_outputs(names: list) -> list:
    """The requested output names (all of them when none are), or 400 for one the model does not have."""
    for name in names:
        if name not in (LABEL, PROBABILITIES):
            raise ApiError(400, f"unknown output '{name}': the model's outputs are '{LABEL}' and '{PROBABILITIES}'",
                           "bad_output")
    return names or [LABEL, PROBABILITIES]


# --- REST ----------------------------------------------------------------------------------------------------------

def routes(service, route) -> list:
    """The v2 REST routes, made with the app's `route(path, endpoint, handler, method)`."""
    endpoints = OpenInferenceRest(service)
    made = [route("/v2", "v2_server_metadata", endpoints.server_metadata, "GET")]
    for prefix in ("/v2/models/{name}", "/v2/models/{name}/versions/{version}"):
        made += [route(prefix, "v2_model_metadata", endpoints.model_metadata, "GET"),
                 route(prefix + "/ready", "v2_model_ready", endpoints.model_ready, "GET"),
                 route(prefix + "/infer", "v2_infer", endpoints.infer, "POST")]
    return made


class OpenInferenceRest:
    """The v2 endpoints over one `Service` (infer/server.py); each returns a response or raises ApiError."""

    def __init__(self, service):
        self.service = service

    async def server_metadata(self, request):
        return JSONResponse(server_metadata())

    async def model_metadata(self, request):
        return JSONResponse(model_metadata(self.service, *self._check_model(request)))

    async def model_ready(self, request):
        name, _ = self._check_model(request)
        ready = self.service.ready
        return JSONResponse({"name": name, "ready": ready}, status_code=200 if ready else 503,
                            headers=None if ready else {"Retry-After": str(RETRY_AFTER_SECONDS)})

    async def infer(self, request):
        name, version = self._check_model(request)
        header_length = request.headers.get(HEADER_LENGTH)
        parsed = await self.service.receive(request, lambda body: parse_infer_request(body, header_length,
                                                                                      self.service.limits))
        texts, outputs, request_id, explain = parsed
        if explain:  # the text and its variants in the shared batcher; the first variant is the text as predict runs it
            from .explain_routes import as_json, explanations

            served, explained = await explanations(self.service, texts, name, version)
            predictions = [explanation.prediction for explanation in explained]
            outputs = [*outputs, (EXPLANATION, False)]
        else:
            served, predictions = await self.service.classify(texts, name, version)
        values = output_values(served, predictions, [output for output, _ in outputs if output != EXPLANATION])
        if explain:
            values[EXPLANATION] = ("BYTES", [len(texts)], np.array(
                [json.dumps(as_json(e), ensure_ascii=False).encode() for e in explained], dtype=object))
        response = {"model_name": served.name, "model_version": served.version,
                    **({"id": request_id} if request_id is not None else {}), "outputs": []}
        binary = []
        for (name, as_binary), (datatype, shape, array) in zip(outputs, values.values()):
            tensor = {"name": name, "datatype": datatype, "shape": shape}
            if as_binary:
                data = serialize_bytes(array) if datatype == "BYTES" else array.astype("<f4").tobytes()
                tensor["parameters"] = {"binary_data_size": len(data)}
                binary.append(data)
            else:
                tensor["data"] = [element.decode() for element in array] if datatype == "BYTES" \
                    else array.ravel().tolist()
            response["outputs"].append(tensor)
        if not binary:
            return JSONResponse(response)
        header = json.dumps(response, separators=(",", ":")).encode()
        return Response(header + b"".join(binary), media_type="application/octet-stream",
                        headers={"Inference-Header-Content-Length": str(len(header))})

    def _check_model(self, request) -> tuple:
        """(name, version) of the request's path, 404 unless served."""
        name, version = request.path_params["name"], request.path_params.get("version", "")
        check_model(self.service, name, version)
        return name, version


def parse_infer_request(body: bytes, header_length: str | None, limits) -> tuple:
    """(texts, [(output name, binary?)], request id or None, explain?) of an infer request's body, or ApiError (400,
    413) saying exactly what is wrong with it."""
    binary = b""
    if header_length is not None:
        if not header_length.isdigit() or int(header_length) > len(body):
            raise ApiError(400, f"Inference-Header-Content-Length is {header_length!r}: it must be the length of the "
                                f"JSON at the start of the {len(body)}-byte body", "bad_json")
        body, binary = body[:int(header_length)], body[int(header_length):]
    try:
        request = json.loads(body)
    except (ValueError, RecursionError) as err:
        raise ApiError(400, f"the body is not valid JSON: {first_line(err)}", "bad_json") from None
    if not isinstance(request, dict):
        raise ApiError(400, 'the body must be a JSON object: {"inputs": [{"name": "text", ...}]}', "bad_request")
    request_id = request.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise ApiError(400, f'"id" must be a string, not {json_type(request_id)}', "bad_request")
    parameters = _object(request.get("parameters", {}), '"parameters"')
    explain = parameters.get("explain", False)
    if not isinstance(explain, bool):
        raise ApiError(400, f'the parameter "explain" must be true or false, not {json_type(explain)}', "bad_request")
    inputs = request.get("inputs")
    if not isinstance(inputs, list) or len(inputs) != 1 or not isinstance(inputs[0], dict):
        raise ApiError(400, f'"inputs" must be a list of one tensor, {{"name": "{INPUT}", "datatype": "BYTES", '
                            f'"shape": [n], "data": [...]}}', "bad_input")
    tensor = inputs[0]
    count = check_input(tensor.get("name"), tensor.get("datatype"), tensor.get("shape"))
    check_count(count, limits)  # before decoding any of them
    tensor_parameters = _object(tensor.get("parameters", {}), '"parameters" of the input')
    if "binary_data_size" in tensor_parameters:
        size = tensor_parameters["binary_data_size"]
        if type(size) is not int or size != len(binary):
            raise ApiError(400, f"input '{INPUT}' has binary_data_size {size!r} but the body has {len(binary)} bytes "
                                f"after its JSON", "bad_input")
        texts = texts_from_bytes(deserialize_bytes(binary, count), limits)
    else:
        if binary:
            raise ApiError(400, f"the body has {len(binary)} bytes after its JSON, but input '{INPUT}' has no "
                                f"binary_data_size", "bad_input")
        if "data" not in tensor:
            raise ApiError(400, f"input '{INPUT}' has no \"data\" (nor binary data)", "bad_input")
        elements = _flatten(tensor["data"])
        if len(elements) != count:
            raise ApiError(400, f"input '{INPUT}' has shape {tensor['shape']} but {len(elements)} elements",
                           "bad_input")
        texts = check_texts(elements, limits, what=INPUT)
    return texts, _requested_outputs(request.get("outputs"), parameters), request_id, explain


def _requested_outputs(outputs, parameters: dict) -> list:
    """[(name, binary?)]: every output when none are named; binary where asked for, by the output or the request."""
    default = parameters.get("binary_data_output", False) is True
    if outputs is None:
        return [(name, default) for name in check_outputs([])]
    if not isinstance(outputs, list) or not all(isinstance(o, dict) and isinstance(o.get("name"), str)
                                                for o in outputs):
        raise ApiError(400, '"outputs" must be a list of {"name": ...} objects', "bad_output")
    names = check_outputs([output["name"] for output in outputs])
    binary = [_object(o.get("parameters", {}), f'"parameters" of output \'{o["name"]}\'').get("binary_data", default)
              is True for o in outputs]
    return list(zip(names, binary))


def _object(value, what: str) -> dict:
    if not isinstance(value, dict):
        raise ApiError(400, f"{what} must be an object, not {json_type(value)}", "bad_request")
    return value


def _flatten(data) -> list:
    """A tensor's "data", nested by its shape or already flat, as one row-major list."""
    if not isinstance(data, list):
        raise ApiError(400, f"the data of input '{INPUT}' must be a list, not {json_type(data)}", "bad_input")
    flat = []
    for element in data:
        flat.extend(_flatten(element) if isinstance(element, list) else [element])
    return flat


# --- OpenAPI -------------------------------------------------------------------------------------------------------

def _json(schema: str, description: str) -> dict:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}}


_NAME = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"},
         "description": "the served model's name"}
_VERSION = {"name": "version", "in": "path", "required": True, "schema": {"type": "string"},
            "description": 'the model version: "1" with -m, a version directory\'s number with '
                           '--model-repository'}
_UNKNOWN = _json("Error", "no model of that name, or no such version, is served here")


def _model_paths(versioned: bool) -> dict:
    prefix = "/v2/models/{name}" + ("/versions/{version}" if versioned else "")
    parameters = [_NAME, _VERSION] if versioned else [_NAME]
    suffix = "Version" if versioned else ""
    return {
        prefix: {"get": {
            "summary": "Open Inference Protocol model metadata: the input and output tensors",
            "operationId": f"v2ModelMetadata{suffix}", "parameters": parameters,
            "responses": {"200": _json("V2ModelMetadata", "the model's tensors"), "404": _UNKNOWN}}},
        prefix + "/ready": {"get": {
            "summary": "Open Inference Protocol model readiness", "operationId": f"v2ModelReady{suffix}",
            "parameters": parameters,
            "responses": {"200": _json("V2ModelReady", "ready for infer requests"),
                          "404": _UNKNOWN, "503": _json("V2ModelReady", "warming up or shutting down")}}},
        prefix + "/infer": {"post": {
            "summary": "Classify texts (Open Inference Protocol)",
            "description": "A BYTES input named text, shape [n] or [n, 1]; outputs label (BYTES [n]) and "
                           "probabilities (FP32 [n, labels]). Batched with every other request. The binary tensor "
                           "extension (Inference-Header-Content-Length) is accepted too.",
            "operationId": f"v2Infer{suffix}", "parameters": parameters,
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/V2InferRequest"},
                "example": {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1],
                                        "data": ["A moving, beautifully acted film."]}]}}}},
            "responses": {
                "200": {"description": "the outputs, in JSON, or with binary outputs after a JSON header of the "
                                       "length in Inference-Header-Content-Length",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/V2InferResponse"}},
                                    "application/octet-stream": {"schema": {"type": "string",
                                                                            "format": "binary"}}}},
                "400": _json("Error", "a malformed request, an unknown input or output, or a bad text"),
                "404": _UNKNOWN,
                "408": _json("Error", "the body did not arrive within the body timeout"),
                "413": _json("Error", "over the byte limit or the limit of texts per request"),
                "503": _json("Error", "warming up, shutting down, or at the limit of requests in flight: retry "
                                      "after the seconds in the Retry-After header")}}},
    }


_TENSOR_METADATA = {"type": "object", "required": ["name", "datatype", "shape"],
                    "properties": {"name": {"type": "string"}, "datatype": {"type": "string"},
                                   "shape": {"type": "array", "items": {"type": "integer"}}}}

OPENAPI_PATHS = {
    "/v2": {"get": {
        "summary": "Open Inference Protocol server metadata", "operationId": "v2ServerMetadata",
        "responses": {"200": _json("V2ServerMetadata", "the server's name, version and protocol extensions")}}},
    **_model_paths(versioned=False),
    **_model_paths(versioned=True),
}

OPENAPI_SCHEMAS = {
    "V2ServerMetadata": {"type": "object", "required": ["name", "version", "extensions"],
                         "properties": {"name": {"type": "string"}, "version": {"type": "string"},
                                        "extensions": {"type": "array", "items": {"type": "string"}}}},
    "V2ModelMetadata": {"type": "object", "required": ["name", "versions", "platform", "inputs", "outputs"],
                        "properties": {"name": {"type": "string"},
                                       "versions": {"type": "array", "items": {"type": "string"}},
                                       "platform": {"type": "string"},
                                       "inputs": {"type": "array", "items": _TENSOR_METADATA},
                                       "outputs": {"type": "array", "items": _TENSOR_METADATA}}},
    "V2ModelReady": {"type": "object", "required": ["name", "ready"],
                     "properties": {"name": {"type": "string"}, "ready": {"type": "boolean"}}},
    "V2InferRequest": {
        "type": "object", "required": ["inputs"],
        "properties": {
            "id": {"type": "string"},
            "parameters": {"type": "object", "properties": {
                "binary_data_output": {"type": "boolean"},
                "explain": {"type": "boolean", "description": "add the output 'explanation': each text's word "
                                                              "attributions, a JSON string as :explain gives them"}}},
            "inputs": {"type": "array", "minItems": 1, "maxItems": 1, "items": {
                "type": "object", "required": ["name", "datatype", "shape", "data"],
                "properties": {"name": {"const": "text"}, "datatype": {"const": "BYTES"},
                               "shape": {"type": "array", "minItems": 1, "maxItems": 2,
                                         "items": {"type": "integer", "minimum": 1}},
                               "data": {"type": "array", "items": {"type": "string"}}}}},
            "outputs": {"type": "array", "items": {
                "type": "object", "required": ["name"],
                "properties": {"name": {"enum": [LABEL, PROBABILITIES]},
                               "parameters": {"type": "object",
                                              "properties": {"binary_data": {"type": "boolean"}}}}}}}},
    "V2InferResponse": {
        "type": "object", "required": ["model_name", "outputs"],
        "properties": {
            "model_name": {"type": "string"}, "model_version": {"type": "string"}, "id": {"type": "string"},
            "outputs": {"type": "array", "items": {
                "type": "object", "required": ["name", "datatype", "shape"],
                "properties": {"name": {"type": "string"}, "datatype": {"type": "string"},
                               "shape": {"type": "array", "items": {"type": "integer"}},
                               "data": {"type": "array"},
                               "parameters": {"type": "object"}}}}}},
}
