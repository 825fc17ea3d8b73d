"""Built-in estimators (one module per method family). Importing this package registers each of them by name."""

from treecredit.methods import gigpo, ibpo, outcome, rtmc, spo, tempo, treepo, treerl, treerpo, turn_outcome, vine  # noqa: F401
