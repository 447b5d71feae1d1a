"""LeadApp test suite."""
