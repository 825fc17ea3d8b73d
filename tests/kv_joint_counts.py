"""Counts of the joint (all-layer) KV stacks and appends that succeeded, for the joint-buffer tests."""

from treecredit.models import hf_cache


class Counts:
    """Counts the joint stacks and appends that succeeded."""

    def __init__(self, monkeypatch):
        self.stacks = self.appends = 0
        stack, append = hf_cache.GrowingLayer.stack_layers, hf_cache.GrowingLayer.append_layers

        def stacking(*args):
            out = stack(*args)
            self.stacks += out is not None
            return out

        def appending(*args):
            out = append(*args)
            self.appends += out is not None
            return out

        monkeypatch.setattr(hf_cache.GrowingLayer, "stack_layers", staticmethod(stacking))
        monkeypatch.setattr(hf_cache.GrowingLayer, "append_layers", staticmethod(appending))
