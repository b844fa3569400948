"""What the admin pages' buttons do: each calls the same operation as the CLI (``functions/operations``)
with the signed-in operator as the audit actor, queues it without waiting (``wait=False``), and sends
the operator to the tenant's page, where the stack's status updates live until Coolify's answer settles
it. An operation's refusal (bad input, plan limit, busy tenant) is shown on the form it came from and
changes nothing (the operation guarantees that, and audits the refusal)."""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from functions.admin import forms
from functions.admin.deps import Admin
from functions.admin.sessions import COOKIE, Session
from functions.admin.views import rotate_page
from functions.admin.web import status_for
from functions.operations.backups import (
    check_backup,
    check_restore,
    list_backups,
    restore_backup,
    run_backup,
)
from functions.operations.delete import delete
from functions.operations.provision import ProvisionRequest, provision
from functions.operations.resume import resume
from functions.operations.rotate import rotate
from functions.operations.suspend import suspend
from functions.operations.tenant_lifecycle import resume_tenant, suspend_tenant, update_tenant
from functions.operations.tenants import create_tenant
from functions.store import Store
from shared.errors import CfaError, InvalidInput
from shared.logging import get_logger
from shared.plans import PLAN_ORDER

log = get_logger()


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


class Actions:
    def __init__(self, admin: Admin) -> None:
        self.admin = admin
        self.web = admin.web

    def _tenant_page(self, request: Request, slug: str, message: str) -> Response:
        return self.web.redirect(request, self.web.path(request, "tenants", slug), flash=message)

    async def sign_out(self, request: Request, session: Session) -> Response:
        await self.admin.sessions.end(session)
        store = Store(self.admin.rt.pb, dry_run=False, actor=session.operator.actor, operation_id="")
        await store.audit("admin.signed_out")
        await store.flush()
        log.info("admin.signed_out", actor=session.operator.actor)
        response = self.web.redirect(request, self.web.path(request, "login"), flash="You are signed out.")
        response.delete_cookie(COOKIE, path=request.scope.get("root_path", "") or "/")
        return response

    async def create_tenant(self, request: Request, session: Session) -> Response:
        form = await request.form()
        values = {k: _text(form, k) for k in ("slug", "name", "plan", "max_stacks")}
        try:
            max_stacks = None
            if values["max_stacks"]:
                if not values["max_stacks"].isdigit():
                    raise InvalidInput("max stacks", "must be a whole number")
                max_stacks = int(values["max_stacks"])
            tenant, created = await create_tenant(
                self.admin.context(session),
                values["slug"],
                plan=values["plan"],
                name=values["name"] or None,
                max_stacks=max_stacks,
            )
        except CfaError as err:
            return self.web.render(
                request,
                "tenant_new.html",
                session,
                status_code=status_for(err),
                plans=PLAN_ORDER,
                values=values,
                error=err,
            )
        message = f"Tenant {tenant.slug} created." if created else f"Tenant {tenant.slug} already exists."
        return self._tenant_page(request, tenant.slug, message)

    async def provision(self, request: Request, session: Session) -> Response:
        slug = request.path_params["slug"]
        form = await request.form()
        template = self.admin.rt.catalog.get(_text(form, "template"))
        stack_name = _text(form, forms.STACK_FIELD)
        try:
            result = await provision(
                self.admin.context(session),
                ProvisionRequest(
                    tenant=slug,
                    template=template.name,
                    stack=stack_name or None,
                    params=forms.params_from(template, form),
                    wait=False,
                    confirm=_text(form, "confirm") == "yes",
                ),
            )
        except CfaError as err:
            tenant = await self.admin.tenant(slug)
            submitted = {k: v for k, v in form.items() if isinstance(v, str)}
            return self.web.render(
                request,
                "provision.html",
                session,
                status_code=status_for(err),
                tenant=tenant,
                template=template,
                fields=forms.fields(template, submitted),
                stack_name=stack_name,
                error=err,
            )
        return self._tenant_page(
            request, slug, f"Provisioning {slug}/{result.stack} was queued; its status updates below."
        )

    async def suspend_stack(self, request: Request, session: Session) -> Response:
        slug, name = request.path_params["slug"], request.path_params["stack"]
        await suspend(self.admin.context(session), slug, name, wait=False)
        return self._tenant_page(request, slug, f"Suspending {slug}/{name}.")

    async def resume_stack(self, request: Request, session: Session) -> Response:
        slug, name = request.path_params["slug"], request.path_params["stack"]
        await resume(self.admin.context(session), slug, name, wait=False)
        return self._tenant_page(request, slug, f"Resuming {slug}/{name}.")

    async def delete_stack(self, request: Request, session: Session) -> Response:
        slug, name = request.path_params["slug"], request.path_params["stack"]
        form = await request.form()
        volumes = _text(form, "volumes")
        problem = ""
        if _text(form, "confirm_name") != name:
            problem = f"type the stack's name, {name}, to confirm"
        elif volumes not in ("keep", "delete"):
            problem = "choose whether the stack's volumes are kept or deleted"
        if problem:
            tenant, stack = await self.admin.stack_records(slug, name)
            err = InvalidInput("confirmation", problem, advice="nothing was deleted")
            return self.web.render(
                request, "delete.html", session, status_code=400, tenant=tenant, stack=stack, error=err
            )
        await delete(self.admin.context(session), slug, name, delete_volumes=volumes == "delete", wait=False)
        kept = "its volumes are kept" if volumes == "keep" else "its volumes are deleted with it"
        return self._tenant_page(request, slug, f"Deleting {slug}/{name}; {kept}.")

    async def rotate(self, request: Request, session: Session) -> Response:
        slug, name = request.path_params["slug"], request.path_params["stack"]
        form = await request.form()
        tenant, stack = await self.admin.stack_records(slug, name)
        template = self.admin.rt.catalog.get(stack.template)
        only = [value for value in form.getlist("only") if isinstance(value, str)]
        params = forms.params_from(template, form)
        try:
            if not only and not params:
                raise InvalidInput(
                    "secrets", "nothing chosen", advice="tick a generated secret or type a new value"
                )
            result = await rotate(
                self.admin.context(session), slug, name, params=params or None, only=only or None, wait=False
            )
        except CfaError as err:
            return self.web.render(
                request,
                "rotate.html",
                session,
                status_code=status_for(err),
                **rotate_page(self.admin, tenant, stack, err),
            )
        rotated = ", ".join(result.rotated) or "nothing"
        notes = " ".join(result.notes)
        return self._tenant_page(request, slug, f"Rotating {slug}/{name}: {rotated}. {notes}".strip())

    async def back_up(self, request: Request, session: Session) -> Response:
        """Back up now: checked at once (plan, template, repository: a refusal shows and changes
        nothing), then run in the background: a backup reads every volume, which can take minutes."""
        slug, name = request.path_params["slug"], request.path_params["stack"]
        await check_backup(self.admin.context(session), slug, name)
        self.admin.background(run_backup(self.admin.context(session), slug, name), f"backup {slug}/{name}")
        return self._tenant_page(
            request,
            slug,
            f"Backing up {slug}/{name}: the result shows under Last backup and in the audit trail.",
        )

    async def restore(self, request: Request, session: Session) -> Response:
        """Restore: checked at once (the snapshot is this stack's, the stack is settled, its volumes
        exist; a refusal shows on the form and changes nothing), then run in the background; the
        stack's status shows it stopping and starting again."""
        slug, name = request.path_params["slug"], request.path_params["stack"]
        form = await request.form()
        snapshot = _text(form, "snapshot")
        try:
            if _text(form, "confirm_name") != name:
                raise InvalidInput(
                    "confirmation",
                    f"type the stack's name, {name}, to confirm",
                    advice="nothing was restored",
                )
            await check_restore(self.admin.context(session), slug, name, snapshot)
        except CfaError as err:
            tenant, stack = await self.admin.stack_records(slug, name)
            snapshots = await list_backups(self.admin.rt.context(), slug, name)
            return self.web.render(
                request,
                "restore.html",
                session,
                status_code=status_for(err),
                tenant=tenant,
                stack=stack,
                snapshots=snapshots,
                error=err,
            )
        self.admin.background(
            restore_backup(self.admin.context(session), slug, name, snapshot, wait=False),
            f"restore {slug}/{name}",
        )
        return self._tenant_page(
            request,
            slug,
            f"Restoring {slug}/{name} from snapshot {snapshot}: it is stopped, restored, started again.",
        )

    async def change_plan(self, request: Request, session: Session) -> Response:
        slug = request.path_params["slug"]
        form = await request.form()
        result = await update_tenant(self.admin.context(session), slug, plan=_text(form, "plan"), wait=False)
        message = (
            f"Tenant {slug} is now on plan {result.plan}; its stacks are redeployed under it."
            if result.changed
            else f"Tenant {slug} was already on plan {result.plan}."
        )
        return self._tenant_page(request, slug, message)

    async def suspend_tenant(self, request: Request, session: Session) -> Response:
        slug = request.path_params["slug"]
        await suspend_tenant(self.admin.context(session), slug, wait=False)
        return self._tenant_page(request, slug, f"Suspending tenant {slug} and its stacks.")

    async def resume_tenant(self, request: Request, session: Session) -> Response:
        slug = request.path_params["slug"]
        await resume_tenant(self.admin.context(session), slug, wait=False)
        return self._tenant_page(
            request, slug, f"Resuming tenant {slug} and the stacks its suspension stopped."
        )
