"""Background work, through Django's task framework (the backend is settings.TASKS)."""

from django.conf import settings
from django.tasks import task
from django.utils import translation

from groups import services


@task()
def refresh_tenant(run_id: int) -> str:
    """Do a queued refresh run (from the Refresh button, a first visit or the scheduler).

    In the site's language, whoever asked: the run's stored error is read by everyone (pages
    explain NXCloud's codes in each reader's language)."""
    with translation.override(settings.LANGUAGE_CODE):
        return services.sync_execute_queued(run_id)
