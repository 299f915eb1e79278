"""The compiled parts: the collector's per-event passes (agentwatch/collector/_windowscan.c, the
window's aggregation; agentwatch/collector/_ingestscan.c, ingest's checks and the log ring's columns;
agentwatch/collector/_ledgerscan.c, the alert ledger fold's second pass).

Optional: where no C compiler is found the install goes on without them and the collector uses the
same passes written in Python (window.py, ingest.py, loghub.py, ledger.py), which give the same
results, slower.
Everything else about the package is in pyproject.toml.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "agentwatch.collector._windowscan",
            ["agentwatch/collector/_windowscan.c"],
            depends=["agentwatch/collector/_slots.h"],
            optional=True,
        ),
        Extension(
            "agentwatch.collector._ingestscan",
            ["agentwatch/collector/_ingestscan.c"],
            depends=["agentwatch/collector/_slots.h"],
            optional=True,
        ),
        Extension(
            "agentwatch.collector._ledgerscan",
            ["agentwatch/collector/_ledgerscan.c"],
            depends=["agentwatch/collector/_slots.h"],
            optional=True,
        ),
    ]
)
