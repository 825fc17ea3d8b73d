import sys

from treecredit.cli import main

sys.exit(main())
