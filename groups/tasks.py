"""Background work, through Django's task framework (the backend is settings.TASKS)."""

from django.tasks import task

from groups import services


@task()
def refresh_tenant(run_id: int) -> str:
    """Do a queued refresh run (from the Refresh button, a first visit or the scheduler)."""
    return services.sync_execute_queued(run_id)
