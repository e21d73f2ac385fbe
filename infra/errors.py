"""The error that stops a synth with a message meant for the application author."""

from __future__ import annotations


class SynthError(Exception):
    """Synthesis cannot go on; ``problems`` lists every reason found, each a full sentence."""

    def __init__(self, headline: str, problems: list[str] | None = None) -> None:
        self.headline = headline
        self.problems = list(problems or [])
        text = headline + "".join(f"\n  - {p}" for p in self.problems)
        super().__init__(text)
