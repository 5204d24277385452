"""The event path: what happened to each deferred payment, on the merchant's bus. Hokodo's notifications
(`notifications`, `webhooks`), the sync queue (`sync_requests`: what goes on it; `sync_queue`: its function), the
deferred payment synced to facts (`sync`, its `watermark`, `facts` from the ledger totals), the facts' catalogue
(`catalogue`) and bus (`bus`), the reconciliation (`reconciliation`) and the record of what the bundle applied
(`tracking`)."""
