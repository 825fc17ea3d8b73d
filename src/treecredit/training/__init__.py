"""Training: config, PPO/GRPO loss, warm start, the RL loop, checkpoints, metrics, ``train``/``compare``.

Importing this package is light; torch is imported inside the functions that train.
"""

from treecredit.training.config import TrainConfig

__all__ = ["TrainConfig"]
