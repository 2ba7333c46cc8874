"""serve's explanation endpoint and the page at /: `POST /v1/models/NAME:explain` (KServe v1's verb) and `GET /`.

    POST /v1/models/NAME:explain   {"instances": ["a review", ...]}
        -> {"explanations": [{"label", "probabilities", "method", "words": [{"word", "start", "end", "score"}]}]}

Each text's variants (`bertvino.infer.explain`) go through the service's `DynamicBatcher` like predict's texts, so
they share batches with predict requests and each other; a text of n words is n + 1 rows of those batches. The same
limits, 503s and in-flight cap as predict apply (an explain request counts as one request in flight).

Kept out of server.py (which registers `routes` and `OPENAPI_PATHS` with a few lines), so the two grow apart.
"""

from importlib import resources

import numpy as np
from starlette.responses import HTMLResponse, JSONResponse

from .explain import DEFAULT_METHOD, occlusions
from .refusals import parse_instances


def routes(service, route) -> list:
    """The routes, made with server.py's `route(path, endpoint name, handler, method)`."""
    return [route("/v1/models/{name}:explain", "explain", lambda request: explain(service, request), "POST"),
            route("/", "page", page, "GET")]


async def explain(service, request):
    """predict's checks and accounting (the Service's own methods, so both verbs refuse alike), then the variants
    of every text through the batcher."""
    name, _ = service._check_model(request)
    service._admit()
    body = await service._read_body(request)
    service._check_capacity()
    texts = parse_instances(body, service.limits)
    _, explained = await explanations(service, texts, name)
    return JSONResponse({"explanations": [as_json(e) for e in explained]})


async def explanations(service, texts, name: str, version: str = "") -> tuple:
    """(the ServedVersion, [Explanation]) of checked texts, their variants run by the batcher of `name`
    (`version`, else its newest), counted as one request in flight (for :explain and for the v2 infer request's
    `explain` parameter); 503 as predict's."""
    served, (predictions, batches) = await service.batched(
        len(texts), name, version, lambda served: served.batcher.run(lambda: _variants(served.classifier, texts)))
    classifier = served.classifier
    labels = classifier.bundle.labels
    result, row = [], 0
    for occlusion in batches:
        rows = predictions[row:row + len(occlusion.id_lists)]
        row += len(rows)
        probabilities = np.array([[p.probabilities[label] for label in labels] for p in rows])
        result.append(occlusion.explanation(probabilities, labels, DEFAULT_METHOD))
    return served, result


def _variants(classifier, texts):
    """Every variant of every text, flat (for the batcher), and the occlusions that read them back."""
    batches = occlusions(classifier, texts)
    return [ids for occlusion in batches for ids in occlusion.id_lists], batches


def as_json(explanation) -> dict:
    prediction = explanation.prediction
    return {"label": prediction.label, "probabilities": prediction.probabilities, "method": explanation.method,
            "words": [word.as_dict() for word in explanation.words]}


async def page(request):
    """The page: one HTML file with its CSS and JavaScript inline, shipped as package data."""
    html = resources.files(__package__).joinpath("page", "index.html").read_text(encoding="utf-8")
    return HTMLResponse(html, headers={"Cache-Control": "no-cache"})


OPENAPI_PATHS = {
    "/v1/models/{name}:explain": {"post": {
        "summary": "Classify texts and say which words decided each label (KServe v1's explain verb)",
        "description": "Occlusion: each word the model sees is left out in turn, all variants of a text in one "
                       "batch; a word's score is p(label) - p(label without it), so positive supports the label. "
                       "Batched with predict requests; a text of n words costs n + 1 rows of a batch.",
        "operationId": "explain",
        "parameters": [{"name": "name", "in": "path", "required": True, "schema": {"type": "string"},
                        "description": "the served model's name (by default the bundle directory's name)"}],
        "requestBody": {"required": True, "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/PredictRequest"},
            "example": {"instances": ["Terrible acting, but a wonderful, moving story."]}}}},
        "responses": {
            "200": {"description": "one explanation per instance, in order", "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/ExplainResponse"}}}},
            **{status: {"description": description, "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/Error"}}}}
               for status, description in (("400", "a bad request, as for predict"),
                                           ("404", "no model of that name is served here"),
                                           ("408", "the body did not arrive within the body timeout"),
                                           ("413", "too large a body or too many instances"),
                                           ("503", "warming up, shutting down or at the in-flight limit: retry "
                                                   "after Retry-After seconds"))}}}},
    "/": {"get": {
        "summary": "A page to try the model: type a text, see its label, probability and the words that decided it",
        "operationId": "page",
        "responses": {"200": {"description": "HTML (CSS and JavaScript inline; nothing loaded from elsewhere)",
                              "content": {"text/html": {"schema": {"type": "string"}}}}}}},
}

OPENAPI_SCHEMAS = {
    "ExplainResponse": {
        "type": "object", "required": ["explanations"],
        "properties": {"explanations": {"type": "array", "items": {"$ref": "#/components/schemas/Explanation"}}}},
    "Explanation": {
        "type": "object", "required": ["label", "probabilities", "method", "words"],
        "properties": {
            "label": {"type": "string"},
            "probabilities": {"type": "object", "additionalProperties": {"type": "number"}},
            "method": {"type": "string", "description": "how a word was left out: delete, mask or pad"},
            "words": {"type": "array", "items": {
                "type": "object", "required": ["word", "start", "end", "score"],
                "properties": {"word": {"type": "string"},
                               "start": {"type": "integer", "description": "first character, in the text"},
                               "end": {"type": "integer", "description": "one past the last character"},
                               "score": {"type": ["number", "null"],
                                         "description": "p(label) - p(label without the word); null: "
                                                        "truncated away, never seen by the model"}}}}}},
}
