from django.utils.translation import gettext_lazy as _

from encaisse.core.errors import DomainError


class UnknownTemplate(DomainError):
    code = "unknown_template"
    message = _("There is no email template %(code)s, neither the organisation's own nor a built-in one.")


class NoRecipient(DomainError):
    code = "no_recipient"
    message = _("Email %(code)s has no recipient.")


class InvalidRecipient(DomainError):
    code = "invalid_recipient"
    message = _("%(address)s is not a valid email address.")


class MessageNotFailed(DomainError):
    code = "message_not_failed"
    message = _("Message %(outbox_id)s is %(status)s: only failed messages can be sent again.")


class NotADefaultTemplate(DomainError):
    code = "not_a_default_template"
    message = _("Template %(template)s already belongs to an organisation; only built-in templates are copied.")
