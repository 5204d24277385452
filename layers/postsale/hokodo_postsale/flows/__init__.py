"""One module per flow: a shipment, a return, a cancellation, a document (and the documents bucket it reads)."""
