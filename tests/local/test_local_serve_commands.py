"""`python -m hokodo_local serve` prints commands to use the running stack by hand: each one, run exactly as printed
from the repository's root in another shell, does what it says (the AWS CLI ones when `aws` is installed)."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import time

import pytest
from cli_support import ROOT, Cli

AWS_CLI = shutil.which("aws")


@pytest.fixture(scope="module")
def serve():
    cli = Cli("serve", "--reconcile-every", "0")
    cli.wait_for(r"^== Deliveries")
    yield cli, "".join(cli.output)
    cli.stop(signal.SIGINT)


def shell(command: str) -> str:
    done = subprocess.run(["bash", "-c", command], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def printed(text: str, after: str, starting: str = "   ") -> str:
    """The first command line printed after the line containing `after`."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if after in line)
    return next(line for line in lines[start + 1 :] if line.startswith(starting) and ("curl " in line or " aws " in line)).strip()


def labelled(text: str, label: str) -> str:
    """A `label: command` line's command."""
    line = next(line for line in text.splitlines() if line.strip().startswith(label))
    return line.split(":", 1)[1].strip()


def eventually(command: str, check, timeout: float = 20.0, accumulate: bool = False) -> str:
    """Run the command until `check` holds for its output (or, with `accumulate`, for all its outputs so far)."""
    deadline, outputs = time.monotonic() + timeout, ""
    while True:
        output = shell(command)
        outputs = outputs + output if accumulate else output
        if check(outputs):
            return outputs
        assert time.monotonic() < deadline, f"{command} never gave what was expected; last:\n{outputs}"
        time.sleep(0.2)


def test_the_sample_deferred_payment_and_the_notification_url_work_as_printed(serve):
    _, text = serve
    dp = re.search(r"created in the emulator\): (defpay-\w+), order (order-\w+)", text)
    assert dp, text
    another = json.loads(shell(printed(text, "another one")))
    assert another["id"].startswith("defpay-") and another["id"] != dp.group(1)
    notified = json.loads(shell(printed(text, "notify by hand")))
    assert notified == {"message": "Accepted"}  # the webhooks function queued it (a wrong secret gets {"message": "Not Found"})
    ledger = labelled(text, "the ledger:")
    assert json.loads(shell(ledger))["id"] == dp.group(1)


def test_the_boto3_snippet_runs_as_printed_and_the_shipment_is_captured(serve):
    _, text = serve
    snippet = re.search(r"^(\.venv/bin/python - <<'EOF'\n.*?\nEOF)$", text, re.MULTILINE | re.DOTALL)
    assert snippet, text
    assert re.fullmatch(r"[0-9a-f-]{36}\n", shell(snippet.group(1)))  # the message id
    eventually(labelled(text, "the ledger:"), lambda out: json.loads(out)["protected_captures"] == 40_000)


@pytest.mark.skipif(AWS_CLI is None, reason="the AWS CLI is not installed")
def test_the_aws_cli_commands_run_as_printed(serve):
    _, text = serve
    message = json.loads(shell(printed(text, "Send a message: AWS CLI")))
    assert message["MessageId"]
    lines = text.splitlines()
    drop = next(i for i, line in enumerate(lines) if "Drop an invoice" in line)
    shell(lines[drop + 1].strip())  # printf: the PDF
    shell(lines[drop + 2].strip())  # aws s3 cp with metadata
    payout_items = labelled(text, "its payout items (awaiting_document until an invoice)")
    eventually(payout_items, lambda out: {i["status"] for i in json.loads(out)} == {"payable"})
    shell(labelled(text, "expire authorisations"))  # the sample deferred payment's rest expires: Hokodo notifies
    read = printed(text, "Read what was published")  # (each read hides what it got for 30 s: the queue's visibility timeout)
    eventually(read, lambda out: "Deferred Payment Expired" in out and "Deferred Payment Captured" in out, accumulate=True)
