"""RecordingBackend (TRL tree rollouts on vLLM): every generated token's sampling log-probability can be
looked up along a finished row, across segments and forks; no engine needed."""

import math

from treecredit.integrations.trl_tree import RecordingBackend
from treecredit.sampling.backend import SamplingSettings, Segment, SegmentRequest


class ScriptedBackend:
    """Returns the segments it was given, in order; log-probability of token t is -t/10."""

    pad_id, eos_ids = 0, (2,)

    def __init__(self, script):
        self.script = list(script)

    def generate(self, requests, settings, generator=None):
        return [[Segment(tokens=list(t), logprobs=[-x / 10 for x in t]) for t in self.script.pop(0)] for _ in requests]

    def decode(self, ids):
        return " ".join(map(str, ids))


def test_rows_made_of_several_segments_get_their_recorded_logprobs():
    prompt = (5, 6)
    inner = ScriptedBackend([[(7, 8, 9), (7, 3)], [(11, 12)]])
    backend = RecordingBackend(inner)
    settings = SamplingSettings(with_entropy=False)
    backend.generate([SegmentRequest(prompt, 2, n=2)], settings)
    backend.generate([SegmentRequest(prompt + (7, 8), 2, n=1)], settings)  # a fork inside the first segment
    assert backend.logprobs(list(prompt), [7, 8, 9]) == [-0.7, -0.8, -0.9]
    assert backend.logprobs(list(prompt), [7, 3]) == [-0.7, -0.3]
    assert backend.logprobs(list(prompt), [7, 8, 11, 12]) == [-0.7, -0.8, -1.1, -1.2]
    unknown = backend.logprobs(list(prompt), [7, 4, 9])  # never generated after (7,): NaN from there on
    assert unknown[0] == -0.7 and all(math.isnan(x) for x in unknown[1:])
    assert all(math.isnan(x) for x in backend.logprobs([1], [7]))  # another prompt
    assert backend.pad_id == 0 and backend.decode([1, 2]) == "1 2"  # the rest is the wrapped backend's
