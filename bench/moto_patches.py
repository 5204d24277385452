"""What the bench changes in its moto server process, and why: only where moto's cost has nothing to do with AWS's.

moto's SendMessage reads the queue's ContentBasedDeduplication through `Queue.attributes`, which computes every
attribute of the queue, the approximate message counts too, by walking all its messages: each message sent costs
O(messages in the queue). The reconciliation's run puts 1,000 messages on the sync queue (12 s on moto, most of it
that walk), and PutEvents delivers every fact to the bench's rule queue. The patch reads the one attribute directly.
"""

from __future__ import annotations

import inspect
import textwrap

_SLOW = 'queue.attributes.get("ContentBasedDeduplication") == "true"'
_FAST = '(queue.fifo_queue and str(getattr(queue, "content_based_deduplication", "")).lower() == "true")'


def apply() -> bool:
    """Patch moto's SQSBackend.send_message; False when this moto's source differs (then nothing is changed)."""
    from moto.sqs import models

    source = textwrap.dedent(inspect.getsource(models.SQSBackend.send_message))
    if _SLOW not in source:
        return False
    namespace: dict = {}
    exec(compile(source.replace(_SLOW, _FAST), models.__file__, "exec"), models.__dict__, namespace)  # noqa: S102
    models.SQSBackend.send_message = namespace["send_message"]
    return True
