"""The availability checks import nothing heavy and answer from what is installed."""

import importlib.util
import subprocess
import sys

from treecredit.integrations import is_trl_available, is_verl_available


def test_checks_agree_with_find_spec():
    assert is_trl_available() == (importlib.util.find_spec("trl") is not None)
    assert is_verl_available() == (importlib.util.find_spec("verl") is not None)


def test_importing_the_package_and_checking_imports_no_trainer_or_torch():
    code = (
        "import sys, treecredit, treecredit.integrations as i; i.is_trl_available(); i.is_verl_available(); "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'trl', 'verl', 'transformers', 'ray'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": "src"}, cwd=__file__.rsplit("/tests/", 1)[0])
    assert out.stdout.strip() == "[]"
