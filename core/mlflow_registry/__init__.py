"""MLflow under Countersign: import a tracking server's registered models, runs and datasets (ledgered, all or
nothing), make MLflow's aliases follow the stages Countersign approves, and find aliases moved around the gate.

Needs the ``mlflow`` extra. Names are imported on first use (lazy_loader); the public names are listed in
``__init__.pyi``.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
