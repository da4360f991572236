from datetime import timedelta

from django import template
from django.contrib.humanize.templatetags.humanize import intcomma
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from groups.phones import format_in_region

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
def phone_in(digits: str, region: str) -> str:
    """Digits as people read them, in the tenant's region ("+852 3575 3351")."""
    return format_in_region(digits, region)


@register.filter
def percent_of(done: int | None, total: int | None) -> int:
    if not total:
        return 0
    return min(100, round(100 * (done or 0) / total))


@register.simple_tag
def search_entry_rows(entry) -> str:
    """The result rows of one searched entry.

    Built here rather than with template tags: a pasted list renders thousands of rows, and
    Django's template engine spent most of a 1,000-number search doing it.
    """
    rows = []
    count = len(entry.matches)
    for index, match in enumerate(entry.matches):
        head = ""
        if index == 0:
            read_as = ""
            if entry.query.read_as != entry.query.text:
                read_as = format_html(
                    '<div class="muted small">read as {}</div>', entry.query.read_as
                )
            more = ""
            if entry.more:
                more = format_html(
                    "; the first {} shown — type more digits to narrow it down", count
                )
            head = format_html(
                '<th scope="rowgroup" rowspan="{}" class="entry-cell"><span class="mono">{}'
                '</span>{}<div class="muted small">{} match{}{}</div></th>',
                count,
                entry.query.text,
                read_as,
                intcomma(entry.total),
                "" if entry.total == 1 else "es",
                more,
            )
        flag = (
            mark_safe(  # nosec B308
                ' <span class="flag" title="This number is in more than one group or tenant">'
                "also elsewhere</span>"
            )
            if match.elsewhere
            else ""
        )
        rows.append(
            format_html(
                '<tr>{}<td>{}</td><td><a href="{}">{}</a>{}</td><td class="mono small">{}</td>'
                '<td class="phone">{}</td><td class="mono">{}</td>'
                '<td><span class="kind kind-{}">{}</span></td><td class="small muted">{}</td></tr>',
                head,
                match.tenant.name,
                match.url,
                match.group.name or match.group.group_id,
                flag,
                match.group.group_id,
                match.formatted,
                match.digits,
                match.kind,
                match.kind_label,
                match.snapshot_age_text,
            )
        )
    # Every part went through format_html.
    return mark_safe("\n".join(rows))  # noqa: S308  # nosec B308 B703
