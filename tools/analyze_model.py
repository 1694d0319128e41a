#!/usr/bin/env python
"""
The checkout's command of ``nl_detectron.tools.analyze_model`` (with the package alone:
``python -m nl_detectron.tools.analyze_model``); its docstring gives the usage.
"""

from nl_detectron.tools.analyze_model import main

if __name__ == "__main__":
    raise SystemExit(main())
