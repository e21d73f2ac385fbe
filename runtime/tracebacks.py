"""Lua tracebacks trimmed to application code."""

from __future__ import annotations

_KIT_MARKERS = ("[kit]", "[C]:", "(...tail calls...)")


def trim_traceback(trace: str) -> str:
    """Drop the frames that belong to the kit or to C, keeping the message and user frames.

    ``stack traceback:`` stays only when a user frame follows it, so an error raised by kit code
    on behalf of the user reads as the user's error, not as kit internals.
    """
    lines = trace.splitlines()
    if not lines:
        return ""
    kept: list[str] = []
    frames: list[str] = []
    in_frames = False
    for line in lines:
        if line.strip() == "stack traceback:":
            in_frames = True
            continue
        if not in_frames:
            kept.append(line)
        elif not any(marker in line for marker in _KIT_MARKERS):
            frames.append(line.rstrip())
    if frames:
        kept.append("stack traceback:")
        kept.extend(frames)
    return "\n".join(kept)
