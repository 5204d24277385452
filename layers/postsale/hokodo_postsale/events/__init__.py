"""The event path: what Hokodo did, on the merchant's bus. Hokodo's notifications (`notifications`, `webhooks`), the
deferred payment synced to facts (`sync`, `facts`), the facts' catalogue (`catalogue`) and bus (`bus`), the
reconciliation (`reconciliation`) and the record of what the bundle applied (`tracking`)."""
