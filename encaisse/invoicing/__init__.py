"""Invoice types, régies, number series, products, invoices and credit notes."""
