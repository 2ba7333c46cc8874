"""What `serve` serves: one bundle (`-m`), or a model repository (`--model-repository DIR`) that it keeps polling.

The repository has the layout OpenVINO Model Server and TensorFlow Serving use:

    DIR/NAME/VERSION/     a bundle (model.xml, bundle.json, ...); VERSION is a whole number, NAME goes in URLs

Every version found is served, each by its own compiled Classifier and DynamicBatcher (so memory grows with the
number of versions); a request without a version goes to the model's highest one. Every `poll_seconds` the
directory is scanned again:
- a new version (or model) counts once its model.xml is there (bundle writers write model.xml last; `cp -r` to a
  temporary name and `mv` into place is the safe way to copy one in): it is loaded, compiled and warmed up, and only
  then routed to, so no request waits for it;
- a version whose directory is gone stops being routed to at once; its batcher then closes, which first answers
  every request already in it (requests in flight finish on the version they started on);
- a version directory that is not a whole number is skipped with one warning, and a bundle that fails to load is
  skipped with one warning (tried again when its model.xml changes); names starting with "." are skipped silently,
  so `cp -r BUNDLE DIR/NAME/.3 && mv DIR/NAME/.3 DIR/NAME/3` (or DIR/.NAME for a new model) copies one in safely.

Both kinds share one interface for server.py, open_inference.py and grpc_inference.py: `resolve(name, version)` is
the ServedVersion a request goes to (or a 404 ApiError), synchronous so that no await comes between choosing a
version and entering its batcher; `start()`, `warm_up()`, `close()` follow the service's lifespan.
"""

import asyncio
import dataclasses
import gc
import logging
import sys
from pathlib import Path

from ..core.bundle import load_bundle
from ..core.errors import BertvinoError, first_line
from .batcher import DynamicBatcher
from .refusals import ApiError

log = logging.getLogger("bertvino.serve")

SINGLE_VERSION = "1"  # `-m`: one model, one version; TF Serving clients expect a version string


@dataclasses.dataclass
class ServedVersion:
    """One version of one model, with the compiled classifier and the batcher that serve it."""

    name: str
    version: str
    classifier: object  # Classifier
    batcher: DynamicBatcher
    path: Path | None = None


class OneModel:
    """`-m BUNDLE`: one classifier under one name, as version 1."""

    def __init__(self, name: str, classifier, make_batcher):
        self.served = ServedVersion(name, SINGLE_VERSION, classifier, make_batcher(classifier))

    def resolve(self, name: str, version: str = "") -> ServedVersion:
        if name != self.served.name:
            raise ApiError(404, f"model '{name}' is not served here; this server serves '{self.served.name}'",
                           "unknown_model")
        if version and version != self.served.version:
            raise ApiError(404, f"model '{name}' has no version '{version}'; it has version '{self.served.version}'",
                           "unknown_version")
        return self.served

    def versions(self, name: str) -> list:
        """The served versions of `name`, newest first (404 for an unknown name)."""
        return [self.resolve(name)]

    def all_versions(self) -> list:
        return [self.served]

    async def start(self):
        await self.served.batcher.start()

    async def warm_up(self):
        await self.served.batcher.warm_up()

    async def close(self):
        await self.served.batcher.close()


def scan(root: Path, warned: set | None) -> dict:
    """{(name, version): path} of the version directories under `root` that hold a model.xml. A version directory
    whose name is not a whole number is skipped, with a warning the first time (its path is added to `warned`;
    None: no warnings)."""
    found = {}
    try:
        models = [path for path in root.iterdir() if path.is_dir() and not path.name.startswith(".")]
    except OSError as err:
        if warned is not None and root not in warned:
            warned.add(root)
            log.warning("cannot read the model repository %s: %s", root, err.strerror or err)
        return found
    for model in models:
        try:
            versions = [path for path in model.iterdir() if path.is_dir() and not path.name.startswith(".")]
        except OSError:
            continue  # removed while scanning
        for path in versions:
            if not path.name.isdigit() or not path.name.isascii():
                if warned is not None and path not in warned:
                    warned.add(path)
                    log.warning("ignoring %s: a version directory's name must be a whole number", path)
                continue
            if (path / "model.xml").is_file():
                found[(model.name, str(int(path.name)))] = path
    return found


def check_repository(root: Path) -> dict:
    """scan(root), or BertvinoError when it is not a directory or holds no version to serve: at startup only."""
    if not root.is_dir():
        raise BertvinoError(f"{root}: the model repository is not a directory" if root.exists()
                            else f"{root}: no such model repository")
    found = scan(root, None)  # quiet: the repository's first scan, once serving, warns
    if not found:
        raise BertvinoError(f"{root}: the model repository holds no model: expected {root}/NAME/VERSION/model.xml "
                            f"(VERSION a whole number)")
    bad = sorted({name for name, _ in found if "/" in name or ":" in name})
    if bad:
        raise BertvinoError(f"{root}/{bad[0]}: a model name cannot contain ':' (it ends the name in URLs)")
    return found


class Repository:
    """`--model-repository DIR`: every version under DIR, kept in step with the directory by `poll()`.

    `make_classifier(bundle)` compiles a bundle (blocking; run in a thread), `make_batcher(classifier)` makes its
    DynamicBatcher."""

    def __init__(self, root: Path, make_classifier, make_batcher, poll_seconds: float = 2.0):
        self.root = Path(root)
        self.make_classifier = make_classifier
        self.make_batcher = make_batcher
        self.poll_seconds = poll_seconds
        self._served = {}  # {name: {version: ServedVersion}}: what requests are routed to
        self._warned = set()  # paths warned about once (not whole numbers, failed to load)
        self._failed = {}  # {path: model.xml's mtime when its load failed}
        self._draining = set()  # tasks closing removed versions' batchers
        self._poller = None

    # --- routing: synchronous, on the event loop ---------------------------------------------------------------

    def resolve(self, name: str, version: str = "") -> ServedVersion:
        versions = self._served.get(name)
        if not versions:
            served = ", ".join(f"'{n}'" for n in sorted(self._served)) or "none yet"
            raise ApiError(404, f"model '{name}' is not served here; this server serves {served}", "unknown_model")
        if not version:
            return versions[max(versions, key=int)]
        if version not in versions:
            have = ", ".join(f"'{v}'" for v in sorted(versions, key=int))
            raise ApiError(404, f"model '{name}' has no version '{version}'; it has {have}", "unknown_version")
        return versions[version]

    def versions(self, name: str) -> list:
        self.resolve(name)
        return sorted(self._served[name].values(), key=lambda served: -int(served.version))

    def all_versions(self) -> list:
        return [served for name in sorted(self._served) for served in self.versions(name)]

    # --- the lifespan ------------------------------------------------------------------------------------------

    async def start(self):
        """Nothing to start before warm-up: versions start as they load."""

    async def warm_up(self):
        """Load, compile and warm up every version there now, then poll for changes in the background."""
        await self.poll_once()
        self._poller = asyncio.create_task(self._poll_forever(), name="bertvino-repository")

    async def close(self):
        """Stop polling, then close every batcher, each after the requests already in it are answered."""
        if self._poller is not None:
            self._poller.cancel()
            try:
                await self._poller
            except asyncio.CancelledError:
                pass
        served = [s for versions in self._served.values() for s in versions.values()]
        self._served = {}
        await asyncio.gather(*(s.batcher.close() for s in served), *self._draining)

    # --- keeping in step with the directory --------------------------------------------------------------------

    async def _poll_forever(self):
        while True:
            await asyncio.sleep(self.poll_seconds)
            try:
                await self.poll_once()
            except Exception:  # a bug here must not stop the polling, nor the service
                log.exception("scanning the model repository %s failed", self.root)

    async def poll_once(self):
        """Drain the versions that are gone, then load the new ones, one at a time."""
        found = scan(self.root, self._warned)
        for name, versions in list(self._served.items()):
            for version, served in list(versions.items()):
                if (name, version) not in found or found[(name, version)] != served.path:
                    self._drain(served)
        for (name, version), path in sorted(found.items(), key=lambda item: (item[0][0], int(item[0][1]))):
            if version not in self._served.get(name, {}) and self._worth_loading(path):
                await self._load(name, version, path)

    def _drain(self, served: ServedVersion):
        """Stop routing to `served` now; close its batcher (after its requests) in the background."""
        versions = self._served[served.name]
        del versions[served.version]
        if not versions:
            del self._served[served.name]
        _say(f"model '{served.name}' version {served.version} is gone from {self.root}: draining it")

        async def drain():
            await served.batcher.close()
            # close() returned after the last request's step that read `served` (none awaits past its batcher)
            served.classifier = served.batcher = None
            gc.collect()  # the batcher and its infer queue are a cycle: free the compiled model now, not someday
            _say(f"model '{served.name}' version {served.version} drained: its requests are answered")

        task = asyncio.create_task(drain(), name=f"bertvino-drain-{served.name}-{served.version}")
        self._draining.add(task)
        task.add_done_callback(self._draining.discard)

    def _worth_loading(self, path: Path) -> bool:
        """False for a bundle that failed to load, until its model.xml changes."""
        if path not in self._failed:
            return True
        try:
            return (path / "model.xml").stat().st_mtime != self._failed[path]
        except OSError:
            return False

    async def _load(self, name: str, version: str, path: Path):
        """Compile and warm up a version, then route to it. A failure leaves a warning and the rest served."""
        loop = asyncio.get_running_loop()
        if "/" in name or ":" in name:
            if path not in self._warned:
                self._warned.add(path)
                log.warning("ignoring %s: a model name cannot contain ':' (it ends the name in URLs)", path)
            return
        try:
            classifier = await loop.run_in_executor(None, lambda: self.make_classifier(load_bundle(path)))
            batcher = self.make_batcher(classifier)
            await batcher.start()
        except Exception as err:
            try:
                self._failed[path] = (path / "model.xml").stat().st_mtime
            except OSError:
                pass
            log.warning("ignoring %s: %s", path, first_line(err))
            return
        try:
            await batcher.warm_up()
        except BaseException as err:  # shutdown cancels a load in progress too: its threads stop either way
            await batcher.close()
            if not isinstance(err, Exception):
                raise
            log.warning("ignoring %s: warm-up failed: %s", path, first_line(err))
            return
        if not path.is_dir():  # removed while it loaded
            await batcher.close()
            return
        self._failed.pop(path, None)
        self._served.setdefault(name, {})[version] = ServedVersion(name, version, classifier, batcher, path)
        _say(f"serving model '{name}' version {version} from {path}: {classifier.choice.line()}")


def _say(message: str):
    """A line on stderr, as serve's others are (uvicorn configures its own loggers, not ours)."""
    print(f"bertvino serve: {message}", file=sys.stderr, flush=True)
