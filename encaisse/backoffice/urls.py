"""Staff views beside the admin's own pages (statements, balances, outbox). Added as they are built."""

urlpatterns: list = []
