"""The credit lab: exact environments (dynamic-programming ground truth), samplers to the batch layout,
measurements of every registered estimator against exact advantages, sweeps and ``treecredit lab``.

Modules: ``tabular`` (token and step MDPs), ``state_graph`` (multi-turn environment), ``sampling``
(i.i.d. groups and explicit trees), ``measure`` (metrics with jackknife intervals), ``runner`` (calls
estimators by name), ``sweeps``, ``claims``, ``plots``, ``report``, ``command`` (the CLI).
"""
