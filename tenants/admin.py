"""The platform admin: ``/admin/`` on the bare ``HUB_BASE_DOMAIN`` only (``hub.urls_platform``; a tenant
host has no such path and answers 404 like any unknown one).

Organizations are listed with their state and changed only through ``tenants.services`` (provision,
rename, suspend, activate, delete): the platform API's rules, its route-cache invalidation and its
platform audit entries, with the signed-in admin's user id as the actor. Deleting asks the admin to
type the organization id, the API's ``confirm`` rule, checked by ``tenant_delete`` itself. Domains, the
users mirror, the data-key versions (never their key material) and the platform audit trail are
read-only. Django's own admin log is not written: the platform audit trail is the one record of a
change, and it names people by id only.

Who gets in: superusers made by ``manage.py createsuperuser`` (``User.is_staff``), with their password;
or a platform admin of the identity service (``HUB_PLATFORM_ADMINS``, or a ``platform_admin`` role:
``api.auth.principal_roles``) with one of its access tokens, for as long as that token lives.

The background jobs, their workers and the audit verifications are read-only (issue 14).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, cast

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.admin.utils import unquote
from django.contrib.auth import login
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, URLResolver, path, reverse
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from procrastinate.contrib.django.admin import ProcrastinateJobAdmin
from procrastinate.contrib.django.models import ProcrastinateJob, ProcrastinateWorker

from api.auth import Role, access_token_decode, principal_authenticate, user_mirror_touch
from apps.members.services import Owner
from hub.errors import HubError, Invalid
from tenants import services
from tenants.models import AuditVerification, DataKey, Domain, Organization, PlatformAuditEntry, User

# The session key holding when a token-signed-in platform admin's access ends (the token's ``exp``).
_TOKEN_ADMIN_UNTIL = "hub_platform_admin_until"  # noqa: S105 - a session key


def _actor(request: HttpRequest) -> uuid.UUID:
    """The signed-in admin's user id: the actor of the platform audit entries."""
    return cast(User, request.user).id


class PlatformLoginForm(AdminAuthenticationForm):
    """The admin's password sign-in, by email or user id (a superuser's ``USERNAME_FIELD`` is its id)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["username"].label = "Email or user id"

    def clean(self) -> dict[str, Any]:
        username = str(self.cleaned_data.get("username") or "").strip()
        if "@" in username:
            ids = list(
                User.objects.filter(email__iexact=username, is_superuser=True).values_list("id", flat=True)[
                    :2
                ]
            )
            username = str(ids[0]) if len(ids) == 1 else ""
        try:
            self.cleaned_data["username"] = str(uuid.UUID(username))
        except ValueError:
            raise self.get_invalid_login_error() from None
        return super().clean()


class TokenLoginForm(forms.Form):
    """Sign-in with an identity-service access token of a platform admin (no organization bound)."""

    token = forms.CharField(label="Access token", widget=forms.Textarea(attrs={"rows": 4}), max_length=8192)

    def clean_token(self) -> str:
        token: str = self.cleaned_data["token"].strip()
        try:
            principal = principal_authenticate(token, organization_id=None)
        except HubError as exc:
            raise ValidationError(exc.detail) from None
        if not principal.has_role(Role.PLATFORM_ADMIN):
            raise ValidationError("This token is not a platform admin's.")
        self.principal = principal
        return token


class PlatformAdminSite(admin.AdminSite):
    site_header = "Hub platform admin"
    site_title = "Hub platform admin"
    index_title = "Platform"
    site_url = None
    login_form = PlatformLoginForm
    login_template = "admin/tenants/login.html"

    def has_permission(self, request: HttpRequest) -> bool:
        """Superusers (``is_staff``), and platform admins signed in with a token that has not expired."""
        user = request.user
        if not user.is_active:
            return False
        if user.is_staff:
            return True
        until = request.session.get(_TOKEN_ADMIN_UNTIL)
        return isinstance(until, int | float) and until > time.time()

    def get_urls(self) -> list[URLResolver | URLPattern]:
        return [path("login/token/", self.token_login, name="token_login"), *super().get_urls()]

    @method_decorator(csrf_protect)
    @method_decorator(never_cache)
    def token_login(self, request: HttpRequest) -> HttpResponse:
        form = TokenLoginForm(request.POST if request.method == "POST" else None)
        if form.is_valid():
            principal = form.principal
            user_mirror_touch(principal)
            login(
                request, User.objects.get(id=principal.user_id), backend=settings.AUTHENTICATION_BACKENDS[0]
            )
            expires = int(access_token_decode(form.cleaned_data["token"])["exp"])
            request.session[_TOKEN_ADMIN_UNTIL] = expires
            request.session.set_expiry(datetime.fromtimestamp(expires, tz=UTC))
            return HttpResponseRedirect(reverse("admin:index", current_app=self.name))
        context = {**self.each_context(request), "title": "Sign in with an access token", "form": form}
        return TemplateResponse(request, "admin/tenants/token_login.html", context)


platform_admin_site = PlatformAdminSite(name="admin")


class PlatformModelAdmin(admin.ModelAdmin):
    """Whoever the site lets in may view; writes are each admin's to allow. Django's admin log is not
    kept (the platform audit trail is the record)."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.admin_site.has_permission(request)

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self.admin_site.has_permission(request)

    def log_addition(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        return None

    def log_change(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        return None

    def log_deletion(self, request: HttpRequest, obj: Any, object_repr: str) -> Any:
        return None

    def log_deletions(self, request: HttpRequest, queryset: QuerySet[Any]) -> Any:
        return None


class ReadOnlyAdmin(PlatformModelAdmin):
    """Shown, never added, changed or deleted here."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


class OrganizationRenameForm(forms.ModelForm):
    class Meta:
        model = Organization
        fields = ("name",)

    def clean_name(self) -> str:
        return _service_value(services.tenant_name_validate, self.cleaned_data["name"])


def _service_value(validate: Callable[[str], str], value: str) -> str:
    try:
        return validate(value)
    except Invalid as exc:
        raise ValidationError(exc.detail) from None


class ProvisionForm(forms.Form):
    organization_id = forms.UUIDField(help_text="The organization's id in the identity service.")
    slug = forms.CharField(max_length=63, help_text=f"Its host: <slug>.{settings.HUB_BASE_DOMAIN}")
    name = forms.CharField(max_length=200)
    owner_user_id = forms.UUIDField(required=False, label="First admin's user id")
    owner_email = forms.EmailField(required=False, label="First admin's email")
    skip_identity_check = forms.BooleanField(
        required=False, help_text="Dev and test only: do not ask the identity service."
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if settings.IS_PROD:
            del self.fields["skip_identity_check"]

    def clean(self) -> dict[str, Any]:
        data = cast(dict[str, Any], super().clean())
        if bool(data.get("owner_user_id")) != bool(data.get("owner_email")):
            raise ValidationError("Name the first admin by both user id and email, or leave both empty.")
        return data

    def owner(self) -> Owner | None:
        user_id, email = self.cleaned_data.get("owner_user_id"), self.cleaned_data.get("owner_email")
        return Owner(user_id=user_id, email=email) if user_id and email else None


# The services' names of the provisioning fields -> the form's.
_PROVISION_FIELDS = {"owner.email": "owner_email", "owner.user_id": "owner_user_id"}

# The lifecycle changes a confirmation page leads to: (verb shown, once done, service).
_STATE_CHANGES: dict[str, tuple[str, str, Callable[..., Organization]]] = {
    "suspend": ("Suspend", "Suspended", services.tenant_suspend),
    "activate": ("Activate", "Activated", services.tenant_activate),
}


@admin.register(Organization, site=platform_admin_site)
class OrganizationAdmin(PlatformModelAdmin):
    list_display = ("slug", "name", "status", "host", "created_at", "row_actions")
    list_filter = ("status",)
    search_fields = ("slug", "name")
    ordering = ("slug",)
    actions = ("suspend_selected", "activate_selected")
    form = OrganizationRenameForm
    fields = ("organization_id", "slug", "name", "status", "host", "schema_name", "created_at", "updated_at")
    readonly_fields = ("organization_id", "slug", "status", "host", "schema_name", "created_at", "updated_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self.admin_site.has_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self.admin_site.has_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self.admin_site.has_permission(request)

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # one at a time, behind the typed confirmation
        return actions

    @admin.display(description="host")
    def host(self, tenant: Organization) -> str:
        return tenant.primary_domain

    @admin.display(description="")
    def row_actions(self, tenant: Organization) -> str:
        change = "suspend" if tenant.is_active else "activate"
        url = reverse(
            f"admin:tenants_organization_{change}", args=[tenant.pk], current_app=self.admin_site.name
        )
        return format_html('<a class="button" href="{}">{}</a>', url, _STATE_CHANGES[change][0])

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path("<path:object_id>/suspend/", wrap(self.suspend_view), name="tenants_organization_suspend"),
            path(
                "<path:object_id>/activate/", wrap(self.activate_view), name="tenants_organization_activate"
            ),
            *super().get_urls(),
        ]

    # --- Rename (the change form edits the name only) ----------------------------------------------

    def save_model(self, request: HttpRequest, obj: Organization, form: forms.Form, change: bool) -> None:
        services.tenant_rename(tenant=obj, name=form.cleaned_data["name"], actor=_actor(request))

    # --- Provision (the add form) --------------------------------------------------------------------

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        # Not ModelAdmin's add view: that holds a transaction on the runtime connection, and the
        # provisioning's DDL runs on the owner's (the platform API runs no request-wide transaction either).
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = ProvisionForm(request.POST if request.method == "POST" else None)
        if form.is_valid():
            tenant = self._provision(request, form)
            if tenant is not None:
                self.message_user(request, f"Organization {tenant.slug} provisioned.", messages.SUCCESS)
                return HttpResponseRedirect(self._url("change", tenant.pk))
        context = {**self._context(request, "Provision an organization"), "form": form}
        return TemplateResponse(request, "admin/tenants/organization/provision.html", context)

    def _provision(self, request: HttpRequest, form: ProvisionForm) -> Organization | None:
        data = form.cleaned_data
        try:
            return services.tenant_provision(
                organization_id=data["organization_id"],
                slug=data["slug"],
                name=data["name"],
                check_identity=not data.get("skip_identity_check", False),
                actor=_actor(request),
                owner=form.owner(),
            )
        except Invalid as exc:
            field = _PROVISION_FIELDS.get(exc.field or "", exc.field)
            form.add_error(field if field in form.fields else None, exc.detail)
        except HubError as exc:
            form.add_error(None, exc.detail)
        return None

    # --- Suspend, activate (one, or the selected ones), each behind a confirmation page --------------

    def suspend_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._state_view(request, object_id, "suspend")

    def activate_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._state_view(request, object_id, "activate")

    def _state_view(self, request: HttpRequest, object_id: str, change: str) -> HttpResponse:
        if not self.has_change_permission(request):
            raise PermissionDenied
        tenant = self.get_object(request, unquote(object_id))
        if tenant is None:
            return self._missing(request)
        if request.method == "POST":
            self._state_change(request, [tenant], change)
            return HttpResponseRedirect(self._url("changelist"))
        return self._confirmation(request, [tenant], change, bulk=False)

    @admin.action(description="Suspend the selected organizations")
    def suspend_selected(self, request: HttpRequest, queryset: QuerySet[Organization]) -> HttpResponse | None:
        return self._state_action(request, queryset, "suspend")

    @admin.action(description="Activate the selected organizations")
    def activate_selected(
        self, request: HttpRequest, queryset: QuerySet[Organization]
    ) -> HttpResponse | None:
        return self._state_action(request, queryset, "activate")

    def _state_action(
        self, request: HttpRequest, queryset: QuerySet[Organization], change: str
    ) -> HttpResponse | None:
        if request.POST.get("post") == "yes":
            self._state_change(request, list(queryset), change)
            return None  # back to the list
        return self._confirmation(request, list(queryset), change, bulk=True)

    def _state_change(self, request: HttpRequest, tenants: list[Organization], change: str) -> None:
        _verb, done_word, service = _STATE_CHANGES[change]
        done = []
        for tenant in tenants:
            try:
                done.append(service(tenant=tenant, actor=_actor(request)).slug)
            except HubError as exc:
                self.message_user(request, f"{tenant.slug}: {exc.detail}", messages.ERROR)
        if done:
            self.message_user(request, f"{done_word}: {', '.join(done)}.", messages.SUCCESS)

    def _confirmation(
        self, request: HttpRequest, tenants: list[Organization], change: str, *, bulk: bool
    ) -> HttpResponse:
        verb = _STATE_CHANGES[change][0]
        context = {
            **self._context(request, f"{verb} {len(tenants)} organization(s)?"),
            "tenants": tenants,
            "verb": verb,
            "action": f"{change}_selected" if bulk else None,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/tenants/organization/confirm.html", context)

    # --- Delete: the organization id typed as confirmation (the API's ``confirm``) ------------------

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if not self.has_delete_permission(request):
            raise PermissionDenied
        tenant = self.get_object(request, unquote(object_id))
        if tenant is None:
            return self._missing(request)
        error = None
        if request.method == "POST":
            try:
                services.tenant_delete(
                    tenant=tenant, confirm=request.POST.get("confirm"), actor=_actor(request)
                )
            except HubError as exc:
                error = exc.detail
            else:
                self.message_user(request, f"Organization {tenant.slug} deleted.", messages.SUCCESS)
                return HttpResponseRedirect(self._url("changelist"))
        context = {**self._context(request, f"Delete {tenant.slug}?"), "tenant": tenant, "error": error}
        return TemplateResponse(request, "admin/tenants/organization/delete.html", context)

    def _missing(self, request: HttpRequest) -> HttpResponse:
        self.message_user(request, "No organization has this id (deleted meanwhile?).", messages.WARNING)
        return HttpResponseRedirect(self._url("changelist"))

    def _context(self, request: HttpRequest, title: str) -> dict[str, Any]:
        return {**self.admin_site.each_context(request), "title": title, "opts": self.opts}

    def _url(self, view: str, *args: Any) -> str:
        return reverse(f"admin:tenants_organization_{view}", args=args, current_app=self.admin_site.name)


@admin.register(Domain, site=platform_admin_site)
class DomainAdmin(ReadOnlyAdmin):
    """Read-only: a host is made and removed with its organization (``tenants.services``)."""

    list_display = ("domain", "tenant", "is_primary")
    list_select_related = ("tenant",)
    search_fields = ("domain",)
    fields = ("domain", "tenant", "is_primary")


@admin.register(User, site=platform_admin_site)
class UserAdmin(ReadOnlyAdmin):
    """The mirror of the identity service's users (and the admin site's superusers); no password shown."""

    list_display = ("id", "email", "is_active", "is_superuser", "first_seen_at", "last_seen_at")
    list_filter = ("is_superuser", "is_active")
    search_fields = ("email",)
    ordering = ("-last_seen_at",)
    fields = ("id", "email", "is_active", "is_superuser", "first_seen_at", "last_seen_at", "last_login")


@admin.register(DataKey, site=platform_admin_site)
class DataKeyAdmin(ReadOnlyAdmin):
    """The versions of each organization's field-encryption key: which master key wraps each, never the
    key itself (not even loaded: ``wrapped_key`` is deferred)."""

    list_display = ("organization_id", "version", "master_key_id", "created_at")
    list_filter = ("master_key_id",)
    ordering = ("organization_id", "-version")
    fields = ("organization_id", "version", "master_key_id", "created_at")

    def get_queryset(self, request: HttpRequest) -> QuerySet[DataKey]:
        return super().get_queryset(request).defer("wrapped_key")


@admin.register(PlatformAuditEntry, site=platform_admin_site)
class PlatformAuditEntryAdmin(ReadOnlyAdmin):
    """The platform's audit trail (append-only in the database), newest first."""

    list_display = ("sequence", "timestamp", "action", "organization_id", "actor_id")
    list_filter = ("action",)
    ordering = ("-sequence",)
    fields = ("sequence", "timestamp", "action", "organization_id", "actor_id", "changes", "entry_hash")


# The job queue (procrastinate's tables, issue 14): read-only here. A failed job is retried through
# ``POST /api/platform/v1/jobs/{id}/retry``, which records who did it in the platform trail.
@admin.register(ProcrastinateJob, site=platform_admin_site)
class JobAdmin(ProcrastinateJobAdmin):
    """Jobs newest first, with their arguments (ids only), state and events; no action (procrastinate's
    own admin refuses adding, changing and deleting)."""

    ordering = ("-id",)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.admin_site.has_permission(request)

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self.admin_site.has_permission(request)

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        return {}  # retry through the platform API, which records who did it


@admin.register(ProcrastinateWorker, site=platform_admin_site)
class WorkerAdmin(ReadOnlyAdmin):
    """The workers registered now, with their last heartbeat (alive: within the last 30 s)."""

    list_display = ("id", "last_heartbeat")
    ordering = ("-last_heartbeat",)


@admin.register(AuditVerification, site=platform_admin_site)
class AuditVerificationAdmin(ReadOnlyAdmin):
    """The daily audit-chain verifications of every organization, newest first (failures first to look at)."""

    list_display = ("organization_id", "started_at", "ok", "entries_checked", "first_broken_sequence")
    list_filter = ("ok",)
    ordering = ("-started_at",)
