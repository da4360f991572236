from datetime import timedelta

from django import template

register = template.Library()


@register.filter
def pluralize_minutes(value: timedelta) -> str:
    minutes = max(1, round(value.total_seconds() / 60))
    return f"{minutes} minute{'s' if minutes != 1 else ''}"
