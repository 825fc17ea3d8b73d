"""Models: the character tokenizer, the small GPT, and the policy adapters (torch imported here)."""

from treecredit.models.gpt import GPT, GPTConfig
from treecredit.models.gpt_policy import GPTPolicy
from treecredit.models.hf_policy import HFPolicy, smollm2_gguf_path
from treecredit.models.tokenizer import CharTokenizer

__all__ = ["CharTokenizer", "GPT", "GPTConfig", "GPTPolicy", "HFPolicy", "smollm2_gguf_path"]
