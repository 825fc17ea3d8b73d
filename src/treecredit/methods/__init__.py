"""Built-in estimators (one module per method family). Importing this package registers each of them by name."""

from treecredit.methods import outcome  # noqa: F401
from treecredit.methods import gigpo, ibpo, rtmc, turn_outcome  # noqa: F401
from treecredit.methods import spo, tempo, treepo, treerl, treerpo, vine  # noqa: F401
