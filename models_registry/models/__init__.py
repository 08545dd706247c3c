from .evaluation import Evaluation
from .model_version import ModelVersion
from .prelabel_run import PrelabelRun

__all__ = ["Evaluation", "ModelVersion", "PrelabelRun"]
