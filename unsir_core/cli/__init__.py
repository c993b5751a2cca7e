"""The command line: `python -m unsir_core COMMAND`."""
