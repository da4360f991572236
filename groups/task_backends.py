"""Task backends of our own (django.tasks). Production uses django-tasks-db's database
backend and `manage.py db_worker`; tests use Django's ImmediateBackend."""

import threading

from django.db import connections
from django.tasks.backends.immediate import ImmediateBackend
from django.tasks.base import TaskResult, TaskResultStatus
from django.utils.crypto import get_random_string


class ThreadBackend(ImmediateBackend):
    """Runs each task in a daemon thread of the process that enqueued it: the embedded
    default, so that a page can follow a refresh without a worker process to run. A task
    dies with its process; a refresh's stopped heartbeat then marks its run failed."""

    supports_async_task = False

    def enqueue(self, task, args, kwargs):
        self.validate_task(task)
        task_result = TaskResult(
            task=task,
            id=get_random_string(32),
            status=TaskResultStatus.READY,
            enqueued_at=None,
            started_at=None,
            last_attempted_at=None,
            finished_at=None,
            args=args,
            kwargs=kwargs,
            backend=self.alias,
            errors=[],
            worker_ids=[],
        )
        threading.Thread(
            target=self._execute_in_thread,
            args=(task_result,),
            name=f"task-{task.name}",
            daemon=True,
        ).start()
        return task_result

    def _execute_in_thread(self, task_result: TaskResult) -> None:
        try:
            self._execute_task(task_result)
        finally:
            connections.close_all()
