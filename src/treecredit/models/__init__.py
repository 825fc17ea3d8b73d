"""Models: the character tokenizer, the small GPT, and the policy adapters (torch imported here)."""

from treecredit.models.gpt import GPT, GPTConfig
from treecredit.models.gpt_policy import GPTPolicy
from treecredit.models.hf_load import export_pretrained, smollm2_gguf_path
from treecredit.models.hf_policy import HFPolicy
from treecredit.models.tokenizer import CharTokenizer

__all__ = ["GPT", "CharTokenizer", "GPTConfig", "GPTPolicy", "HFPolicy", "export_pretrained", "smollm2_gguf_path"]
