"""Parameter counts read as people write them: a 19.8k-parameter model is not "0.0M"."""

import pytest

from treecredit.models.param_count import parameter_count_text


@pytest.mark.parametrize("n, text", [(950, "950"), (19_800, "19.8k"), (999_600, "1M"), (1_810_000, "1.81M"),
                                     (50e6, "50M"), (134_515_008, "135M"), (1.7e9, "1.7B"), (0, "0")])
def test_counts_keep_three_significant_digits_with_a_suffix(n, text):
    assert parameter_count_text(n) == text
