"""Back-office pages of the email outbox and the email templates.

Staff read every email Encaisse sent or tried to send for their
organisations, exactly as it went out, and send a failed one again. Messages
without organisation (platform mail) are for superusers only. Built-in
templates are shown to all staff, read-only; an organisation changes its
wording on its own copy.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils.html import escape, format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from encaisse.core.errors import DomainError
from encaisse.notifications.defaults import default_template, known_codes
from encaisse.notifications.models import EmailTemplate, OutboxMessage
from encaisse.notifications.services import copy_default_template, preview_pending, resend_message
from encaisse.parties.models import Organisation

from .site import OrganisationScopedAdmin, ReadOnlyAdmin, organisations_of


@admin.register(OutboxMessage)
class OutboxMessageAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at", "recipients", "subject_line", "status", "attempts", "short_error", "template_code",
        "organisation",
    )
    # RelatedOnly: the filter must not list the names of organisations the user cannot see.
    list_filter = ("status", "template_code", "language", ("organisation", admin.RelatedOnlyFieldListFilter))
    search_fields = ("to", "cc", "subject")
    date_hierarchy = "created_at"
    list_select_related = ("organisation",)
    actions = ("send_again",)
    readonly_fields = ("recipients", "copies", "subject_line", "rendered_text", "rendered_html", "related_record")
    fieldsets = (
        (None, {"fields": ("status", "attempts", "next_attempt_at", "sent_at", "last_error")}),
        (_("Message"), {"fields": (
            "organisation", "from_email", "recipients", "copies", "reply_to", "subject_line", "rendered_text",
            "rendered_html",
        )}),
        (_("Origin"), {"fields": ("template_code", "language", "related_record", "idempotency_key", "created_at")}),
    )

    @admin.display(description=_("to"))
    def recipients(self, obj: OutboxMessage) -> str:
        return ", ".join(obj.to_list)

    @admin.display(description=_("cc"))
    def copies(self, obj: OutboxMessage) -> str:
        return ", ".join(obj.cc_list)

    @admin.display(description=_("last error"))
    def short_error(self, obj: OutboxMessage) -> str:
        return obj.last_error if len(obj.last_error) <= 80 else obj.last_error[:79] + "…"

    # A batch's message (queue_emails) is rendered when it is sent: until then these show what it would say now,
    # under a note, never a blank subject.

    @admin.display(description=_("subject"), ordering="subject")
    def subject_line(self, obj: OutboxMessage) -> str:
        if obj.is_rendered:
            return obj.subject
        return format_html("<em>{}</em>", _("(rendered when sent)"))

    @admin.display(description=_("text body"))
    def rendered_text(self, obj: OutboxMessage) -> str:
        if obj.is_rendered:
            return format_html('<pre style="white-space: pre-wrap; margin: 0">{}</pre>', obj.body_text)
        try:
            preview = preview_pending(obj)
        except Exception as error:  # what delivery will report too: shown here instead of a page error
            return format_html("<p><strong>{}</strong> {}</p>",
                               _("Not rendered yet, and it cannot be with the current template:"), error)
        return format_html(
            '<p><em>{}</em></p><p><strong>{}</strong></p><pre style="white-space: pre-wrap; margin: 0">{}</pre>',
            _("Preview: this message is rendered when it is sent, with the template in force then."),
            escape(preview.subject), escape(preview.body_text),  # escape(): a template's output is marked safe
        )

    @admin.display(description=_("HTML body"))
    def rendered_html(self, obj: OutboxMessage) -> str:
        body_html = obj.body_html
        if not obj.is_rendered:
            try:
                body_html = escape(preview_pending(obj).body_html)  # for srcdoc, as a stored body is: marked safe
            except Exception:  # the text body says why
                body_html = ""
        if not body_html:
            return "—"
        # An empty sandbox: the mail's HTML is shown, its scripts and forms never run here.
        return format_html(
            '<iframe sandbox="" srcdoc="{}" style="width: 100%; min-height: 24em; border: 1px solid #ccc">'
            "</iframe>",
            body_html,
        )

    @admin.display(description=_("about"))
    def related_record(self, obj: OutboxMessage) -> str:
        if obj.related_content_type_id is None:
            return "—"
        content_type = obj.related_content_type
        label = f"{content_type.name} {obj.related_object_id}"
        try:
            url = reverse(
                f"admin:{content_type.app_label}_{content_type.model}_change",
                args=[obj.related_object_id],
                current_app=self.admin_site.name,
            )
        except NoReverseMatch:
            return label
        return format_html('<a href="{}">{}</a>', url, label)

    def has_resend_permission(self, request: HttpRequest) -> bool:
        return self._member(request)

    @admin.action(description=_("Send again (failed messages)"), permissions=["resend"])
    def send_again(self, request: HttpRequest, queryset: QuerySet[OutboxMessage]) -> None:
        resent, refused = 0, []
        for message in queryset:
            try:
                resend_message(message_id=message.pk, by=request.user)
            except DomainError as error:
                refused.append(str(error))
            else:
                resent += 1
        if resent:
            self.message_user(
                request,
                ngettext("%(count)d message queued again.", "%(count)d messages queued again.", resent)
                % {"count": resent},
                messages.SUCCESS,
            )
        for reason in refused:
            self.message_user(request, reason, messages.WARNING)


class EmailTemplateForm(forms.ModelForm):
    class Meta:
        model = EmailTemplate
        fields = ("organisation", "code", "language", "subject", "body_text", "body_html")
        widgets = {"body_text": forms.Textarea(attrs={"rows": 16, "cols": 90}),
                   "body_html": forms.Textarea(attrs={"rows": 10, "cols": 90})}

    def clean_code(self) -> str:
        code = self.cleaned_data["code"]
        if code not in known_codes():
            raise forms.ValidationError(
                _("Unknown code. Known codes: %(codes)s."), params={"codes": ", ".join(known_codes())}
            )
        return code


class CopyTemplateForm(forms.Form):
    organisation = forms.ModelChoiceField(queryset=Organisation.objects.none(), label=_("organisation"))


@admin.register(EmailTemplate)
class EmailTemplateAdmin(OrganisationScopedAdmin):
    form = EmailTemplateForm
    list_display = ("code", "language", "owner", "subject", "updated_at")
    list_filter = ("code", "language")
    search_fields = ("code", "subject", "body_text")
    list_select_related = ("organisation",)
    readonly_fields = ("placeholders",)
    fields = ("organisation", "code", "language", "placeholders", "subject", "body_text", "body_html")
    actions = ("copy_to_organisation",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[EmailTemplate]:
        # Not the scoped queryset: built-in templates have no organisation, and every member reads them.
        queryset = admin.ModelAdmin.get_queryset(self, request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(Q(organisation__isnull=True) | Q(organisation__in=organisations_of(request.user)))

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "organisation":
            field.required = True  # built-in templates come from code, never from this form
            field.empty_label = None
        return field

    def has_change_permission(self, request: HttpRequest, obj: EmailTemplate | None = None) -> bool:
        return self._member(request) and (obj is None or not obj.is_default)

    def has_delete_permission(self, request: HttpRequest, obj: EmailTemplate | None = None) -> bool:
        # Deleting an organisation's copy brings the built-in wording back.
        return self._member(request) and obj is not None and not obj.is_default

    @admin.display(description=_("organisation"))
    def owner(self, obj: EmailTemplate) -> str:
        return str(obj.organisation) if obj.organisation_id else _("Built-in")

    @admin.display(description=_("variables"))
    def placeholders(self, obj: EmailTemplate) -> str:
        default = default_template(obj.code, obj.language) if obj.pk else None
        if default is None or not default.variables:
            return "—"
        return format_html_join(", ", "<code>{{{{ {} }}}}</code>", ((name,) for name in default.variables))

    @admin.action(description=_("Copy into my organisation for editing"), permissions=["add"])
    def copy_to_organisation(self, request: HttpRequest, queryset: QuerySet[EmailTemplate]) -> HttpResponse | None:
        # Into the organisations the user works for; a superuser who belongs to none may pick any.
        choices = Organisation.objects.filter(memberships__user=request.user)
        if request.user.is_superuser and not choices.exists():
            choices = Organisation.objects.all()
        form = CopyTemplateForm(request.POST if "apply" in request.POST else None)
        form.fields["organisation"].queryset = choices
        if not form.is_bound and choices.count() == 1:
            organisation = choices.get()
        elif form.is_bound and form.is_valid():
            organisation = form.cleaned_data["organisation"]
        else:
            return TemplateResponse(request, "backoffice/outbox/copy_template.html", {
                **self.admin_site.each_context(request),
                "title": _("Copy email templates into an organisation"),
                "opts": self.model._meta,
                "form": form,
                "templates": queryset,
                "action_checkbox_name": ACTION_CHECKBOX_NAME,
                "action": "copy_to_organisation",
            })
        copied = 0
        for template in queryset:
            if not template.is_default:
                self.message_user(request, _("%(template)s is not a built-in template; skipped.")
                                  % {"template": template}, messages.WARNING)
                continue
            copy_default_template(template_id=template.pk, organisation=organisation, by=request.user)
            copied += 1
        if copied:
            self.message_user(
                request,
                ngettext("%(count)d template copied into %(organisation)s.",
                         "%(count)d templates copied into %(organisation)s.", copied)
                % {"count": copied, "organisation": organisation},
                messages.SUCCESS,
            )
        return None
