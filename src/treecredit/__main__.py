from treecredit.cli import entry

entry()
