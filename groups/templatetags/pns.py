from datetime import timedelta

from django import template

register = template.Library()


@register.filter
def pluralize_minutes(value: timedelta) -> str:
    minutes = max(1, round(value.total_seconds() / 60))
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


@register.filter
def duration_ms(value: int | None) -> str:
    """1234 → "1.2 s"; 87 → "87 ms"; None → "—"."""
    if value is None:
        return "—"
    if value < 1000:
        return f"{value} ms"
    if value < 60_000:
        return f"{value / 1000:.1f} s"
    return f"{value // 60_000} min {value % 60_000 // 1000} s"


@register.filter
def percent_of(done: int | None, total: int | None) -> int:
    if not total:
        return 0
    return min(100, round(100 * (done or 0) / total))
