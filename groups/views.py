import hmac
import logging
from collections.abc import Iterable
from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import InvalidPage, Paginator
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.utils.text import slugify
from django.utils.translation import gettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_otp.plugins.otp_totp.models import TOTPDevice

from groups import metrics, privacy, selectors, services, two_factor
from groups.access import (
    EXPORT_PERMISSION,
    FULL_NUMBERS_PERMISSION,
    MANAGE_GROUPS_PERMISSION,
    tenant_view,
    visible_tenants,
)
from groups.audit import record_event
from groups.exports import (
    EXACT,
    PHONE,
    Column,
    cleaned_blocks,
    csv_chunks,
    phone_safe,
    spreadsheet_safe,
    streaming_csv_response,
    xlsx_response,
)
from groups.forms import GroupCreateForm, GroupListForm, GroupNumbersForm, SearchForm
from groups.models import FIRST_VISIT_BY, AuditEvent, NumberGroup, Tenant
from groups.nxcloud import split_phones
from groups.observability import readiness_problems
from groups.phones import format_in_region

logger = logging.getLogger(__name__)

SYNC_HISTORY_PAGE_SIZE = 50
CHANGES_PAGE_SIZE = 100
GROUP_HISTORY_SHOWN = 100
GROUP_NUMBERS_PAGE_SIZE = 500
AUDITED_QUERY_CHARS = 20_000


def page_or_404(items, per_page: int, number: str | None):
    """The requested page; a page number that is not a page is a 404."""
    try:
        return Paginator(items, per_page).page(number or 1)
    except InvalidPage:
        raise Http404("No such page.") from None


def permission_required_or_403(permission: str, refusal: str):
    """A view that needs `permission` on top of what its other checks allow: 403 without."""

    def decorator(view):
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if not request.user.has_perm(permission):
                raise PermissionDenied(refusal)
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


full_numbers_permission_required = permission_required_or_403(
    FULL_NUMBERS_PERMISSION, "You may not see full phone numbers."
)
# Downloads need `export_numbers` on top of seeing the tenant (view-only users exist).
export_permission_required = permission_required_or_403(
    EXPORT_PERMISSION, "You may view this data but not download it."
)


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "groups/home.html", {"rows": selectors.tenant_overview(request.user)})


@tenant_view
def tenant_detail(request: HttpRequest, tenant: Tenant) -> HttpResponse:
    """The tenant's groups. The first visit to a tenant never refreshed starts a refresh."""
    freshness = selectors.tenant_freshness(tenant)
    if freshness.snapshot is None and freshness.latest_run is None:
        services.refresh_start(
            tenant=tenant,
            user=request.user,
            trigger=FIRST_VISIT_BY + request.user.get_username(),
            request=request,
        )
        tenant.refresh_from_db(fields=["current_snapshot"])  # done already, when run inline
        freshness = selectors.tenant_freshness(tenant)

    form = GroupListForm(request.GET)
    text, sort, per_page = form.values()
    page = None
    if freshness.snapshot is not None:
        groups = selectors.groups_matching(
            snapshot=freshness.snapshot, text=text, sort=sort, region=tenant.default_region
        )
        page = page_or_404(groups, per_page, request.GET.get("page"))
    template = "groups/tenant_detail.html"
    if request.htmx and request.htmx.target == "group-results" and page is not None:
        template += "#group-results"  # live filtering: only the list
    return render(
        request,
        template,
        {
            "tenant": tenant,
            "freshness": freshness,
            "form": form,
            "page": page,
            "filter_text": text,
            "sort": sort,
            "per_page": per_page,
        },
    )


@tenant_view
def tenant_freshness(request: HttpRequest, tenant: Tenant) -> HttpResponse:
    """The freshness banner, polled by htmx while a refresh runs; when it has ended, the
    page is told to reload and show the new data (or the error)."""
    if not request.htmx:
        return redirect(tenant.get_absolute_url())
    freshness = selectors.tenant_freshness(tenant)
    response = render(request, "groups/_freshness.html", {"tenant": tenant, "freshness": freshness})
    if freshness.in_progress is None:
        response["HX-Refresh"] = "true"
    return response


@tenant_view
@require_POST
def tenant_refresh(request: HttpRequest, tenant: Tenant) -> HttpResponse:
    run, started = services.refresh_start(tenant=tenant, user=request.user, request=request)
    if not started:
        messages.info(request, gettext("A refresh of this tenant is already under way."))
    elif run.status == run.Status.FAILED:
        messages.error(
            request, gettext("The refresh failed: %(error)s") % {"error": run.error_message}
        )
    elif run.status == run.Status.OK:
        messages.success(
            request,
            gettext("Refreshed: %(groups)s groups, %(numbers)s numbers.")
            % {"groups": f"{run.groups:,}", "numbers": f"{run.numbers:,}"},
        )
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, {request.get_host()}, request.is_secure()):
        back = ""
    return redirect(back or tenant.get_absolute_url())


@tenant_view
def group_detail(request: HttpRequest, tenant: Tenant, group_id: str) -> HttpResponse:
    return _group_page(request, tenant, group_id)


@tenant_view
@require_POST
@full_numbers_permission_required
def group_reveal(request: HttpRequest, tenant: Tenant, group_id: str) -> HttpResponse:
    """The group page with every number in full (and as text to copy); audited."""
    return _group_page(request, tenant, group_id, reveal=True)


def _group_page(
    request: HttpRequest, tenant: Tenant, group_id: str, *, reveal: bool = False
) -> HttpResponse:
    freshness = selectors.tenant_freshness(tenant)
    group = selectors.group_in_snapshot(snapshot=freshness.snapshot, group_id=group_id)
    numbers = selectors.numbers_of_group(group)
    page = page_or_404(numbers, GROUP_NUMBERS_PAGE_SIZE, request.GET.get("page"))
    if reveal:
        record_event(
            AuditEvent.Action.NUMBER_REVEALED,
            request=request,
            tenant=tenant,
            group_id=group.group_id,
            numbers=len(numbers),
        )
    return render(
        request,
        "groups/group_detail.html",
        {
            "tenant": tenant,
            "freshness": freshness,
            "group": group,
            "numbers": numbers,
            # Masked, a page at a time; shown in full, all of them (the user asked for all).
            "page": None if reveal else page,
            "rows": numbers if reveal else page.object_list,
            "first_position": 1 if reveal else page.start_index(),
            "full_numbers": reveal,
            "regions": selectors.region_counts(numbers),
            "history": selectors.group_changes(tenant, group.group_id)[:GROUP_HISTORY_SHOWN],
        },
    )


@login_required
@require_POST
@full_numbers_permission_required
def reveal_number(request: HttpRequest) -> HttpResponse:
    """One masked number in full, for the Show button next to it: JSON for the page's script,
    a small page without it. Audited; the tenant's access is checked again."""
    wants_json = request.headers.get("Accept", "").startswith("application/json")
    try:
        tenant_id, digits = privacy.read_reveal_token(request.POST.get("token", ""))
    except privacy.RevealRefused as refused:
        if wants_json:
            return JsonResponse({"error": str(refused)}, status=400)
        return render(request, "400.html", {"message": str(refused)}, status=400)
    tenant = visible_tenants(request.user).filter(pk=tenant_id).first()
    if tenant is None:
        raise Http404("No such tenant.")
    record_event(AuditEvent.Action.NUMBER_REVEALED, request=request, tenant=tenant, number=digits)
    shown = format_in_region(digits, tenant.default_region)
    if wants_json:
        return JsonResponse({"number": shown, "digits": digits})
    return render(
        request,
        "groups/number_revealed.html",
        {"tenant": tenant, "number": shown, "digits": digits, "back": _safe_next(request)},
    )


@tenant_view
def group_changes(request: HttpRequest, tenant: Tenant) -> HttpResponse:
    """What the refreshes changed in the tenant's groups, newest first."""
    page = page_or_404(selectors.group_changes(tenant), CHANGES_PAGE_SIZE, request.GET.get("page"))
    return render(
        request,
        "groups/changes.html",
        {"tenant": tenant, "freshness": selectors.tenant_freshness(tenant), "page": page},
    )


@tenant_view
def sync_history(request: HttpRequest, tenant: Tenant) -> HttpResponse:
    page = page_or_404(
        selectors.sync_history(tenant), SYNC_HISTORY_PAGE_SIZE, request.GET.get("page")
    )
    return render(
        request,
        "groups/sync_history.html",
        {"tenant": tenant, "freshness": selectors.tenant_freshness(tenant), "page": page},
    )


@login_required
@require_http_methods(["GET", "POST"])
def search(request: HttpRequest) -> HttpResponse:
    """Numbers across every tenant the user may see. GET, so a result can be bookmarked and
    shared; POST too, for lists longer than a URL may be."""
    data = request.POST if request.method == "POST" else request.GET
    form = SearchForm(data if "q" in data else None)
    results = None
    if form.is_bound and form.is_valid():
        text, anywhere = form.cleaned_data["q"], form.cleaned_data["anywhere"]
        results = selectors.search_numbers(user=request.user, text=text, anywhere=anywhere)
        record_event(
            AuditEvent.Action.SEARCH,
            request=request,
            query=text[:AUDITED_QUERY_CHARS],
            anywhere=anywhere,
            entries=len(results.entries),
            found=len(results.found),
            not_found=len(results.not_found),
            not_understood=len(results.not_understood),
        )
    return render(request, "groups/search.html", {"form": form, "results": results})


# --- downloads ------------------------------------------------------------------------------

GROUP_COLUMNS = [
    Column("tenant"),
    Column("group_id"),
    Column("group_name"),
    Column("customer_id"),
    Column("remark"),
    Column("phone_count", EXACT),
    Column("phones", PHONE),
    Column("synced_at", EXACT),
]
NUMBER_COLUMNS = [
    Column("tenant"),
    Column("group_id"),
    Column("group_name"),
    Column("phone", PHONE),
    Column("phone_e164", PHONE),
    Column("region", EXACT),
]
CHANGE_COLUMNS = [
    Column("tenant"),
    Column("at", EXACT),
    Column("change", EXACT),
    Column("group_id"),
    Column("group_name"),
    Column("phone", PHONE),
    Column("old_value"),
    Column("new_value"),
]
SEARCH_COLUMNS = [Column("query"), Column("match_kind", EXACT), *NUMBER_COLUMNS]
SYNC_COLUMNS = [
    *(
        Column(header, EXACT)
        for header in (
            "start",
            "end",
            "status",
            "groups",
            "numbers",
            "pages",
            "upstream_ms",
            "write_ms",
            "total_ms",
            "error_code",
        )
    ),
    Column("message"),
    Column("request_id"),
]


def _download(
    request: HttpRequest,
    *,
    fmt: str,
    stem: str,
    columns: list[Column],
    rows: Iterable[tuple] | None = None,
    blocks: Iterable[list[tuple]] | None = None,
    tenant: Tenant | None = None,
) -> HttpResponse:
    """Rows (or blocks of ready-made rows) as a streamed CSV — with a byte-order mark for
    Excel when `?excel=1` — or as .xlsx; the audit event is written when the file ends."""
    filename = f"{stem}-{timezone.localtime():%Y%m%d-%H%M}.{fmt}"

    def finished(count: int, complete: bool) -> None:
        record_event(
            AuditEvent.Action.EXPORT,
            request=request,
            tenant=tenant,
            url=request.get_full_path(),
            format=fmt,
            rows=count,
            complete=complete,
            full_numbers=not _masked(request),
        )

    if fmt == "xlsx":
        if blocks is not None:
            rows = (row for block in blocks for row in block)
        return xlsx_response(filename, columns, rows, on_finish=finished)
    if blocks is None:
        blocks = cleaned_blocks(columns, rows)
    bom = request.GET.get("excel") == "1"
    return streaming_csv_response(
        filename, csv_chunks(columns, blocks, bom=bom, on_finish=finished)
    )


def _listed_groups(request: HttpRequest, tenant: Tenant, snapshot) -> QuerySet:
    """The groups the tenant's list shows for this request's filter and sort."""
    text, sort, _ = GroupListForm(request.GET).values()
    if snapshot is None:
        return NumberGroup.objects.none()
    return selectors.groups_matching(
        snapshot=snapshot, text=text, sort=sort, region=tenant.default_region
    )


def _masked(request: HttpRequest) -> bool:
    """Whether this user's exports hold masked numbers, as their pages do."""
    return not privacy.can_see_full_numbers(request.user)


def _cell_preparers(fmt: str):
    """(text, phone) cell preparers: CSV neutralises formulas; .xlsx stores text cells."""
    if fmt == "csv":
        return spreadsheet_safe, phone_safe
    return str, str


@tenant_view
@export_permission_required
def groups_export(request: HttpRequest, tenant: Tenant, fmt: str) -> HttpResponse:
    snapshot = selectors.tenant_freshness(tenant).snapshot
    rows = selectors.group_export_rows(
        tenant=tenant,
        groups=_listed_groups(request, tenant, snapshot),
        snapshot=snapshot,
        masked=_masked(request),
    )
    return _download(
        request,
        fmt=fmt,
        stem=f"pns-{tenant.slug}-groups",
        columns=GROUP_COLUMNS,
        rows=rows,
        tenant=tenant,
    )


@tenant_view
@export_permission_required
def numbers_export(request: HttpRequest, tenant: Tenant, fmt: str) -> HttpResponse:
    snapshot = selectors.tenant_freshness(tenant).snapshot
    text, phone = _cell_preparers(fmt)
    blocks = selectors.number_export_blocks(
        tenant=tenant,
        groups=_listed_groups(request, tenant, snapshot),
        text=text,
        phone=phone,
        masked=_masked(request),
    )
    return _download(
        request,
        fmt=fmt,
        stem=f"pns-{tenant.slug}-numbers",
        columns=NUMBER_COLUMNS,
        blocks=blocks,
        tenant=tenant,
    )


@tenant_view
@export_permission_required
def group_numbers_export(
    request: HttpRequest, tenant: Tenant, group_id: str, fmt: str
) -> HttpResponse:
    snapshot = selectors.tenant_freshness(tenant).snapshot
    group = selectors.group_in_snapshot(snapshot=snapshot, group_id=group_id)
    text, phone = _cell_preparers(fmt)
    blocks = selectors.number_export_blocks(
        tenant=tenant,
        groups=NumberGroup.objects.filter(pk=group.pk),
        text=text,
        phone=phone,
        masked=_masked(request),
    )
    return _download(
        request,
        fmt=fmt,
        stem=f"pns-{tenant.slug}-group-{slugify(group.group_id)[:40]}-numbers",
        columns=NUMBER_COLUMNS,
        blocks=blocks,
        tenant=tenant,
    )


@tenant_view
@export_permission_required
def syncs_export(request: HttpRequest, tenant: Tenant, fmt: str) -> HttpResponse:
    return _download(
        request,
        fmt=fmt,
        stem=f"pns-{tenant.slug}-syncs",
        columns=SYNC_COLUMNS,
        rows=selectors.sync_export_rows(tenant),
        tenant=tenant,
    )


@tenant_view
@export_permission_required
def changes_export(request: HttpRequest, tenant: Tenant, fmt: str) -> HttpResponse:
    return _download(
        request,
        fmt=fmt,
        stem=f"pns-{tenant.slug}-changes",
        columns=CHANGE_COLUMNS,
        rows=selectors.change_export_rows(tenant, masked=_masked(request)),
        tenant=tenant,
    )


@login_required
@export_permission_required
def search_export(request: HttpRequest, fmt: str) -> HttpResponse:
    form = SearchForm(request.GET)
    if not form.is_valid():
        message = " ".join(error for errors in form.errors.values() for error in errors)
        return render(request, "400.html", {"message": message}, status=400)
    text, anywhere = form.cleaned_data["q"], form.cleaned_data["anywhere"]
    results = selectors.search_numbers(user=request.user, text=text, anywhere=anywhere)
    return _download(
        request,
        fmt=fmt,
        stem="pns-search",
        columns=SEARCH_COLUMNS,
        rows=selectors.search_export_rows(results, masked=_masked(request)),
    )


class PasswordChangeView(auth_views.PasswordChangeView):
    success_url = reverse_lazy("home")

    def form_valid(self, form):
        response = super().form_valid(form)
        record_event(AuditEvent.Action.PASSWORD_CHANGED, request=self.request)
        messages.success(self.request, gettext("Your password was changed."))
        return response


@require_GET
@never_cache
def healthz(request: HttpRequest) -> HttpResponse:
    """Liveness, no login: the process is up and answering."""
    return HttpResponse("ok", content_type="text/plain")


@require_GET
@never_cache
def readyz(request: HttpRequest) -> HttpResponse:
    """Readiness, no login (point the load balancer here): 200 when the database and the
    cache answer and the migrations are applied, else 503 with what is wrong."""
    problems = readiness_problems()
    if problems:
        logger.warning("readyz: not ready: %s", "; ".join(problems))
        return HttpResponse("\n".join(problems), status=503, content_type="text/plain")
    return HttpResponse("ready", content_type="text/plain")


@require_GET
@never_cache
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus metrics, for a scraper that sends `Authorization: Bearer PNS_METRICS_TOKEN`
    (no login). Off (404) while no token is configured."""
    token = settings.PNS_METRICS_TOKEN
    if not token:
        raise Http404
    sent = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if not hmac.compare_digest(sent.encode(), token.encode()):
        response = HttpResponse("A valid bearer token is required.", status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    body, content_type = metrics.exposition()
    return HttpResponse(body, content_type=content_type)


# --- managing groups in NXCloud -----------------------------------------------------------------


# Changing groups in NXCloud needs `manage_groups` on top of seeing the tenant.
manage_permission_required = permission_required_or_403(
    MANAGE_GROUPS_PERMISSION, "You may view these groups but not change them."
)


def _refused(request: HttpRequest, refusal: services.GroupChangeRefused) -> None:
    error = refusal.error
    request_id = f" (NXCloud requestId {error.request_id})" if error.request_id else ""
    messages.error(
        request,
        gettext("NXCloud refused the change; nothing was changed. %(error)s") % {"error": error}
        + request_id,
    )


@tenant_view
@manage_permission_required
@require_http_methods(["GET", "POST"])
def group_create(request: HttpRequest, tenant: Tenant) -> HttpResponse:
    """New group: the form, then a confirmation of exactly what goes to which account."""
    snapshot = selectors.tenant_freshness(tenant).snapshot
    if snapshot is None:
        raise Http404("Refresh this tenant before changing its groups.")
    form = GroupCreateForm(request.POST or None)
    context = {"tenant": tenant, "form": form, "title": gettext("New group")}
    if request.method == "POST" and form.is_valid():
        numbers = form.cleaned_data["numbers"]
        if "confirm" not in request.POST:
            return render(
                request, "groups/group_confirm.html", {**context, "added": numbers, "removed": []}
            )
        try:
            group = services.group_create(
                tenant=tenant,
                name=form.cleaned_data["name"],
                remark=form.cleaned_data["remark"],
                numbers=numbers,
                user=request.user,
                request=request,
            )
        except services.GroupChangeRefused as refusal:
            _refused(request, refusal)
        else:
            messages.success(
                request,
                gettext("Group created in NXCloud with %(count)s numbers.")
                % {"count": f"{len(numbers):,}"},
            )
            return redirect("group_detail", tenant.slug, group.group_id)
    return render(request, "groups/group_form.html", context)


@tenant_view
@manage_permission_required
@require_http_methods(["GET", "POST"])
def group_numbers(request: HttpRequest, tenant: Tenant, group_id: str) -> HttpResponse:
    """Add, remove or replace a group's numbers: the form, then a confirmation."""
    snapshot = selectors.tenant_freshness(tenant).snapshot
    group = selectors.group_in_snapshot(snapshot=snapshot, group_id=group_id)
    form = GroupNumbersForm(request.POST or None)
    context = {"tenant": tenant, "group": group, "form": form, "title": gettext("Change numbers")}
    if request.method == "POST" and form.is_valid():
        numbers, operation = form.cleaned_data["numbers"], form.operate_type
        if "confirm" not in request.POST:
            current = list(split_phones(group.phones_text))
            added, removed, after = services.numbers_change(current, operation, numbers)
            return render(
                request,
                "groups/group_confirm.html",
                {
                    **context,
                    "added": added,
                    "removed": removed,
                    "after": len(after),
                    # Numbers the user typed are shown in full; ones only the group held, not.
                    "removed_typed": set(removed) <= set(numbers),
                },
            )
        try:
            added, removed = services.group_change_numbers(
                tenant=tenant, group=group, operation=operation, numbers=numbers,
                user=request.user, request=request,
            )  # fmt: skip
        except services.GroupChangeRefused as refusal:
            _refused(request, refusal)
        else:
            messages.success(
                request,
                gettext("Saved in NXCloud: %(added)s added, %(removed)s removed.")
                % {"added": f"{len(added):,}", "removed": f"{len(removed):,}"},
            )
            return redirect("group_detail", tenant.slug, group.group_id)
    return render(request, "groups/group_form.html", context)


@tenant_view
@manage_permission_required
@require_http_methods(["GET", "POST"])
def group_delete(request: HttpRequest, tenant: Tenant, group_id: str) -> HttpResponse:
    """Delete a group: a confirmation page, then NXCloud's deleteGroup."""
    snapshot = selectors.tenant_freshness(tenant).snapshot
    group = selectors.group_in_snapshot(snapshot=snapshot, group_id=group_id)
    if request.method == "POST":
        try:
            services.group_delete(tenant=tenant, group=group, user=request.user, request=request)
        except services.GroupChangeRefused as refusal:
            _refused(request, refusal)
        else:
            messages.success(
                request,
                gettext("Group “%(name)s” deleted in NXCloud.")
                % {"name": group.name or group.group_id},
            )
            return redirect(tenant.get_absolute_url())
    numbers = list(split_phones(group.phones_text))
    return render(
        request,
        "groups/group_delete.html",
        {"tenant": tenant, "group": group, "removed": numbers},
    )


# --- two-factor login -----------------------------------------------------------------------------

SETUP_DEVICE_SESSION_KEY = "pns_2fa_setup_device"


def _safe_next(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return target
    return reverse("home")


@login_required
@require_http_methods(["GET", "POST"])
def two_factor_page(request: HttpRequest) -> HttpResponse:
    """Your two-factor login: on or off, recovery codes left; new codes; turn it off."""
    user = request.user
    required = two_factor.two_factor_required(user)
    codes = None
    if request.method == "POST":
        if request.POST.get("action") == "new_codes" and two_factor.has_authenticator(user):
            codes = two_factor.recovery_codes_new(user)
        elif request.POST.get("action") == "disable" and not required:
            two_factor.disable(request)
            messages.success(request, gettext("Two-factor login is off."))
            return redirect("two_factor")  # the URL name
    return render(
        request,
        "registration/two_factor.html",
        {
            "enabled": two_factor.has_authenticator(user),
            "required": required,
            "codes": codes,
            "codes_left": two_factor.recovery_codes_left(user),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def two_factor_setup(request: HttpRequest) -> HttpResponse:
    """Scan a QR code into an authenticator app, type a code from it: two-factor is on."""
    device = None
    device_id = request.session.get(SETUP_DEVICE_SESSION_KEY)
    if request.method == "POST" and device_id:
        device = TOTPDevice.objects.filter(pk=device_id, user=request.user, confirmed=False).first()
    error = ""
    if device is not None:
        codes = two_factor.setup_confirm(request, device, request.POST.get("token", ""))
        if codes is not None:
            del request.session[SETUP_DEVICE_SESSION_KEY]
            return render(
                request,
                "registration/two_factor.html",
                {"enabled": True, "codes": codes, "just_enabled": True,
                 "codes_left": len(codes), "next": _safe_next(request)},
            )  # fmt: skip
        error = gettext("That code is not right. Type the 6 digits the app shows now.")
    else:
        device = two_factor.setup_start(request.user)
        request.session[SETUP_DEVICE_SESSION_KEY] = device.pk
    return render(
        request,
        "registration/two_factor_setup.html",
        {
            # segno's SVG of our own otpauth address: no user text in it.
            "qr_svg": mark_safe(two_factor.setup_qr_svg(device)),  # noqa: S308  # nosec B308 B703
            "secret": two_factor.setup_secret(device),
            "error": error,
            "required": two_factor.two_factor_required(request.user),
            "next": _safe_next(request),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def two_factor_verify(request: HttpRequest) -> HttpResponse:
    """The second step of logging in: a code from the authenticator app, or a recovery code."""
    if request.user.is_verified():
        return redirect(_safe_next(request))
    error = ""
    if request.method == "POST":
        if two_factor.verify(request, request.POST.get("token", "")):
            return redirect(_safe_next(request))
        error = gettext("That code is not right (or too many tries: wait a moment and try again).")
    return render(
        request,
        "registration/two_factor_verify.html",
        {"error": error, "next": _safe_next(request)},
    )
