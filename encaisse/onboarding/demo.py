"""The demo: a dry cleaner's and a town hall, with customers, invoices and logins.

`make run` loads it on every start, so loading is idempotent: an organisation
already there is left exactly as it is. Dates are relative to the day of the
first load, so what was overdue then stays overdue.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from io import BytesIO
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from encaisse.collection.models import CollectionPolicy
from encaisse.invoicing.models import (
    Invoice,
    InvoiceSeries,
    InvoiceType,
    PaymentMethod,
    Product,
    Quote,
    Regie,
    VatRate,
)
from encaisse.invoicing.services import (
    accept_quote,
    add_deposit_request,
    add_line,
    add_quote_line,
    create_draft,
    create_quote,
    issue_credit_note,
    issue_deposit_request,
    post_invoice,
    send_quote,
    validate_invoice,
)
from encaisse.ledger.models import Account, Journal
from encaisse.ledger.services import account_of_kind, journal_of_kind
from encaisse.parties.models import Customer, Membership, Organisation
from encaisse.payments.models import ProviderAccount
from encaisse.sepa.models import CreditorAccount
from encaisse.usage.models import Partner, ServiceMapping
from encaisse.usage.services import import_usage_file

from .customers import import_customers
from .organisations import create_organisation

DEMO_SLUG = "demo"
# A month of the partner laundry's work, with the mistakes such files have (unknown customer and
# service code, a zero quantity, a repeated line): also the file to try `encaisse import-usage` on.
SAMPLE_USAGE_FILE = Path(__file__).parent / "samples" / "lavande-usage.csv"
TOWN_SLUG = "mairie"


@dataclass(frozen=True, slots=True)
class DemoLogin:
    username: str
    password: str
    organisation: str
    role: str

    def as_dict(self) -> dict[str, str]:
        return {"username": self.username, "password": self.password, "organisation": self.organisation,
                "role": self.role}


LOGINS = (
    DemoLogin("demo", "demo", DEMO_SLUG, Membership.Role.MANAGER),
    DemoLogin("agent", "agent", TOWN_SLUG, Membership.Role.CLERK),
)

# ref, name, email, kind, language, iban, bic, mandate_ref, mandate_signed_on, opening_balance
PRESSING_CUSTOMERS = """\
ref;name;email;kind;language;iban;bic;mandate_ref;mandate_signed_on;opening_balance
C001;Jeanne Martin;jeanne.martin@example.org;personne;fr;;;;;
C002;Lucas Bernard;lucas@example.org;personne;fr;FR7630004000000000000000248;BNPAFRPP;DEMO-C002-01;{signed};45,80
C003;Chloé Dubois;chloe.dubois@example.org;personne;fr;;;;;
C004;Hôtel Bellecour SAS;compta@hotel-bellecour.example;société;fr;;;;;1 250,00
C005;Emily Walker;emily.walker@example.com;person;en;;;;;
C006;Thomas Petit;thomas.petit@example.org;personne;fr;;;;;-20,00
C007;Cabinet Moreau Avocats;cabinet@moreau.test;company;fr;FR7620041000000000000100576;PSSTFRPP;DEMO-C007-01;{signed};
C008;Léa Laurent;lea.laurent@example.org;personne;fr;;;;;
C009;James O'Connor;james.oconnor@example.com;person;en;;;;;
C010;Restaurant Le Gone;contact@legone.example;société;fr;;;;;310,50
C011;Camille Roux;camille.roux@example.org;personne;fr;;;;;
C012;Nathalie Fournier;nathalie.fournier@example.org;personne;fr;;;;;
C013;Smith & Partners Ltd;accounts@smith-partners.example;company;en;;;;;
"""

TOWN_CUSTOMERS = """\
ref;name;email;kind;language;iban;bic;mandate_ref;mandate_signed_on;opening_balance
F001;Famille Garcia;sofia.garcia@example.org;personne;fr;FR7610107000000012345678935;;CANT-F001;{signed};
F002;Famille Nguyen;minh.nguyen@example.org;personne;fr;;;;;
F003;Famille Lefebvre;paul.lefebvre@example.org;personne;fr;;;;;12,40
F004;Famille Mercier;claire.mercier@example.org;personne;fr;;;;;
F005;Johnson family;sarah.johnson@example.com;personne;en;;;;;
"""


def load_demo(*, today: date | None = None) -> Organisation:
    """Create the demo organisations, their staff, customers and invoices, unless they exist; return "demo".

    Each organisation is created whole or not at all, and one that exists is
    not touched again: a second run changes nothing.
    """
    today = today or timezone.localdate()
    with transaction.atomic():
        pressing = Organisation.objects.filter(slug=DEMO_SLUG).first() or _load_pressing(today)
    with transaction.atomic():
        if not Quote.objects.filter(organisation=pressing).exists():
            _load_quote(pressing, today)
    with transaction.atomic():
        if not CreditorAccount.objects.filter(organisation=pressing).exists():
            _load_collection(pressing)
    with transaction.atomic():
        if not Organisation.objects.filter(slug=TOWN_SLUG).exists():
            _load_town(today)
    return pressing


def _load_collection(organisation: Organisation) -> None:
    """The bank account direct debits go to, and the default collection policy: `encaisse collect` works at once.

    Loaded on its own, so a demo created before automatic collection gets it too.
    """
    CreditorAccount.objects.create(organisation=organisation, name="Banque Populaire — compte courant",
                                   iban="FR7610907000301234567890125", bic="CCBPFRPPBDX",
                                   bank_account=account_of_kind(organisation, Account.Kind.BANK))
    CollectionPolicy.objects.create(organisation=organisation)


def _staff(login: DemoLogin, organisation: Organisation) -> Any:
    user_model = get_user_model()
    user = user_model.objects.filter(username=login.username).first()
    if user is None:
        # create_user skips the password validators: "demo" is only for the demo.
        user = user_model.objects.create_user(login.username, f"{login.username}@example.org", login.password,
                                              is_staff=True)
    Membership.objects.get_or_create(organisation=organisation, user=user, defaults={"role": login.role})
    return user


def _product(organisation: Organisation, code: str, label: str, price: str, vat: str, unit: str = "u") -> Product:
    return Product.objects.create(
        organisation=organisation, code=code, label=label, unit=unit, unit_price=Decimal(price),
        vat_rate=VatRate.objects.get(organisation=organisation, code=vat),
        revenue_account=account_of_kind(organisation, Account.Kind.REVENUE),
    )


def _invoice(customer: Customer, invoice_type: InvoiceType, lines: list[tuple[Product, str]], *, by: Any,
             issued_on: date | None, post: bool = True, billing_period: date | None = None) -> Invoice:
    invoice = create_draft(customer=customer, invoice_type=invoice_type, by=by, issued_on=issued_on,
                           billing_period=billing_period)
    for product, quantity in lines:
        add_line(invoice_id=invoice.pk, product=product, quantity=Decimal(quantity), by=by)
    if not post:
        return invoice
    validate_invoice(invoice_id=invoice.pk, by=by)
    return post_invoice(invoice_id=invoice.pk, by=by, today=issued_on)


def _load_pressing(today: date) -> Organisation:
    organisation = create_organisation(
        name="Pressing & Conciergerie du Centre", slug=DEMO_SLUG, legal_name="Pressing & Conciergerie du Centre SARL",
        siren="732829320", vat_number="FR44732829320", creditor_id="FR72ZZZ123456",
        address_line1="12 rue du Marché", postcode="69002", city="Lyon", email="contact@pressing-centre.example",
    )
    user = _staff(LOGINS[0], organisation)
    shirt = _product(organisation, "CHEMISE", "Chemise — lavage et repassage", "3.50", "FR20")
    trousers = _product(organisation, "PANTALON", "Pantalon — nettoyage à sec", "6.90", "FR20")
    suit = _product(organisation, "COSTUME", "Costume deux pièces — nettoyage à sec", "16.00", "FR20")
    duvet = _product(organisation, "COUETTE", "Couette — lavage", "19.00", "FR20")
    concierge = _product(organisation, "CONCIERGERIE", "Abonnement conciergerie", "29.00", "FR20", unit="mois")

    signed = (today - timedelta(days=120)).isoformat()
    import_customers(organisation=organisation, file=PRESSING_CUSTOMERS.format(signed=signed).encode(), by=user,
                     today=today - timedelta(days=90))
    customers = {c.ref: c for c in Customer.objects.filter(organisation=organisation)}
    standard = InvoiceType.objects.get(organisation=organisation, code="STANDARD")

    def days_ago(n: int) -> date:
        return today - timedelta(days=n)

    # Posted in date order, so numbers follow dates. Delay 30 days: the first two are overdue.
    _invoice(customers["C004"], standard, [(shirt, "40"), (trousers, "12"), (duvet, "6")], by=user,
             issued_on=days_ago(75))
    _invoice(customers["C002"], standard, [(suit, "1"), (shirt, "5")], by=user, issued_on=days_ago(50))
    credited = _invoice(customers["C005"], standard, [(suit, "2")], by=user, issued_on=days_ago(40))
    issue_credit_note(invoice_id=credited.pk, reason="Costume abîmé : facture annulée", by=user,
                      today=days_ago(35))
    _invoice(customers["C007"], standard, [(concierge, "1"), (shirt, "10")], by=user, issued_on=days_ago(20))
    _invoice(customers["C010"], standard, [(duvet, "4"), (trousers, "6")], by=user, issued_on=days_ago(12))
    _invoice(customers["C001"], standard, [(shirt, "3"), (trousers, "1")], by=user, issued_on=days_ago(5))
    _invoice(customers["C009"], standard, [(suit, "1")], by=user, issued_on=days_ago(2))
    # Card payments through the built-in sandbox (test cards, no real money): pay links work out of the box.
    ProviderAccount.objects.create(organisation=organisation, provider="sandbox", code="demo-sandbox",
                                   name="Carte bancaire (bac à sable)", settings={"settle_after_seconds": 30})
    # A partner laundry whose monthly file becomes drafts: its format is detected, not declared.
    partner = Partner.objects.create(organisation=organisation, code="lavande", name="Blanchisserie Lavande",
                                     invoice_type=standard, price_source=Partner.PriceSource.FILE)
    for code, product in (("CHEM", shirt), ("PANT", trousers), ("COST", suit), ("COUE", duvet)):
        ServiceMapping.objects.create(partner=partner, service_code=code, product=product)
    import_usage_file(partner=partner, period=today.replace(day=1), file=BytesIO(SAMPLE_USAGE_FILE.read_bytes()),
                      filename=SAMPLE_USAGE_FILE.name, by=user)
    # Drafts waiting for review.
    _invoice(customers["C011"], standard, [(shirt, "6")], by=user, issued_on=None, post=False)
    _invoice(customers["C013"], standard, [(concierge, "1")], by=user, issued_on=None, post=False)
    _invoice(customers["C008"], standard, [(trousers, "2"), (suit, "1")], by=user, issued_on=None, post=False)
    return organisation


def _load_quote(organisation: Organisation, today: date) -> Quote:
    """A hotel's curtains and carpets quoted, with a deposit of 30 % issued (its pay link works) and 70 % to come.

    Loaded on its own, so a demo created before quotes existed gets it too.
    """
    user = _staff(LOGINS[0], organisation)
    rate = VatRate.objects.get(organisation=organisation, code="FR20")
    quote = create_quote(customer=Customer.objects.get(organisation=organisation, ref="C004"),
                         invoice_type=InvoiceType.objects.get(organisation=organisation, code="STANDARD"), by=user,
                         valid_until=today + timedelta(days=30), customer_reference="Rénovation printemps")
    # 24 × 18.00 + 6 × 45.00 = 702.00 excl. VAT, VAT 140.40: 842.40; deposits 252.72 (30 %) and 589.68 (70 %).
    add_quote_line(quote_id=quote.pk, label="Rideaux — nettoyage et repassage", quantity=24, unit_price="18.00",
                   vat_rate=rate, by=user)
    add_quote_line(quote_id=quote.pk, label="Tapis — nettoyage en profondeur", quantity=6, unit_price="45.00",
                   vat_rate=rate, by=user)
    send_quote(quote_id=quote.pk, by=user, today=today - timedelta(days=3))
    accept_quote(quote_id=quote.pk, by=user)
    first = add_deposit_request(quote_id=quote.pk, percent=Decimal(30), due_on=today + timedelta(days=7),
                                label="Acompte à la commande (30 %)", by=user)
    add_deposit_request(quote_id=quote.pk, percent=Decimal(70), due_on=today + timedelta(days=30),
                        label="Acompte avant intervention (70 %)", by=user)
    issue_deposit_request(deposit_id=first.pk, by=user, today=today - timedelta(days=2))
    return quote


def _load_town(today: date) -> Organisation:
    organisation = create_organisation(
        name="Mairie de Saint-Exemple", slug=TOWN_SLUG, siren="217500016", creditor_id="FR19ZZZ654321",
        address_line1="1 place de la Mairie", postcode="01000", city="Saint-Exemple",
        email="regies@saint-exemple.example",
    )
    user = _staff(LOGINS[1], organisation)
    canteen_office = Regie.objects.create(
        organisation=organisation, code="CANTINE", name="Régie cantine",
        journal=journal_of_kind(organisation, Journal.Kind.BANK),
        bank_account=account_of_kind(organisation, Account.Kind.BANK),
        allowed_methods=[PaymentMethod.PAYFIP, PaymentMethod.SEPA_DEBIT, PaymentMethod.CHEQUE, PaymentMethod.CASH],
    )
    canteen = InvoiceType.objects.create(
        organisation=organisation, code="CANTINE", name="Cantine scolaire", regie=canteen_office,
        series=InvoiceSeries.objects.create(organisation=organisation, code="CANTINE", prefix="CAN"),
        credit_note_series=InvoiceSeries.objects.create(organisation=organisation, code="CANTINE-AV",
                                                        prefix="AVCAN"),
        payment_delay_days=15,
        wording="Régie cantine — payable en ligne (PayFiP), par prélèvement, chèque ou espèces en mairie.",
    )
    after_school = InvoiceType.objects.create(
        organisation=organisation, code="PERISCOLAIRE", name="Périscolaire",
        regie=Regie.objects.get(organisation=organisation, code="PRINCIPALE"),
        series=InvoiceSeries.objects.create(organisation=organisation, code="PERISCOLAIRE", prefix="PERI"),
        credit_note_series=InvoiceSeries.objects.create(organisation=organisation, code="PERISCOLAIRE-AV",
                                                        prefix="AVPERI"),
        payment_delay_days=30,
    )
    # Public services of a commune are outside the scope of VAT (CGI art. 256 B).
    meal = _product(organisation, "REPAS", "Repas cantine (enfant)", "3.80", "EXO", unit="repas")
    adult_meal = _product(organisation, "REPAS-ADULTE", "Repas cantine (adulte)", "5.20", "EXO", unit="repas")
    childcare = _product(organisation, "GARDERIE", "Garderie périscolaire", "2.10", "EXO", unit="h")
    study = _product(organisation, "ETUDE", "Étude surveillée", "3.00", "EXO", unit="séance")

    signed = (today - timedelta(days=200)).isoformat()
    import_customers(organisation=organisation, file=TOWN_CUSTOMERS.format(signed=signed).encode(), by=user,
                     today=today - timedelta(days=60))
    families = {c.ref: c for c in Customer.objects.filter(organisation=organisation)}
    this_month = today.replace(day=1)
    last_month = (this_month - timedelta(days=1)).replace(day=1)

    # Last month's canteen, issued 25 days ago with a 15-day delay: overdue unless paid.
    _invoice(families["F001"], canteen, [(meal, "16")], by=user, issued_on=today - timedelta(days=25),
             billing_period=last_month)
    _invoice(families["F002"], canteen, [(meal, "12"), (adult_meal, "1")], by=user,
             issued_on=today - timedelta(days=25), billing_period=last_month)
    _invoice(families["F003"], canteen, [(meal, "8")], by=user, issued_on=today - timedelta(days=6),
             billing_period=last_month)
    _invoice(families["F001"], after_school, [(childcare, "10"), (study, "4")], by=user,
             issued_on=today - timedelta(days=6), billing_period=last_month)
    # This month's, still drafts.
    _invoice(families["F004"], canteen, [(meal, "9")], by=user, issued_on=None, post=False,
             billing_period=this_month)
    _invoice(families["F005"], canteen, [(meal, "10")], by=user, issued_on=None, post=False,
             billing_period=this_month)
    return organisation
