"""Workflows: durable ``main(input)`` runs over a DynamoDB event log, driven by Step Functions.

Built so far (issue 4, in progress):

- :mod:`.events`: the history's event types; commands and their outcomes share a ``cmd``.
- :mod:`.replay`: one step of a run: replay the code against the history, detect
  non-determinism (naming the Lua line), record new commands, due timers and the end of the run.
  ``funcs.call``/``funcs.async`` are activities, ``time.sleep``/``time.after`` durable timers,
  ``time.now()`` and ``uuid`` replay exactly without being recorded.
- :mod:`.asl`: the driver state machine's definition (Step -> Choice -> wait for a wake), the one
  place it is generated.

Still to come: the log store in DynamoDB (gapless conditional appends, the run's inbox and index
item), the step/wake/activity handlers, activity options and retries, signals (``process.inbox``),
children, the sticky cache, the local driver in the harness, and the ``workflow`` module.
"""
