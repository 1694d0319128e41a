"""
The commands of nl_detectron, each a module with ``main(argv)``, so that an installed package
runs them from anywhere (``python -m nl_detectron.tools.train_net --config-file ...``) and a
program calls them with an argument list. ``tools/*.py`` in the checkout are the same commands,
as README shows them; docs/tools.md lists them.
"""
