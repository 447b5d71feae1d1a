"""Services: the rules and the transactions, called by thin views and the CLI."""
