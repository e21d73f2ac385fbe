"""Workflows: durable ``main(input)`` runs over a DynamoDB event log, driven by Step Functions.

Built so far (issue 4, in progress):

- :mod:`.events`: the history's event types; commands and their outcomes share a ``cmd``.
- :mod:`.replay`: one step of a run: replay the code against the history, detect
  non-determinism (naming the Lua line), record new commands, due timers and the end of the run.
  ``funcs.call``/``funcs.async`` are activities, ``time.sleep``/``time.after`` durable timers,
  ``time.now()`` and ``uuid`` replay exactly without being recorded.
- :mod:`.retries`: activity retry policies (per call ``with_options({retry = ...})``, per
  activity entry, per workflow); retries are durable timers issued while replaying a failure.
- :mod:`.log`: the history in DynamoDB (conditional, transactional appends; the run's index
  item; the inbox of outcomes waiting for the next step).
- :mod:`.step`: one step against the log: inbox -> outcome events (a redelivered result counts
  once), replay, one conditional append (a lost race raises ``LogConflict`` and changes nothing).
- :mod:`.asl`: the driver state machine's definition (Step -> Choice -> wait for a wake), the one
  place it is generated.

Signals: ``process.inbox()`` / ``process.listen(topic)`` in a workflow are channels fed by
``SignalReceived`` events, in arrival order (``WorkflowStepper.signal`` posts them).

Still to come: the step/wake/activity handlers, activity timeouts, children, the sticky
cache, the local driver in the harness, and the ``workflow`` module.
"""
