"""The Open Inference Protocol over gRPC: `inference.GRPCInferenceService` on `--grpc-port`.

The same model, limits, metrics and dynamic batcher as the REST endpoints: a text sent over gRPC can share an
OpenVINO batch with texts sent over REST. The server is grpc.aio, started in uvicorn's own event loop
(infer/server.py `run`) rather than in a thread of its own: the batcher's futures belong to that loop, so an RPC
awaits `Service.classify` directly, with no hand-over between threads and no second loop to shut down.

Messages: infer/grpc_predict_v2.proto (and the modules generated from it). Inputs and outputs are named as over
REST (infer/open_inference.py): BYTES `text` in, as `raw_input_contents` (what tritonclient.grpc sends) or
`contents.bytes_contents`; `label` and `probabilities` out, as `raw_output_contents`. Refusals map the REST status
to gRPC's code: 400 INVALID_ARGUMENT, 401 UNAUTHENTICATED, 404 NOT_FOUND, 413 RESOURCE_EXHAUSTED, 503 UNAVAILABLE,
with the same one-line message. A message over `--max-body-bytes` is refused by gRPC itself (RESOURCE_EXHAUSTED).
ServerLive and ServerReady need no API key, like the REST health checks.
"""

import functools
import logging

import grpc

from ..core.errors import BertvinoError
from . import grpc_predict_v2_pb2 as messages
from . import open_inference
from .access import REFUSAL, authorized
from .grpc_predict_v2_pb2_grpc import GRPCInferenceServiceServicer, add_GRPCInferenceServiceServicer_to_server
from .refusals import ApiError, check_count, come_back_later

log = logging.getLogger("bertvino.serve")

SERVICE = "/inference.GRPCInferenceService/"
PUBLIC_METHODS = frozenset({SERVICE + "ServerLive", SERVICE + "ServerReady"})
CODES = {400: grpc.StatusCode.INVALID_ARGUMENT, 401: grpc.StatusCode.UNAUTHENTICATED, 404: grpc.StatusCode.NOT_FOUND,
         408: grpc.StatusCode.DEADLINE_EXCEEDED, 413: grpc.StatusCode.RESOURCE_EXHAUSTED,
         503: grpc.StatusCode.UNAVAILABLE}


def rpc(method):
    """An RPC that turns ApiError (and bugs) into gRPC status codes and counts itself in the service's metrics,
    under the endpoint grpc_NAME."""
    endpoint = f"grpc_{method.__name__}"

    @functools.wraps(method)
    async def handler(self, request, context):
        code = grpc.StatusCode.OK
        try:
            return await method(self, request, context)
        except ApiError as err:
            code = CODES.get(err.status, grpc.StatusCode.UNKNOWN)
            self.service.metrics.errors.labels(endpoint, err.reason).inc()
            await context.abort(code, err.message)
        except Exception:
            log.exception("gRPC %s failed", method.__name__)
            code = grpc.StatusCode.INTERNAL
            await context.abort(code, "internal server error; see the server's log")
        finally:
            self.service.metrics.requests.labels(endpoint, code.name).inc()
    return handler


class InferenceServicer(GRPCInferenceServiceServicer):
    """The protocol's RPCs over one `Service` (infer/server.py)."""

    def __init__(self, service):
        self.service = service

    @rpc
    async def ServerLive(self, request, context):
        return messages.ServerLiveResponse(live=True)

    @rpc
    async def ServerReady(self, request, context):
        return messages.ServerReadyResponse(ready=self.service.ready)

    @rpc
    async def ModelReady(self, request, context):
        open_inference.check_model(self.service, request.name, request.version)
        return messages.ModelReadyResponse(ready=self.service.ready)

    @rpc
    async def ServerMetadata(self, request, context):
        return messages.ServerMetadataResponse(**open_inference.server_metadata())

    @rpc
    async def ModelMetadata(self, request, context):
        metadata = open_inference.model_metadata(self.service, request.name, request.version)
        tensor = messages.ModelMetadataResponse.TensorMetadata
        return messages.ModelMetadataResponse(
            name=metadata["name"], versions=metadata["versions"], platform=metadata["platform"],
            inputs=[tensor(**t) for t in metadata["inputs"]], outputs=[tensor(**t) for t in metadata["outputs"]])

    @rpc
    async def ModelInfer(self, request, context):
        service = self.service
        open_inference.check_model(service, request.model_name, request.model_version)
        if service.shutting_down:
            raise come_back_later("the service is shutting down", "shutting_down")
        texts = self._texts(request)
        names = open_inference.check_outputs([output.name for output in request.outputs])
        served, predictions = await service.classify(texts, request.model_name, request.model_version)
        response = messages.ModelInferResponse(model_name=served.name, model_version=served.version, id=request.id)
        for name, (datatype, shape, array) in open_inference.output_values(served, predictions, names).items():
            response.outputs.add(name=name, datatype=datatype, shape=shape)
            response.raw_output_contents.append(open_inference.serialize_bytes(array) if datatype == "BYTES"
                                                else array.astype("<f4").tobytes())
        return response

    def _texts(self, request) -> list:
        if len(request.inputs) != 1:
            raise ApiError(400, f"the request has {len(request.inputs)} inputs: the model takes one BYTES input "
                                f"named '{open_inference.INPUT}'", "bad_input")
        tensor = request.inputs[0]
        count = open_inference.check_input(tensor.name, tensor.datatype, list(tensor.shape))
        check_count(count, self.service.limits)
        if request.raw_input_contents:
            if len(request.raw_input_contents) != 1:
                raise ApiError(400, f"raw_input_contents has {len(request.raw_input_contents)} entries for 1 input",
                               "bad_input")
            elements = open_inference.deserialize_bytes(request.raw_input_contents[0], count)
        else:
            elements = list(tensor.contents.bytes_contents)
            if len(elements) != count:
                raise ApiError(400, f"input '{tensor.name}' has shape {list(tensor.shape)} but {len(elements)} "
                                    f"elements in contents.bytes_contents", "bad_input")
        return open_inference.texts_from_bytes(elements, self.service.limits)


class RequireApiKey(grpc.aio.ServerInterceptor):
    """UNAUTHENTICATED for a call without `authorization: Bearer KEY` in its metadata, except ServerLive and
    ServerReady. `on_refused()` is called for each refusal."""

    def __init__(self, key: str, on_refused=None):
        self.key, self.on_refused = key, on_refused
        self._refuse = grpc.unary_unary_rpc_method_handler(_unauthenticated)

    async def intercept_service(self, continuation, details):
        metadata = dict(details.invocation_metadata or ())
        if details.method in PUBLIC_METHODS or authorized(metadata.get("authorization"), self.key):
            return await continuation(details)
        if self.on_refused is not None:
            self.on_refused()
        return self._refuse


async def _unauthenticated(request, context):
    await context.abort(grpc.StatusCode.UNAUTHENTICATED, REFUSAL)


async def start_grpc_server(service, host: str, port: int, tls: tuple | None = None, api_key: str | None = None):
    """(the started grpc.aio server, the port it listens on) for `service`, in the running event loop; `tls` is
    (certificate chain PEM, private key PEM) from `access.tls_files`. Stop it with `await server.stop(grace)`."""
    options = [("grpc.so_reuseport", 0),  # a taken port is an error, not a port shared with another server
               ("grpc.max_receive_message_length", service.limits.max_body_bytes)]
    interceptors = [RequireApiKey(api_key, on_refused=lambda: _count_refusal(service))] if api_key else []
    server = grpc.aio.server(interceptors=interceptors, options=options)
    add_GRPCInferenceServiceServicer_to_server(InferenceServicer(service), server)
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        if tls is None:
            bound = server.add_insecure_port(address)
        else:
            certificate, key = tls
            bound = server.add_secure_port(address, grpc.ssl_server_credentials([(key, certificate)]))
    except RuntimeError as err:
        raise BertvinoError(f"cannot listen on {address} for gRPC: {err}") from None
    await server.start()
    return server, bound


def _count_refusal(service):
    service.metrics.requests.labels("grpc_auth", grpc.StatusCode.UNAUTHENTICATED.name).inc()
    service.metrics.errors.labels("grpc_auth", "unauthorized").inc()
