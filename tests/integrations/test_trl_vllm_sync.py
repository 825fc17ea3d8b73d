"""The weight sync and the tree backend on TRL's vLLM (treecredit.integrations._trl_vllm), on stand-ins for TRL's
``vllm_generation``: a colocated CPU engine reloads its weights in place (TRL 1.16's own sync fails there),
any other engine syncs through TRL; the tree backend wraps the colocated ``LLM`` or the server's client."""

from types import SimpleNamespace

import pytest

from treecredit.integrations import _trl_vllm


class Generation:
    def __init__(self, mode):
        self.mode, self.calls = mode, []
        runner = SimpleNamespace(reload_weights=lambda **kw: self.calls.append(("reload", kw["is_checkpoint_format"])))
        executor = SimpleNamespace(driver_worker=SimpleNamespace(model_runner=runner))
        self.llm = SimpleNamespace(llm_engine=SimpleNamespace(model_executor=executor),
                                   reset_prefix_cache=lambda: self.calls.append("reset"))

    def _iter_named_params(self):
        return iter(())

    def sync_weights(self):
        self.calls.append("trl")


@pytest.mark.parametrize("mode, on_cpu, calls", [
    ("colocate", True, [("reload", True), "reset"]), ("colocate", False, ["trl"]), ("server", True, ["trl"])])
def test_a_colocated_cpu_engine_reloads_its_weights_and_others_sync_through_trl(monkeypatch, mode, on_cpu, calls):
    monkeypatch.setattr(_trl_vllm, "engine_on_cpu", lambda: on_cpu)
    generation = Generation(mode)
    _trl_vllm.sync_vllm_weights(generation)
    assert generation.calls == calls


def test_the_tree_backend_wraps_trls_colocated_engine_or_its_server_client(monkeypatch):
    import treecredit.sampling.vllm_backend as vllm_backend
    import treecredit.sampling.vllm_server as vllm_server

    made = []
    monkeypatch.setattr(vllm_backend, "VLLMBackend", lambda llm, base_logprobs: made.append((llm, base_logprobs)))
    monkeypatch.setattr(vllm_server, "VLLMServerBackend",
                        lambda client, tokenizer, base_logprobs: made.append((client, tokenizer, base_logprobs)))
    colocated = Generation("colocate")
    _trl_vllm.vllm_tree_backend(colocated, "tok")
    server = SimpleNamespace(mode="server", vllm_client="client")
    _trl_vllm.vllm_tree_backend(server, "tok")
    assert made == [(colocated.llm, False), ("client", "tok", False)]
