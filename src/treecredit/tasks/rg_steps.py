"""Worked steps of reasoning-gym generators: the warm-start solution, the step lines, a partial verifier.

Two kinds of generator ship worked steps:

- ``gsm_symbolic``: ``metadata["answer_cot"]``, a worked solution ending in ``#### answer``;
- the rule machines ``string_splitting`` and ``string_synthesis``: ``metadata["states"]``, the counts
  after each rule application. Their solution is one line per state after the initial one, the counts
  separated by spaces (the generator's answer format), the last line written ``#### <answer>``.
  The partial verifier replays the generator's own rule (its ``_apply_rule``): a line is right when
  it is the previous state (the initial counts for the first line) after one rule application; the
  ``####`` line must also be a state where the process stops (no rule applies, or a state repeats).

Elsewhere the solution is the bare answer and there is no step verifier.
"""

from __future__ import annotations

COT_KEYS = {"gsm_symbolic": "answer_cot"}  # generator -> metadata key of a worked solution text
RULE_MACHINES = ("string_splitting", "string_synthesis")  # generators whose metadata["states"] are the steps


def has_worked_steps(generator: str) -> bool:
    return generator in COT_KEYS or generator in RULE_MACHINES


def worked_solution(generator: str, entry: dict) -> str:
    """The worked solution of a generator's entry (see the module docstring), else its answer."""
    metadata, answer = entry["metadata"], str(entry["answer"])
    if generator in COT_KEYS:
        return str(metadata.get(COT_KEYS[generator], answer))
    if generator in RULE_MACHINES:
        lines = [" ".join(str(c) for c in state) for state in metadata["states"][1:-1]]
        return "\n".join([*lines, f"#### {answer}"])
    return answer


def _counts(line: str) -> list[int] | None:
    try:
        return [int(x) for x in line.replace("####", " ").split()]
    except ValueError:
        return None


def check_rule_steps(dataset, entry: dict, steps: list[str]) -> list[bool]:
    """One bool per step line of a rule machine's response (see the module docstring); a line that is
    not a list of counts is wrong, and so is every line after a ``####`` line."""
    state = list(entry["metadata"]["states"][0])
    seen = [state]
    out: list[bool] = []
    done = False
    for line in steps:
        counts = _counts(line)
        final = line.lstrip().startswith("####")
        if done or counts is None or len(counts) != len(state):
            out.append(False)
            done = done or final
            continue
        following = dataset._apply_rule(list(state))  # the generator's own rule step
        stops_here = following in seen  # no rule applies (unchanged) or a state repeats
        if final:  # the answer: where the process stops, either the last state or the next one
            out.append((counts == state and stops_here) or (
                counts == following and not stops_here and dataset._apply_rule(list(counts)) in seen + [counts]))
            done = True
            continue
        out.append(counts == following and not stops_here)
        state = counts
        seen.append(counts)
    return out
