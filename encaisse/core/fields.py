"""Database helpers shared by apps that keep posted, immutable rows."""

from typing import Any

from django.db import migrations


def refuse_changes_trigger(table: str, *, when: str = "TRUE") -> migrations.RunPython:
    """Return a migration step that makes PostgreSQL refuse UPDATE and DELETE on `table`.

    `when` narrows the refusal (e.g. only rows that were posted). SQLite gets no
    trigger: there the ORM's AppendOnlyModel and the services refuse.
    """
    fn = f"encaisse_refuse_{table}"
    create = f"""
        CREATE OR REPLACE FUNCTION {fn}() RETURNS trigger AS $$
        BEGIN
            IF {when} THEN
                RAISE EXCEPTION '%% on {table} refused: posted records are immutable', TG_OP
                    USING ERRCODE = 'integrity_constraint_violation';
            END IF;
            IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
            RETURN NEW;
        END $$ LANGUAGE plpgsql;
        CREATE TRIGGER {fn}_t BEFORE UPDATE OR DELETE ON {table}
            FOR EACH ROW EXECUTE FUNCTION {fn}();
    """
    drop = f"DROP TRIGGER IF EXISTS {fn}_t ON {table}; DROP FUNCTION IF EXISTS {fn}();"

    def forward(apps: Any, schema_editor: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(create)

    def backward(apps: Any, schema_editor: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(drop)

    return migrations.RunPython(forward, backward)
