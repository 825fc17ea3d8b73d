"""Multi-turn agents: episodes sampled with a carried KV cache, packed for the trainer, credited per turn."""

from treecredit.agents.batch import AgentBatch, pack_episodes
from treecredit.agents.credit import agent_advantages, episode_metrics, estimator_level, revisit_rate, step_credit_share
from treecredit.agents.decode import decode_actions, extend_state, freeze_rows
from treecredit.agents.episodes import Episode, EpisodeSettings, encodable, play

__all__ = ["AgentBatch", "Episode", "EpisodeSettings", "agent_advantages", "decode_actions", "encodable",
           "episode_metrics", "estimator_level", "extend_state", "freeze_rows", "pack_episodes", "play",
           "revisit_rate", "step_credit_share"]
