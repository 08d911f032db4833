"""The ``suny`` command line: one module per sub-command."""
