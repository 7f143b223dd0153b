"""The built-in email templates, in French and English.

These are code, reviewed like code. After every migrate they are copied into
EmailTemplate rows without organisation (see apps.py) so that staff can read
them and copy one into their organisation to change it; if a row is missing,
rendering falls back to this module directly. A later issue that sends a new
kind of email adds its code here, in both languages.

Every template receives `organisation` (name, legal_name, email) besides the
caller's context. Money values arrive formatted for the language
("1 234,50 €" / "€1,234.50"); dates are date objects, shown with
`{{ due_date|date:"DATE_FORMAT" }}` in the language of the email.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class DefaultTemplate:
    subject: str
    body_text: str
    body_html: str = ""
    variables: tuple[str, ...] = ()


_INVOICE_VARIABLES = ("invoice_number", "amount", "due_date", "customer_name", "pay_url", "organisation.name")
_SIGN_IN_VARIABLES = ("customer_name", "sign_in_url", "minutes", "organisation.name")
_MANDATE_VARIABLES = ("customer_name", "reference", "masked_iban", "creditor_id", "signed_on", "mandate_text",
                      "organisation.name")
_PRENOTIFICATION_VARIABLES = ("customer_name", "amount", "collection_date", "reference", "creditor_id",
                              "creditor_name", "masked_iban", "invoice_number", "organisation.name")
_RETURNED_VARIABLES = ("customer_name", "invoice_number", "amount", "reason", "reason_code", "reference",
                       "mandate_revoked", "next_step", "pay_url", "organisation.name")

DEFAULT_TEMPLATES: dict[tuple[str, str], DefaultTemplate] = {
    ("invoice_issued", "fr"): DefaultTemplate(
        subject="{{ organisation.name }} : facture {{ invoice_number }}",
        body_text=(
            "Bonjour{% if customer_name %} {{ customer_name }}{% endif %},\n"
            "\n"
            "Veuillez trouver votre facture {{ invoice_number }} d'un montant de {{ amount }}"
            '{% if due_date %}, à régler au plus tard le {{ due_date|date:"DATE_FORMAT" }}{% endif %}.\n'
            "{% if pay_url %}\n"
            "Pour la régler en ligne : {{ pay_url }}\n"
            "{% endif %}\n"
            "Cordialement,\n"
            "{{ organisation.name }}{% if organisation.email %}\n"
            "{{ organisation.email }}{% endif %}\n"
        ),
        variables=_INVOICE_VARIABLES,
    ),
    ("invoice_issued", "en"): DefaultTemplate(
        subject="{{ organisation.name }}: invoice {{ invoice_number }}",
        body_text=(
            "Hello{% if customer_name %} {{ customer_name }}{% endif %},\n"
            "\n"
            "Please find your invoice {{ invoice_number }} for {{ amount }}"
            '{% if due_date %}, due on {{ due_date|date:"DATE_FORMAT" }}{% endif %}.\n'
            "{% if pay_url %}\n"
            "To pay online: {{ pay_url }}\n"
            "{% endif %}\n"
            "Kind regards,\n"
            "{{ organisation.name }}{% if organisation.email %}\n"
            "{{ organisation.email }}{% endif %}\n"
        ),
        variables=_INVOICE_VARIABLES,
    ),
    # A one-time link to the customer portal (encaisse.portal.auth): valid `minutes`, single use.
    ("portal_sign_in", "fr"): DefaultTemplate(
        subject="{% if organisation.name %}{{ organisation.name }} : {% endif %}votre lien de connexion",
        body_text=(
            "Bonjour{% if customer_name %} {{ customer_name }}{% endif %},\n"
            "\n"
            "Pour accéder à votre espace client, ouvrez ce lien dans les {{ minutes }} minutes "
            "(il ne sert qu'une fois) :\n"
            "{{ sign_in_url }}\n"
            "\n"
            "Si vous n'avez rien demandé, ignorez ce message : personne ne pourra se connecter sans ce lien.\n"
            "{% if organisation.name %}\n"
            "{{ organisation.name }}{% endif %}\n"
        ),
        variables=_SIGN_IN_VARIABLES,
    ),
    ("portal_sign_in", "en"): DefaultTemplate(
        subject="{% if organisation.name %}{{ organisation.name }}: {% endif %}your sign-in link",
        body_text=(
            "Hello{% if customer_name %} {{ customer_name }}{% endif %},\n"
            "\n"
            "To open your customer account, follow this link within {{ minutes }} minutes "
            "(it works once):\n"
            "{{ sign_in_url }}\n"
            "\n"
            "If you did not ask for it, ignore this message: nobody can sign in without the link.\n"
            "{% if organisation.name %}\n"
            "{{ organisation.name }}{% endif %}\n"
        ),
        variables=_SIGN_IN_VARIABLES,
    ),
    # For one-off messages whose words come from the caller.
    ("generic", "fr"): DefaultTemplate(
        subject="{{ subject }}",
        body_text="""{{ body }}

--
{{ organisation.name }}
""",
        variables=("subject", "body", "organisation.name"),
    ),
    ("generic", "en"): DefaultTemplate(
        subject="{{ subject }}",
        body_text="""{{ body }}

--
{{ organisation.name }}
""",
        variables=("subject", "body", "organisation.name"),
    ),
    # A signed SEPA mandate: the debtor's copy. The IBAN stays masked; the mandate row holds the full one.
    ("mandate_signed", "fr"): DefaultTemplate(
        subject="{{ organisation.name }} : votre mandat de prélèvement SEPA {{ reference }}",
        body_text=(
            "Bonjour{% if customer_name %} {{ customer_name }}{% endif %},\n"
            "\n"
            'Vous avez signé le {{ signed_on|date:"DATE_FORMAT" }} le mandat de prélèvement SEPA '
            "{{ reference }} pour le compte {{ masked_iban }} (identifiant créancier {{ creditor_id }}).\n"
            "Voici le mandat signé, à conserver :\n"
            "\n"
            "{{ mandate_text }}\n"
            "\n"
            "Cordialement,\n"
            "{{ organisation.name }}{% if organisation.email %}\n"
            "{{ organisation.email }}{% endif %}\n"
        ),
        variables=_MANDATE_VARIABLES,
    ),
    ("mandate_signed", "en"): DefaultTemplate(
        subject="{{ organisation.name }}: your SEPA direct debit mandate {{ reference }}",
        body_text=(
            "Hello{% if customer_name %} {{ customer_name }}{% endif %},\n"
            "\n"
            'On {{ signed_on|date:"DATE_FORMAT" }} you signed the SEPA direct debit mandate '
            "{{ reference }} for the account {{ masked_iban }} (creditor identifier {{ creditor_id }}).\n"
            "Here is the signed mandate, for your records:\n"
            "\n"
            "{{ mandate_text }}\n"
            "\n"
            "Kind regards,\n"
            "{{ organisation.name }}{% if organisation.email %}\n"
            "{{ organisation.email }}{% endif %}\n"
        ),
        variables=_MANDATE_VARIABLES,
    ),
    # A direct debit is coming (SEPA rulebook: tell the debtor before the collection, 14 days unless agreed).
    ("direct_debit_prenotification", "fr"): DefaultTemplate(
        subject=("{{ organisation.name }} : prélèvement SEPA de {{ amount }} "
                 'le {{ collection_date|date:"DATE_FORMAT" }}'),
        body_text=(
            "Bonjour{% if customer_name %} {{ customer_name }}{% endif %},\n"
            "\n"
            "Nous prélèverons {{ amount }} sur votre compte {{ masked_iban }} le "
            '{{ collection_date|date:"DATE_FORMAT" }}'
            "{% if invoice_number %} pour la facture {{ invoice_number }}{% endif %}.\n"
            "\n"
            "Référence unique du mandat (RUM) : {{ reference }}\n"
            "Identifiant créancier SEPA (ICS) : {{ creditor_id }}\n"
            "Créancier : {{ creditor_name }}\n"
            "\n"
            "Vous n'avez rien à faire. Veillez seulement à ce que votre compte soit approvisionné à cette date.\n"
            "\n"
            "Cordialement,\n"
            "{{ organisation.name }}{% if organisation.email %}\n"
            "{{ organisation.email }}{% endif %}\n"
        ),
        variables=_PRENOTIFICATION_VARIABLES,
    ),
    ("direct_debit_prenotification", "en"): DefaultTemplate(
        subject=("{{ organisation.name }}: SEPA direct debit of {{ amount }} "
                 'on {{ collection_date|date:"DATE_FORMAT" }}'),
        body_text=(
            "Hello{% if customer_name %} {{ customer_name }}{% endif %},\n"
            "\n"
            "We will collect {{ amount }} from your account {{ masked_iban }} on "
            '{{ collection_date|date:"DATE_FORMAT" }}'
            "{% if invoice_number %} for invoice {{ invoice_number }}{% endif %}.\n"
            "\n"
            "Mandate reference (UMR): {{ reference }}\n"
            "SEPA creditor identifier: {{ creditor_id }}\n"
            "Creditor: {{ creditor_name }}\n"
            "\n"
            "There is nothing for you to do; please just make sure the money is on the account on that day.\n"
            "\n"
            "Kind regards,\n"
            "{{ organisation.name }}{% if organisation.email %}\n"
            "{{ organisation.email }}{% endif %}\n"
        ),
        variables=_PRENOTIFICATION_VARIABLES,
    ),
    # The bank sent a direct debit back (reject, return or refund): the invoice is owed again.
    ("direct_debit_returned", "fr"): DefaultTemplate(
        subject="{{ organisation.name }} : le prélèvement{% if invoice_number %} de la facture "
                "{{ invoice_number }}{% endif %} n'a pas abouti",
        body_text=(
            "Bonjour{% if customer_name %} {{ customer_name }}{% endif %},\n"
            "\n"
            "Le prélèvement de {{ amount }}{% if invoice_number %} pour la facture {{ invoice_number }}{% endif %} "
            "nous a été retourné par la banque.\n"
            "Motif : {{ reason }}{% if reason_code %} ({{ reason_code }}){% endif %}\n"
            "\n"
            "{% if mandate_revoked %}Votre mandat de prélèvement {{ reference }} ne peut plus être utilisé : "
            "merci de nous donner un nouveau compte ou un autre moyen de paiement.\n"
            "{% elif next_step %}{{ next_step }}\n{% endif %}"
            "{% if pay_url %}Vous pouvez régler la somme due en ligne : {{ pay_url }}\n{% endif %}"
            "\n"
            "Cordialement,\n"
            "{{ organisation.name }}{% if organisation.email %}\n"
            "{{ organisation.email }}{% endif %}\n"
        ),
        variables=_RETURNED_VARIABLES,
    ),
    ("direct_debit_returned", "en"): DefaultTemplate(
        subject="{{ organisation.name }}: the direct debit{% if invoice_number %} for invoice "
                "{{ invoice_number }}{% endif %} did not go through",
        body_text=(
            "Hello{% if customer_name %} {{ customer_name }}{% endif %},\n"
            "\n"
            "The direct debit of {{ amount }}{% if invoice_number %} for invoice {{ invoice_number }}{% endif %} "
            "was sent back by the bank.\n"
            "Reason: {{ reason }}{% if reason_code %} ({{ reason_code }}){% endif %}\n"
            "\n"
            "{% if mandate_revoked %}Your direct debit mandate {{ reference }} can no longer be used: please give "
            "us a new account or another way to pay.\n"
            "{% elif next_step %}{{ next_step }}\n{% endif %}"
            "{% if pay_url %}You can pay what is due online: {{ pay_url }}\n{% endif %}"
            "\n"
            "Kind regards,\n"
            "{{ organisation.name }}{% if organisation.email %}\n"
            "{{ organisation.email }}{% endif %}\n"
        ),
        variables=_RETURNED_VARIABLES,
    ),
    # Automatic collection gave up on an invoice (every try failed): the customer pays it themselves.
    ("collection_failed", "fr"): DefaultTemplate(
        subject="{{ organisation.name }} : facture {{ invoice_number }} à régler",
        body_text=(
            "Bonjour{% if customer_name %} {{ customer_name }}{% endif %},\n"
            "\n"
            "Nous n'avons pas pu encaisser automatiquement {{ amount }} pour la facture {{ invoice_number }}.\n"
            "{% if pay_url %}\n"
            "Merci de la régler en ligne : {{ pay_url }}\n"
            "{% else %}\n"
            "Merci de nous contacter pour la régler.\n"
            "{% endif %}\n"
            "Cordialement,\n"
            "{{ organisation.name }}{% if organisation.email %}\n"
            "{{ organisation.email }}{% endif %}\n"
        ),
        variables=_INVOICE_VARIABLES,
    ),
    ("collection_failed", "en"): DefaultTemplate(
        subject="{{ organisation.name }}: invoice {{ invoice_number }} to pay",
        body_text=(
            "Hello{% if customer_name %} {{ customer_name }}{% endif %},\n"
            "\n"
            "We could not collect {{ amount }} automatically for invoice {{ invoice_number }}.\n"
            "{% if pay_url %}\n"
            "Please pay it online: {{ pay_url }}\n"
            "{% else %}\n"
            "Please contact us to pay it.\n"
            "{% endif %}\n"
            "Kind regards,\n"
            "{{ organisation.name }}{% if organisation.email %}\n"
            "{{ organisation.email }}{% endif %}\n"
        ),
        variables=_INVOICE_VARIABLES,
    ),
}


def default_template(code: str, language: str) -> DefaultTemplate | None:
    return DEFAULT_TEMPLATES.get((code, language))


def known_codes() -> list[str]:
    return sorted({code for code, _ in DEFAULT_TEMPLATES})


def sync_default_templates(template_model: type | None = None, *, using: str = "default") -> int:
    """Make the built-in EmailTemplate rows match this module; return how many rows changed.

    Rows for codes no longer listed here are left alone: an outbox message or
    an organisation's copy may still name them.
    """
    if template_model is None:
        from .models import EmailTemplate as template_model
    rows = template_model._default_manager.using(using)
    changed = 0
    for (code, language), default in DEFAULT_TEMPLATES.items():
        wanted = {"subject": default.subject, "body_text": default.body_text, "body_html": default.body_html}
        row = rows.filter(organisation__isnull=True, code=code, language=language).first()
        if row is None:
            rows.create(organisation=None, code=code, language=language, **wanted)
            changed += 1
        elif any(getattr(row, field) != value for field, value in wanted.items()):
            for field, value in wanted.items():
                setattr(row, field, value)
            row.save(using=using, update_fields=[*wanted, "updated_at"])
            changed += 1
    return changed
