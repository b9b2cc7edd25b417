"""Bulk work on AWS Step Functions: batch indexing of an S3 prefix, and reindex into a new index version.

The state machines are ``infra/batch_index.asl.json`` and ``infra/reindex.asl.json`` (see ``infra/README.md``); their
Lambda tasks all go to one function, ``IndexingTasks`` (``chalicelib.composition.run_task``), which dispatches on the event's ``Task`` to
the handlers of ``chalicelib.workflows.tasks``. ``StepFunctionsJobRunner`` starts them for the services
(``SIFT_JOB_RUNNER=stepfunctions``); the ``local`` stage runs the same steps in-process instead.
"""

from chalicelib.workflows.runner import StepFunctionsJobRunner
from chalicelib.workflows.tasks import TASKS, handle_task

__all__ = ["TASKS", "StepFunctionsJobRunner", "handle_task"]
