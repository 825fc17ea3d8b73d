"""Import target for verl's legacy trainer: registers the estimators and passes response ids.

Set ``VERL_USE_EXTERNAL_MODULES=treecredit.integrations.verl_legacy`` (and ``trainer.use_v1=False``) so
that every verl process registers ``treecredit_<name>`` and the driver's ``compute_advantage`` hands
``data.batch["responses"]`` to them (see :func:`treecredit.integrations.verl.pass_response_ids`).
"""

from treecredit.integrations.verl import pass_response_ids

pass_response_ids()
