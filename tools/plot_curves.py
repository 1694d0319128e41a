#!/usr/bin/env python
"""
The checkout's command of ``nl_detectron.tools.plot_curves`` (with the package alone:
``python -m nl_detectron.tools.plot_curves``); its docstring gives the usage.
"""

from nl_detectron.tools.plot_curves import main

if __name__ == "__main__":
    raise SystemExit(main())
