"""The admin pages that only read: tenants, a tenant, the provision and delete forms, the audit log,
incidents, and the live status cell a page polls while a stack is in transition. Nothing here writes."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from functions.admin import forms, queries
from functions.admin.deps import Admin
from functions.admin.sessions import Session
from functions.operations.backups import list_backups
from functions.operations.capacity import ServerReport, TemplateFit, capacity_report, describe_line
from functions.operations.settle import TRANSITIONAL
from functions.records import Stack, Tenant
from shared.capacity import format_bytes
from shared.errors import CfaError, InvalidInput
from shared.plans import PLAN_ORDER
from shared.pocketbase.schema import AUDIT_OUTCOMES, INCIDENT_KINDS, INCIDENT_STATES, TENANT_STATUSES


def _page_number(request: Request) -> int:
    raw = request.query_params.get("page", "1")
    return int(raw) if raw.isdigit() and 0 < int(raw) < 100_000 else 1


def _filters(request: Request, *names: str) -> queries.Filters:
    return queries.Filters({n: request.query_params.get(n, "").strip()[:100] for n in names})


def rotate_page(admin: Admin, tenant: Tenant, stack: Stack, error: CfaError | None = None) -> dict[str, Any]:
    """What the rotate form shows: the template's generated secrets (routine ones ticked, unsupported
    ones disabled, each with its note) and its secret parameters as empty password fields."""
    template = admin.rt.catalog.get(stack.template)
    return {
        "tenant": tenant,
        "stack": stack,
        "generated": template.meta.secrets,
        "fields": forms.fields(template, secrets_only=True),
        "error": error,
    }


def in_transition(stack: Stack) -> bool:
    return stack.status in TRANSITIONAL


class Views:
    def __init__(self, admin: Admin) -> None:
        self.admin = admin
        self.web = admin.web
        self.settings = admin.rt.settings
        self.pb = admin.rt.pb

    async def _stack(self, request: Request) -> tuple[Tenant, Stack]:
        return await self.admin.stack_records(request.path_params["slug"], request.path_params["stack"])

    async def tenants(self, request: Request, session: Session) -> Response:
        filters = _filters(request, "q", "plan", "status")
        paged = await queries.tenants(
            self.pb, self.settings, filters, _page_number(request), self.settings.admin_page_size
        )
        return self.web.render(
            request,
            "tenants.html",
            session,
            paged=paged,
            filters=filters,
            plans=PLAN_ORDER,
            statuses=TENANT_STATUSES,
        )

    async def new_tenant(self, request: Request, session: Session) -> Response:
        return self.web.render(request, "tenant_new.html", session, plans=PLAN_ORDER, values={}, error=None)

    async def tenant(self, request: Request, session: Session) -> Response:
        detail = await queries.tenant_detail(self.pb, self.settings, request.path_params["slug"])
        return self.web.render(
            request,
            "tenant.html",
            session,
            detail=detail,
            plans=PLAN_ORDER,
            templates=list(self.admin.rt.catalog),
            in_transition=in_transition,
            stateful=self._stateful,
        )

    def _stateful(self, stack: Stack) -> bool:
        """Whether the stack's template keeps data in volumes (what backups are for)."""
        try:
            return self.admin.rt.catalog.get(stack.template).meta.stateful
        except CfaError:
            return False

    async def provision_form(self, request: Request, session: Session) -> Response:
        tenant = await self.admin.tenant(request.path_params["slug"])
        template = self.admin.rt.catalog.get(request.query_params.get("template", ""))
        return self.web.render(
            request,
            "provision.html",
            session,
            tenant=tenant,
            template=template,
            fields=forms.fields(template),
            stack_name=template.meta.default_stack_name,
            error=None,
        )

    async def stack_status(self, request: Request, session: Session) -> Response:
        """The status cell of one stack (polled by htmx every 2 s while it is in transition)."""
        tenant, stack = await self._stack(request)
        return self.web.render(
            request,
            "_stack_status.html",
            session,
            tenant=tenant,
            stack=stack,
            in_transition=in_transition,
        )

    async def delete_form(self, request: Request, session: Session) -> Response:
        tenant, stack = await self._stack(request)
        return self.web.render(request, "delete.html", session, tenant=tenant, stack=stack, error=None)

    async def rotate_form(self, request: Request, session: Session) -> Response:
        tenant, stack = await self._stack(request)
        return self.web.render(request, "rotate.html", session, **rotate_page(self.admin, tenant, stack))

    async def capacity(self, request: Request, session: Session) -> Response:
        report = await capacity_report(self.admin.rt.context())

        def fits_on(server: ServerReport, total: TemplateFit) -> str:
            found = next(
                (f for f in server.fits if (f.template, f.plan) == (total.template, total.plan)), None
            )
            return "?" if found is None or found.fits is None else str(found.fits)

        return self.web.render(
            request,
            "capacity.html",
            session,
            report=report,
            placing=[s for s in report.servers if s.new_stacks],
            describe=describe_line,
            size=format_bytes,
            fits_on=fits_on,
        )

    async def restore_form(self, request: Request, session: Session) -> Response:
        tenant, stack = await self._stack(request)
        snapshots = await list_backups(self.admin.rt.context(), tenant.slug, stack.name)
        return self.web.render(
            request, "restore.html", session, tenant=tenant, stack=stack, snapshots=snapshots, error=None
        )

    async def audit(self, request: Request, session: Session) -> Response:
        filters = _filters(request, "tenant", "action", "outcome", "since", "until")
        try:
            paged = await queries.audit(
                self.pb, filters, _page_number(request), self.settings.admin_page_size
            )
        except ValueError as err:
            raise InvalidInput(
                "from/until", "is not a date", advice="use 2026-12-01 or 2026-12-01T10:30"
            ) from err
        return self.web.render(
            request, "audit.html", session, paged=paged, filters=filters, outcomes=AUDIT_OUTCOMES
        )

    async def incidents(self, request: Request, session: Session) -> Response:
        filters = _filters(request, "state", "tenant", "kind")
        paged = await queries.incidents(
            self.pb, filters, _page_number(request), self.settings.admin_page_size
        )
        return self.web.render(
            request,
            "incidents.html",
            session,
            paged=paged,
            filters=filters,
            states=INCIDENT_STATES,
            kinds=INCIDENT_KINDS,
        )
