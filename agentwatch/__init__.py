"""agentwatch — watch a fleet of AI agents live from the terminal."""

__version__ = "0.1.0"
