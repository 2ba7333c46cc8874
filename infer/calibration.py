"""Calibrated probabilities: the head's logits divided by a temperature, fitted on held-out labelled texts.

A fine-tuned BERT is overconfident, and how much depends on the text: the default model needed T ~ 1.8 on whole
reviews but T ~ 4.7 on one-line ones (issue 19). So the temperature may depend on the text's length n, the word
pieces the model read ([CLS] and [SEP] included, at most max_seq_length):

    temperature            T                          one number, Guo et al. (2017)
    length_temperature     T(n) = exp(a + b ln n)     log-linear in the length: always positive, 2 parameters
    bucket_temperature     T(n) = T_i for n in bucket i   one temperature per length range (edges given)

Each is log T = theta . f(n) for a small feature vector f, so one fitter serves all three: Newton's method on the
mean negative log-likelihood (NLL) of the labels, in NumPy (SciPy is no runtime dependency). Dividing logits by a
positive T never changes which label wins, so calibration cannot change accuracy.

bundle.json keeps the fitted calibrator as a record (`to_record` / `from_record`); `Classifier` applies it to every
batch, so classify, score, serve, score --ray and the Python API all give the same calibrated probabilities.
"""

import dataclasses

import numpy as np

from ..core.errors import BertvinoError

METHODS = ("temperature", "length_temperature", "bucket_temperature")
DEFAULT_BUCKET_EDGES = (16, 32, 64, 128)  # bucket i holds lengths in [edges[i-1], edges[i]); the last is open
# A length bucket with fewer labelled texts keeps T = 1: too few to fit on. (The default model's 104 validation
# reviews under 64 word pieces gave bootstrap temperatures from 0.2 to 0.95.)
MIN_BUCKET_TEXTS = 200


@dataclasses.dataclass(frozen=True)
class Calibration:
    """log T(n) = theta . features(n); `theta` as fitted, `edges` only for bucket_temperature."""

    method: str
    theta: tuple
    edges: tuple = ()

    def temperatures(self, lengths) -> np.ndarray:
        """T for each text, given how many word pieces it has ([CLS] and [SEP] included)."""
        return np.exp(_features(self.method, lengths, self.edges) @ np.asarray(self.theta, dtype=np.float64))

    def apply(self, logits: np.ndarray, lengths) -> np.ndarray:
        """Calibrated logits: each row divided by its text's temperature."""
        return (logits / self.temperatures(lengths)[:, None]).astype(logits.dtype, copy=False)

    def parameters(self) -> dict:
        """The fitted numbers, in the form a reader checks by hand (what bundle.json shows)."""
        if self.method == "temperature":
            return {"temperature": round(float(np.exp(self.theta[0])), 6)}
        if self.method == "length_temperature":
            return {"a": round(float(self.theta[0]), 6), "b": round(float(self.theta[1]), 6)}
        return {"edges": list(self.edges), "temperatures": [round(float(t), 6) for t in np.exp(self.theta)]}

    def describe(self) -> str:
        """One line for `bertvino info` and `calibrate`."""
        p = self.parameters()
        if self.method == "temperature":
            return f"temperature scaling, T = {p['temperature']:.3f}"
        if self.method == "length_temperature":
            at = {n: float(self.temperatures([n])[0]) for n in (8, 32, 256)}
            return (f"temperature by length, T(n) = exp({p['a']:.3f} {p['b']:+.3f} ln n): "
                    + ", ".join(f"T({n}) = {t:.2f}" for n, t in at.items()))
        ranges = [f"n<{p['edges'][0]}", *(f"{lo}-{hi - 1}" for lo, hi in zip(p["edges"], p["edges"][1:])),
                  f"n>={p['edges'][-1]}"]
        return "temperature per length bucket: " + ", ".join(f"{r}: {t:.2f}" for r, t in zip(ranges,
                                                                                            p["temperatures"]))

    def to_record(self) -> dict:
        return {"method": self.method, "parameters": self.parameters()}

    @classmethod
    def from_record(cls, record: dict) -> "Calibration":
        """Read bundle.json's `calibration` record; raises BertvinoError (without a file name: the caller adds it)."""
        method, p = record.get("method"), record.get("parameters")
        if method not in METHODS or not isinstance(p, dict):
            raise BertvinoError(f"'calibration' needs a method from {', '.join(METHODS)} and its parameters, "
                                f"not {record!r}")
        try:
            if method == "temperature":
                theta, edges = (np.log(_positive(p["temperature"])),), ()
            elif method == "length_temperature":
                theta, edges = (float(p["a"]), float(p["b"])), ()
            else:
                edges = tuple(int(e) for e in p["edges"])
                theta = tuple(np.log(_positive(t)) for t in p["temperatures"])
                if len(theta) != len(edges) + 1 or list(edges) != sorted(set(edges)):
                    raise ValueError("one more temperature than edges, and the edges increasing")
        except (KeyError, TypeError, ValueError) as err:
            raise BertvinoError(f"bad 'calibration' parameters {p!r}: {err}") from None
        if not np.all(np.isfinite(theta)):
            raise BertvinoError(f"bad 'calibration' parameters {p!r}: not finite")
        return cls(method, tuple(float(t) for t in theta), edges)


def _positive(value) -> float:
    value = float(value)
    if not value > 0:
        raise ValueError(f"a temperature must be above 0, not {value}")
    return value


def _features(method: str, lengths, edges=()) -> np.ndarray:
    """[texts, parameters]: the f(n) of log T = theta . f(n)."""
    n = np.maximum(np.asarray(lengths, dtype=np.float64).reshape(-1), 1.0)
    if method == "temperature":
        return np.ones((len(n), 1))
    if method == "length_temperature":
        return np.stack([np.ones_like(n), np.log(n)], axis=1)
    return np.eye(len(edges) + 1)[np.searchsorted(np.asarray(edges), n, side="right")]


def fit(logits, labels, lengths, method: str = "length_temperature", edges=DEFAULT_BUCKET_EDGES,
        iterations: int = 100) -> Calibration:
    """The calibrator of `method` that minimizes the mean NLL of `labels` (label indices) given `logits`
    [texts, labels] and `lengths` (word pieces per text).

    Newton's method on theta, with s = 1/T = exp(-theta . f): the NLL is log-sum-exp(s z) - s z_y per text, whose
    derivative in s is E_p[z] - z_y and second derivative Var_p[z]. Steps are halved until the NLL falls; where
    the Hessian is not positive definite, its Gauss-Newton part (always positive semi-definite) is used.
    """
    if method not in METHODS:
        raise BertvinoError(f"unknown calibration method {method!r}: choose one of {', '.join(METHODS)}")
    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    edges = tuple(int(e) for e in edges) if method == "bucket_temperature" else ()
    features = _features(method, lengths, edges)
    if len(logits) == 0:
        raise BertvinoError("nothing to calibrate on: no labelled texts")
    theta = np.zeros(features.shape[1])
    # an empty bucket keeps T = 1: no data says otherwise; nor does a bucket of a few texts
    occupied = features.sum(axis=0) >= (MIN_BUCKET_TEXTS if method == "bucket_temperature" else 1)
    current = _nll(logits, labels, features, theta)
    rows = np.arange(len(labels))
    for _ in range(iterations):
        s = np.exp(-features @ theta)
        p = _softmax(logits * s[:, None])
        mean_z = (p * logits).sum(axis=1)
        r = mean_z - logits[rows, labels]
        var = np.maximum((p * logits * logits).sum(axis=1) - mean_z ** 2, 0.0)
        gradient = -(features.T @ (r * s)) / len(labels)
        gauss_newton = features.T @ (features * (var * s * s)[:, None]) / len(labels)
        hessian = gauss_newton + features.T @ (features * (r * s)[:, None]) / len(labels)
        ridge = 1e-9 * np.eye(len(theta))
        try:
            np.linalg.cholesky(hessian + ridge)
        except np.linalg.LinAlgError:
            hessian = gauss_newton
        step = np.zeros_like(theta)
        step[occupied] = np.linalg.solve((hessian + ridge)[np.ix_(occupied, occupied)], gradient[occupied])
        scale = 1.0
        while scale > 1e-6:
            candidate = theta - scale * step
            value = _nll(logits, labels, features, candidate)
            if value <= current:
                break
            scale /= 2
        else:
            break
        theta, improvement, current = candidate, current - value, value
        if improvement < 1e-12:
            break
    return Calibration(method, tuple(float(t) for t in theta), edges)


def _nll(logits, labels, features, theta) -> float:
    scaled = logits * np.exp(-features @ theta)[:, None]
    return float(np.mean(_logsumexp(scaled) - scaled[np.arange(len(labels)), labels]))


def _logsumexp(x: np.ndarray) -> np.ndarray:
    top = x.max(axis=1)
    return top + np.log(np.exp(x - top[:, None]).sum(axis=1))


def _softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max(axis=1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=1, keepdims=True)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Probabilities [batch, labels] from logits, in the logits' dtype."""
    return _softmax(logits)
