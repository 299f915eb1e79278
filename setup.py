"""The one compiled part: the window's per-event pass (agentwatch/collector/_windowscan.c).

Optional: where no C compiler is found the install goes on without it and the collector uses the
same pass written in Python (agentwatch/collector/window.py), which gives the same numbers, slower.
Everything else about the package is in pyproject.toml.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "agentwatch.collector._windowscan",
            ["agentwatch/collector/_windowscan.c"],
            optional=True,
        )
    ]
)
