"""mtl_utils: reusable pieces of the course on data augmentation in multi-task learning.

Modules, from the ground up (ARCHITECTURE.md): ``geometry`` and ``registry``, ``kinds``,
``tasks``, ``policy``, ``data``/``stats``/``store``, ``augment``/``pipelines``,
``text``/``image_text``, ``fast_layers``/``weighting``, ``models``, ``experiments``,
``plotting``/``notebook``, ``course``/``exercises`` (the notebooks' checked exercises); the
dense kinds (``dense``) register with the package, the scenes that use them (``scenes``,
``dense_views``) and notebook 12's scenes with questions (``image_text``) are imported where
they are needed.

Importing it imports TensorFlow with its known, harmless start-up chatter filtered out of
stderr; every other line TensorFlow writes while it starts is passed through, so a real
problem still shows.
"""

import os as _os
import re as _re
import sys as _sys
import tempfile as _tempfile

__version__ = "0.1.0"

# Known, harmless start-up lines of TensorFlow on a machine without a GPU.
_CHATTER = _re.compile(
    r"All log messages before absl::InitializeLog\(\) is called"
    r"|oneDNN custom operations are on"
    r"|Could not find cuda drivers on your machine"
    r"|failed call to cuInit"
    r"|Unable to register cu(DNN|FFT|BLAS) factory"
    r"|computation placer already registered"
    r"|TF-TRT Warning: Could not find TensorRT"
    r"|This TensorFlow binary is optimized to use available CPU instructions"
    r"|To enable the following instructions: .* in other operations, rebuild TensorFlow")


def _import_tensorflow_quietly() -> None:
    """Import TensorFlow and find its devices with fd 2 sent to a file, then write back
    every line that is not known start-up chatter."""
    if "tensorflow" in _sys.modules:
        return
    _os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TF's own INFO and WARNING logs
    try:
        saved = _os.dup(2)
    except OSError:  # no usable stderr (embedded interpreters): import as usual
        import tensorflow as tf

        tf.config.list_physical_devices()
        return
    with _tempfile.TemporaryFile() as log:
        _sys.stderr.flush()
        _os.dup2(log.fileno(), 2)
        try:
            import tensorflow as tf

            tf.config.list_physical_devices()  # device discovery prints the cuInit line
        finally:
            _sys.stderr.flush()
            _os.dup2(saved, 2)
            _os.close(saved)
            log.seek(0)
            text = log.read().decode(errors="replace")
    kept = [line for line in text.splitlines() if line.strip() and not _CHATTER.search(line)]
    if kept:
        print("\n".join(kept), file=_sys.stderr)


_import_tensorflow_quietly()

from . import dense  # noqa: E402, F401 - the dense label kinds register themselves (notebook 11)
