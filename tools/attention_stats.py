#!/usr/bin/env python
"""
The checkout's command of ``nl_detectron.tools.attention_stats`` (with the package alone:
``python -m nl_detectron.tools.attention_stats``); its docstring gives the usage.
"""

from nl_detectron.tools.attention_stats import main

if __name__ == "__main__":
    raise SystemExit(main())
