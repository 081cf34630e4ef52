"""One backup pass, as stages: scan (with the plan) → hash → check → upload → record,
then albums, stacks and tags from the state; bounded queues between the stages.

``runner`` (``BackupPass``) wires them; ``server`` is what the pass needs of the
server and the one layer that retries it. docs/architecture.md has the stages, the
data between them, each module's job, and where a new feature goes.
"""
