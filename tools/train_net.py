#!/usr/bin/env python
"""
The checkout's command of ``nl_detectron.tools.train_net`` (with the package alone:
``python -m nl_detectron.tools.train_net``); its docstring gives the usage.
"""

from nl_detectron.tools.train_net import main

if __name__ == "__main__":
    raise SystemExit(main())
