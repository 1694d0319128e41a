#!/usr/bin/env python
"""
The checkout's command of ``nl_detectron.tools.demo`` (with the package alone:
``python -m nl_detectron.tools.demo``); its docstring gives the usage.
"""

from nl_detectron.tools.demo import main

if __name__ == "__main__":
    raise SystemExit(main())
