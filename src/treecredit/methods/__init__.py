"""Built-in estimators (one module per method family). Importing this package registers each of them by name."""

from treecredit.methods import (  # noqa: F401  # noqa: F401
    gigpo,
    ibpo,
    outcome,  # noqa: F401
    rtmc,
    spo,
    tempo,
    treepo,
    treerl,
    treerpo,
    turn_outcome,
    vine,
)
