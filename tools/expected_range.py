#!/usr/bin/env python
"""
The checkout's command of ``nl_detectron.tools.expected_range`` (with the package alone:
``python -m nl_detectron.tools.expected_range``); its docstring gives the usage.
"""

from nl_detectron.tools.expected_range import main

if __name__ == "__main__":
    raise SystemExit(main())
