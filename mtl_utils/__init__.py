"""mtl_utils: reusable pieces of the course on data augmentation in multi-task learning.

Modules: ``tasks`` (the Task spec), ``data`` (offline datasets, tf.data pipelines),
``augment`` (label-consistent augmentation), ``models`` (Keras builders), ``weighting``
(loss-weighting strategies and the multi-task ``train_step``), ``experiments`` (seeded runs,
results store, Delta_m) and ``plotting``.
"""

__version__ = "0.1.0"
