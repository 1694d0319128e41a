#!/usr/bin/env python
"""
The checkout's command of ``nl_detectron.tools.visualize_json_results`` (with the package alone:
``python -m nl_detectron.tools.visualize_json_results``); its docstring gives the usage.
"""

from nl_detectron.tools.visualize_json_results import main

if __name__ == "__main__":
    raise SystemExit(main())
