"""A partner ready to import (a dry cleaner with three services), its customers, and files in memory."""

from collections.abc import Iterable
from decimal import Decimal
from io import BytesIO
from typing import Any

from encaisse.invoicing.models import InvoiceType, Product, VatRate
from encaisse.parties.models import Customer, Organisation
from encaisse.usage.models import Partner, ServiceMapping

# The partner's service code → (product label, catalogue price excl. VAT).
SERVICES = {
    "CHEM": ("Chemise repassée", "3.50"),
    "COST": ("Costume nettoyé", "12.00"),
    "DRAP": ("Drap lavé", "4.25"),
}

# The columns of the files below, by the header names the partner uses.
FRENCH_COLUMNS = {"customer": "N° client", "service": "Prestation", "quantity": "Quantité",
                  "unit_price": "Prix unitaire", "date": "Date", "label": "Libellé", "comment": "Commentaire"}
HEADER = "N° client;Prestation;Quantité;Prix unitaire;Date;Libellé;Commentaire"


def partner_with_mappings(
    org: Organisation, *, code: str = "pressing", services: dict[str, tuple[str, str]] | None = None,
    **fields: Any,
) -> Partner:
    """A partner whose format is declared and confirmed: `;`, decimal comma, dd/mm/YYYY, French headers."""
    values: dict[str, Any] = {
        "name": f"Partner {code}",
        "invoice_type": InvoiceType.objects.get(organisation=org, code="STANDARD"),
        "format_confirmed": True,
        "file_kind": "csv",
        "encoding": "utf-8",
        "separator": ";",
        "decimal_comma": True,
        "date_format": "%d/%m/%Y",
        "has_header": True,
        "columns": dict(FRENCH_COLUMNS),
        **fields,
    }
    partner = Partner.objects.create(organisation=org, code=code, **values)
    rate = VatRate.objects.get(organisation=org, code="FR20")
    revenue = org.accounts.get(code="706")
    for service_code, (label, price) in (SERVICES if services is None else services).items():
        product, _ = Product.objects.get_or_create(
            organisation=org, code=f"{code}-{service_code}",
            defaults={"label": label, "unit_price": Decimal(price), "vat_rate": rate, "revenue_account": revenue})
        ServiceMapping.objects.create(partner=partner, service_code=service_code, product=product)
    return partner


def customers(org: Organisation, *refs: str) -> list[Customer]:
    return Customer.objects.bulk_create(Customer(organisation=org, ref=ref, name=f"Client {ref}") for ref in refs)


def usage_file(*lines: str, header: str | None = HEADER, newline: str = "\n", encoding: str = "utf-8") -> BytesIO:
    """A CSV file in memory: the header (unless None) then the lines, each ended by `newline`."""
    rows: Iterable[str] = [header, *lines] if header is not None else lines
    return BytesIO("".join(f"{row}{newline}" for row in rows).encode(encoding))


def detected_partner(org: Organisation, code: str = "lavande", name: str | None = None) -> Partner:
    """A dry cleaner billing shirts (CHEM, 4.50) and trousers (PANT, 8.00); its format is left to detection."""
    rate = VatRate.objects.get(organisation=org, code="FR20")
    revenue = org.accounts.get(code="706")
    partner = Partner.objects.create(organisation=org, code=code, name=name or f"Pressing {code.title()}",
                                     invoice_type=InvoiceType.objects.get(organisation=org, code="STANDARD"))
    for service, label, price in (("CHEM", "Chemise", "4.50"), ("PANT", "Pantalon", "8.00")):
        product, _created = Product.objects.get_or_create(
            organisation=org, code=service,
            defaults={"label": label, "unit_price": Decimal(price), "vat_rate": rate, "revenue_account": revenue})
        ServiceMapping.objects.create(partner=partner, service_code=service, product=product)
    return partner
