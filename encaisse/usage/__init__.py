"""Partner usage files turned into monthly draft invoices: formats, imports, row-level reports."""
