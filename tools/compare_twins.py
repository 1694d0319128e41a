#!/usr/bin/env python
"""
The checkout's command of ``nl_detectron.tools.compare_twins`` (with the package alone:
``python -m nl_detectron.tools.compare_twins``); its docstring gives the usage.
"""

from nl_detectron.tools.compare_twins import main

if __name__ == "__main__":
    raise SystemExit(main())
