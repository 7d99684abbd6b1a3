"""mtl_utils: reusable pieces of the course on data augmentation in multi-task learning.

Modules: ``tasks`` (the Task spec), ``data`` (offline datasets, tf.data pipelines),
``augment`` (label-consistent augmentation), ``models`` (Keras builders), ``weighting``
(loss-weighting strategies and the multi-task ``train_step``), ``experiments`` (seeded runs,
results store, Delta_m) and ``plotting``.
"""

import os as _os

# Quiet TensorFlow's C++ start-up logging (CUDA probes on CPU machines) unless the user
# asked for it; this must happen before TensorFlow is first imported.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
