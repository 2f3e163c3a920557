"""TankerWatch: satellite imagery of ports to an auditable ledger of oil deliveries."""

__version__ = "0.1.0"
