"""How a release looks afterwards: facts read from its journal, the HTML report, exports."""
