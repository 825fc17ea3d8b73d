"""A scripted policy (writes given action texts, never looks at observations) and small helpers."""

import torch

from treecredit.agents.policy import AGENT_ALPHABET
from treecredit.models.tokenizer import CharTokenizer
from treecredit.sampling.policy import DecodeState


class ScriptedPolicy:
    """A ``Policy`` whose row r writes ``scripts[r % len(scripts)]``: action texts, each followed by ``marker``.

    Its position in the script is ``next_pos − 1`` (which the sampler holds for rows that wait for others);
    observations arrive through ``extend``, which does not move it. Log-probabilities of scripted tokens
    are 0 (all mass on the script).
    """

    def __init__(self, scripts: list[list[str]], marker: str = "\n") -> None:
        self.tokenizer = CharTokenizer(AGENT_ALPHABET)
        self.pad_id, self.eos_id = self.tokenizer.pad_id, self.tokenizer.eos_id
        self.vocab_size = self.tokenizer.vocab_size
        self.scripts = [self.tokenizer.encode("".join(a + marker for a in s)) for s in scripts]
        self.model = torch.nn.Linear(1, 1)

    @property
    def module(self):
        return self.model

    def encode_prompt(self, text):
        return self.tokenizer.encode_prompt(text)

    def encode(self, text):
        return self.tokenizer.encode(text)

    def decode(self, ids):
        return self.tokenizer.decode(ids)

    def _logits(self, script_row, pointer):
        logits = torch.full((len(pointer), self.vocab_size), -1e4)
        for i, (s, p) in enumerate(zip(script_row.tolist(), pointer.tolist())):
            script = self.scripts[s % len(self.scripts)]
            logits[i, script[p] if p < len(script) else self.eos_id] = 0.0
        return logits

    def prefill(self, prompts):
        B = len(prompts)
        state = DecodeState(torch.arange(B), torch.ones(B, 1, dtype=torch.bool), torch.ones(B, dtype=torch.long))
        return self._logits(state.cache, state.next_pos - 1), state

    def step(self, state, tokens):
        key_valid = torch.cat([state.key_valid, torch.ones_like(state.key_valid[:, :1])], 1)
        return self._logits(state.cache, state.next_pos), DecodeState(state.cache, key_valid, state.next_pos + 1)

    def extend(self, state, sequences):
        return self._logits(state.cache, state.next_pos - 1), state

    def select(self, state, rows):
        return DecodeState(state.cache.index_select(0, rows), state.key_valid.index_select(0, rows),
                           state.next_pos.index_select(0, rows))
