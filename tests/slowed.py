"""A prelude for a bertvino process a test must catch mid-run, on a machine of any speed.

Prepended to a `python -c` script, it slows the start of every batch (`AsyncBatches.submit`, which score, serve
and the gRPC and repository servers all run their batches through) by `sys.argv[2]` seconds: requests are still
queued when SIGTERM arrives, and a score run is still writing when a signal is sent.
"""

SLOWED_BATCHES = """
import sys, time
from bertvino.infer.classifier import AsyncBatches
real_submit = AsyncBatches.submit
def slow_submit(self, id_lists, userdata):
    time.sleep(float(sys.argv[2]))
    real_submit(self, id_lists, userdata)
AsyncBatches.submit = slow_submit
"""

# `bertvino ARGS...` as the CLI runs it from a terminal, every batch slowed: python -c SLOW_CLI unused SECONDS ARGS...
# Ctrl-C's SIGINT raises KeyboardInterrupt even where the test run was started in the background with SIGINT ignored
# (which a child inherits across exec, and which in a clean-clone CI run let an interrupted score finish all 3,000
# reviews); set here, after exec, because a preexec_fn would run Python in a fork of the multi-threaded test process.
SLOW_CLI = SLOWED_BATCHES + """
import signal
signal.signal(signal.SIGINT, signal.default_int_handler)
from bertvino.cli import main
sys.exit(main(sys.argv[3:]))
"""
