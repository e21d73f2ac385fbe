"""The durable-coroutine engine both drivers stand on.

A durable coroutine is Lua code whose inputs and non-deterministic outcomes are appended to a
journal, so the coroutine can be rebuilt anywhere by replaying it, or resumed where a warm
worker kept it. Workflows (driven by Step Functions, :mod:`runtime.workflows`) and loop-style
processes (driven by SQS, :mod:`runtime.processes.loop`) are the two drivers; neither has a
replay of its own.

Modules:

- :mod:`.events`: the journal's event types; commands and their outcomes share a ``cmd``.
- :mod:`.journal`: the journal in DynamoDB chunk items, one conditional put per append.
- :mod:`.replay`: replay the code against the journal (or resume a kept replay), detect
  non-determinism (naming the Lua line), record new commands, due timers and the end.
- :mod:`.sticky`: the cache of replays kept warm between appends.
- :mod:`.inline`, :mod:`.attempts`: recorded calls (``funcs.call``) run by the driver and
  checkpointed: their outcome is journaled and never rerun on replay.
- :mod:`.retries`: activity options and retry policies (retries are durable timers).
"""
