"""Measurements of advantage estimates against exact advantages, with jackknife confidence intervals.

One *block* is one estimator call on one sampled batch (several independent groups). Each block is
reduced to sufficient statistics; metrics are functions of the statistics summed over blocks, and
their intervals come from the delete-one-block jackknife (blocks are independent).

Per token (unmasked), the error is e = Â − A*, where A* is the exact advantage of the token's
state-action *node* (depth, prefix, action). Over all tokens of all blocks:

- ``mse``   = mean e²; ``rmse`` = √mse.
- ``bias2`` = Σ_n [n·m_n² − s_n²] / Σ_n n and ``var`` = Σ_n n·s_n² / Σ_n n over the nodes n visited at
  least twice (m_n = mean error at the node, s_n² its unbiased variance): the node-conditional
  decomposition mse = E_node[bias(node)²] + E_node[Var(Â | node)], with m² − s²/n unbiased for bias².
  ``rms_bias`` = √max(bias2, 0), ``sd`` = √var; ``coverage`` = share of tokens in such nodes.
- ``gain``  = ΣÂA* / ΣA*²: the least-squares slope of Â on A* (1 for an unbiased estimator; 1 − 1/B for
  a leave-self-in sibling mean); ``nmse_scaled`` = 1 − (ΣÂA*)² / (ΣÂ² ΣA*²), the error left after the best
  global rescaling of Â (scale-free, for normalised estimators).
- ``rank_corr`` = mean over groups of Spearman's ρ(Â, A*) over the group's tokens (ties get average
  ranks; a group with constant A* is skipped; a group with constant Â counts ρ = 0).
- ``sign_agree`` = over tokens with A* ≠ 0, the share with sign Â = sign A* (Â = 0 counts one half).
- Gradient, when given: per group ĝ = (1/G) Σ_items w·∇log π (the policy-gradient estimate built from
  the advantages); ``grad_cos`` = mean cos(ĝ, ∇J); ``grad_mean_cos`` = cos(E ĝ, ∇J);
  ``grad_var`` = tr Cov ĝ; ``grad_rel_var`` = tr Cov ĝ / ‖E ĝ‖² (scale-free), with ‖ĝ̄‖² in place of
  ‖E ĝ‖²; the ``_u`` versions ``grad_rel_var_u`` and ``grad_mean_cos_u`` use ‖ĝ̄‖² − tr Cov ĝ / k instead,
  unbiased for ‖E ĝ‖² over k groups (NaN when the signal is not resolved), which matters when ρ is not
  small against k.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

ZERO_TOL = 1e-12


def t_quantile_975(df: int) -> float:
    """The 97.5 % quantile of Student's t with ``df`` degrees of freedom (exact: the inverse of the incomplete-beta
    p-value of :func:`treecredit.training.compare_stats.t_quantile`); NaN for ``df`` ≤ 0."""
    from treecredit.training.compare_stats import t_quantile

    return t_quantile(df) if df > 0 else float("nan")


def grouped_ranks(x: np.ndarray, group: np.ndarray, n_groups: int) -> np.ndarray:
    """Ranks 0..n_g−1 of ``x`` within each group; tied values share their average rank."""
    order = np.lexsort((x, group))
    s, g = x[order], group[order]
    new_run = np.ones(x.size, dtype=bool)
    new_run[1:] = (s[1:] != s[:-1]) | (g[1:] != g[:-1])
    run = np.cumsum(new_run) - 1
    pos = np.arange(x.size) - np.searchsorted(g, np.arange(n_groups))[g]
    mean_pos = np.bincount(run, weights=pos) / np.bincount(run)
    ranks = np.empty(x.size)
    ranks[order] = mean_pos[run]
    return ranks


def grouped_spearman(a: np.ndarray, b: np.ndarray, group: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Spearman's ρ(a, b) per group and a mask of the groups where it is defined (b not constant).

    A group where ``a`` is constant (but ``b`` is not) gets ρ = 0.
    """
    counts = np.maximum(np.bincount(group, minlength=n_groups), 1)
    ra, rb = grouped_ranks(a, group, n_groups), grouped_ranks(b, group, n_groups)
    ra -= (np.bincount(group, weights=ra, minlength=n_groups) / counts)[group]
    rb -= (np.bincount(group, weights=rb, minlength=n_groups) / counts)[group]
    na = np.sqrt(np.bincount(group, weights=ra * ra, minlength=n_groups))
    nb = np.sqrt(np.bincount(group, weights=rb * rb, minlength=n_groups))
    dot = np.bincount(group, weights=ra * rb, minlength=n_groups)
    defined = nb > ZERO_TOL
    rho = np.where(defined & (na > ZERO_TOL), dot / np.maximum(na * nb, ZERO_TOL), 0.0)
    return rho, defined


@dataclass
class GradientTerms:
    """The score-function design of one batch: item k adds w_k · score[k, :] at ``index[k, :]`` to its group.

    ``index``/``score`` ``(K, V)``: parameter indices and ∇log π values (1[b=a] − π(b|s)); ``group (K,)``;
    ``weight (K,)`` is filled from the advantages by the caller; ``true_gradient (n_params,)``;
    ``group_size``: G, or ``(n_groups,)`` leaves per group when groups differ in size (adaptive trees).
    """

    index: np.ndarray
    score: np.ndarray
    group: np.ndarray
    true_gradient: np.ndarray
    group_size: int | np.ndarray


def group_gradients(terms: GradientTerms, weight: np.ndarray, n_groups: int) -> np.ndarray:
    """``(n_groups, n_params)``: ĝ_g = (1/G) Σ_k w_k score_k."""
    P = terms.true_gradient.size
    flat = (terms.group[:, None] * P + terms.index).reshape(-1)
    vals = (weight[:, None] * terms.score).reshape(-1)
    sizes = np.asarray(terms.group_size, dtype=np.float64)
    sums = np.bincount(flat, weights=vals, minlength=n_groups * P).reshape(n_groups, P)
    return sums / (sizes[:, None] if sizes.ndim else sizes)


def block_stats(est: np.ndarray, target: np.ndarray, node: np.ndarray, n_nodes: int, group: np.ndarray,
                n_groups: int, grad: GradientTerms | None = None, grad_weight: np.ndarray | None = None) -> dict:
    """Sufficient statistics of one block. ``est, target, node, group`` are flat over unmasked tokens
    (``group`` holds dense group numbers)."""
    est = est.astype(np.float64)
    e = est - target
    stats = {
        "node_n": np.bincount(node, minlength=n_nodes).astype(np.float64),
        "node_e": np.bincount(node, weights=e, minlength=n_nodes),
        "node_e2": np.bincount(node, weights=e * e, minlength=n_nodes),
        "tok": np.array([e.size, (e * e).sum(), (est * target).sum(), (est * est).sum(), (target * target).sum()]),
    }
    rho, defined = grouped_spearman(est, target, group, n_groups)
    nonzero = np.abs(target) > ZERO_TOL
    agree = np.where(np.abs(est) <= ZERO_TOL, 0.5, (np.sign(est) == np.sign(target)).astype(np.float64))
    stats["rank"] = np.array([rho[defined].sum(), defined.sum()])
    stats["sign"] = np.array([agree[nonzero].sum(), nonzero.sum()])
    if grad is not None:
        g = group_gradients(grad, grad_weight, n_groups)
        true = grad.true_gradient
        cos = (g @ true) / np.maximum(np.linalg.norm(g, axis=1) * np.linalg.norm(true), ZERO_TOL)
        stats["grad_sum"] = g.sum(axis=0)
        stats["grad"] = np.array([n_groups, (g * g).sum(), cos.sum()])
        stats["grad_true"] = true
    return stats


def metrics_from(stats: dict) -> dict:
    """Every metric from summed statistics (see the module docstring)."""
    n, se2, sat, saa, stt = stats["tok"]
    out = {"mse": se2 / max(n, 1)}
    out["rmse"] = math.sqrt(out["mse"])
    nn, ne, ne2 = stats["node_n"], stats["node_e"], stats["node_e2"]
    ok = nn >= 2
    if ok.any():
        m = ne[ok] / nn[ok]
        s2 = np.maximum(ne2[ok] - nn[ok] * m * m, 0.0) / (nn[ok] - 1)
        w = nn[ok].sum()
        out["bias2"] = float((nn[ok] * m * m - s2).sum() / w)
        out["var"] = float((nn[ok] * s2).sum() / w)
        out["coverage"] = float(w / max(n, 1))
    else:
        out.update(bias2=float("nan"), var=float("nan"), coverage=0.0)
    out["rms_bias"] = math.sqrt(max(out["bias2"], 0.0)) if out["bias2"] == out["bias2"] else float("nan")
    out["sd"] = math.sqrt(out["var"]) if out["var"] == out["var"] else float("nan")
    out["gain"] = sat / stt if stt > ZERO_TOL else float("nan")
    out["nmse_scaled"] = 1.0 - sat * sat / (saa * stt) if saa > ZERO_TOL and stt > ZERO_TOL else 1.0
    out["rank_corr"] = stats["rank"][0] / stats["rank"][1] if stats["rank"][1] else float("nan")
    out["sign_agree"] = stats["sign"][0] / stats["sign"][1] if stats["sign"][1] else float("nan")
    if "grad" in stats:
        k, sq, scos = stats["grad"]
        mean = stats["grad_sum"] / k
        true = stats["grad_true"] / stats["_blocks"]
        tr_cov = (sq / k - mean @ mean) * k / max(k - 1, 1)
        out["grad_cos"] = scos / k
        out["grad_mean_cos"] = float(mean @ true / max(np.linalg.norm(mean) * np.linalg.norm(true), ZERO_TOL))
        out["grad_var"] = float(tr_cov)
        out["grad_rel_var"] = float(tr_cov / max(mean @ mean, ZERO_TOL))
        signal = mean @ mean - tr_cov / k  # unbiased for ‖E ĝ‖² (the sample mean's norm² carries tr Cov / k)
        ok = signal > ZERO_TOL
        out["grad_rel_var_u"] = float(tr_cov / signal) if ok else float("nan")
        out["grad_mean_cos_u"] = (float(mean @ true / (math.sqrt(signal) * max(np.linalg.norm(true), ZERO_TOL)))
                                  if ok else float("nan"))
    return out


@dataclass
class Accumulator:
    """Collects the blocks of one (configuration, estimator) cell and returns metrics with 95 % intervals."""

    blocks: list = field(default_factory=list)

    def add(self, stats: dict) -> None:
        self.blocks.append(stats)

    def _total(self) -> dict:
        total = {key: sum(b[key] for b in self.blocks) for key in self.blocks[0]}
        total["_blocks"] = len(self.blocks)
        return total

    def _without(self, total: dict, i: int) -> dict:
        out = {key: total[key] - self.blocks[i][key] for key in self.blocks[i]}
        out["_blocks"] = total["_blocks"] - 1
        return out

    def result(self) -> dict:
        """``{metric: (value, lo, hi)}``; intervals ± t·se from the delete-one-block jackknife."""
        total = self._total()
        full = metrics_from(total)
        K = len(self.blocks)
        if K < 3:
            return {m: (v, float("nan"), float("nan")) for m, v in full.items()}
        leave = [metrics_from(self._without(total, i)) for i in range(K)]
        t = t_quantile_975(K - 1)
        out = {}
        for m, v in full.items():
            vals = np.array([lv[m] for lv in leave], dtype=np.float64)
            if not np.isfinite(vals).all() or not np.isfinite(v):
                out[m] = (v, float("nan"), float("nan"))
                continue
            se = math.sqrt((K - 1) / K * ((vals - vals.mean()) ** 2).sum())
            out[m] = (float(v), float(v - t * se), float(v + t * se))
        return out
