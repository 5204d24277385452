"""What upstream systems send: the shipment, return and cancellation messages (`messages`), document drops and their
object metadata (`document_drops`), read strictly (`strict_json`)."""
