"""Forest.render's node_labels: one value per node; token values are refused naming the conversion."""

import numpy as np
import pytest

import treecredit
from treecredit.demo import demo_batch


def test_token_advantages_as_node_labels_are_refused_naming_node_token_values():
    # was: a bare "TypeError: only 0-dimensional arrays can be converted to Python scalars"
    batch = demo_batch()
    forest = treecredit.build_tree("step", **batch, delimiter=[ord("=")])
    adv = treecredit.compute_advantages("treerpo", **batch, delimiter=[ord("=")], scale="none")
    with pytest.raises(ValueError, match=r"^node_labels: has shape \(\d+, \d+\) \(one per token, such as "
                                         r"advantages\), but takes one value per node of the forest: \(\d+,\)\. "
                                         r"Fix: pass forest\.node_token_values\("):
        forest.render(0, node_labels=adv)
    with pytest.raises(ValueError, match=r"^node_labels: has shape \(2,\)"):
        forest.render(0, node_labels=np.zeros(2))
    shown = forest.render(0, node_labels=forest.node_token_values(adv))
    assert "A=" in shown
