"""`python -m hokodo_local serve` prints commands to use the running stack by hand: each one, run exactly as printed
from the repository's root in another shell, does what it says (the AWS CLI ones when `aws` is installed), and none
has a placeholder to fill in. The terminal gets a line per Lambda invocation; what the functions print goes to the
log file it names."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time

import boto3
import pytest
from cli_support import ROOT, Cli

AWS_CLI = shutil.which("aws")


@pytest.fixture(scope="module")
def serve():
    cli = Cli("serve", "--reconcile-every", "0")
    cli.wait_for(r"^== Deliveries")
    yield cli, "".join(cli.output)
    cli.stop(signal.SIGINT)


def shell(command: str, env: dict[str, str] | None = None) -> str:
    run = {"cwd": ROOT, "env": {**os.environ, **(env or {})}, "capture_output": True, "text": True, "timeout": 60}
    done = subprocess.run(["bash", "-c", command], check=False, **run)
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


def eventually(command: str, check, timeout: float = 20.0, accumulate: bool = False, env: dict | None = None) -> str:
    """Run the command until `check` holds for its output (or, with `accumulate`, for all its outputs so far)."""
    deadline, outputs = time.monotonic() + timeout, ""
    while True:
        output = shell(command, env)
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


def test_no_command_is_printed_with_a_placeholder(serve):
    _, text = serve
    commands = [line for line in text.splitlines() if re.search(r"\b(curl|aws|make) ", line)]
    assert len(commands) >= 10
    for line in commands:
        assert "<" not in line.replace("<<'EOF'", ""), line  # bash would read `<DLQ url>` as a redirection


def test_the_dead_letter_commands_run_as_printed(serve):
    cli, text = serve
    moto = json.loads((cli.state / "endpoints.json").read_text())["moto"]
    queue = re.search(r"^   ShipmentsQueue +(http\S+)$", text, re.MULTILINE).group(1)
    sqs = boto3.client("sqs", endpoint_url=moto, region_name="eu-west-1", aws_access_key_id="k", aws_secret_access_key="s")
    body = {"event_id": "ship-unknown-1", "deferred_payment_id": "defpay-NotOnHokodo00000000000001", "amount": 100}
    sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(body))
    reason = "reason: Hokodo capture failed with 404"
    eventually(labelled(text, "one DLQ's messages"), lambda out: reason in out, env=cli.env)
    listed = shell(labelled(text, "the DLQs and their messages"), cli.env)
    assert re.search(r"^  shipments +ShipmentsDeadLetterQueue +1 message\(s\)", listed, re.MULTILINE), listed
    if AWS_CLI is not None:
        assert "ship-unknown-1" in shell(labelled(text, "with the AWS CLI"), cli.env)  # read, left visible
    assert "moved 1 message(s)" in shell(labelled(text, "back to its queue (redrive)"), cli.env)


def test_the_runbooks_emulator_placeholder_is_the_printed_bare_host(serve):
    _, text = serve
    emulator = re.search(r"^   <emulator> +(http://\S+)", text, re.MULTILINE).group(1)
    dp = re.search(r"created in the emulator\): (defpay-\w+)", text).group(1)
    runbook = (ROOT / "docs" / "runbook.md").read_text()
    row = next(line for line in runbook.splitlines() if line.startswith("| see it applied once"))
    command = re.search(r"`(curl -s <emulator>/_admin/deferred_payments/defpay-…)`", row).group(1)
    assert json.loads(shell(command.replace("<emulator>", emulator).replace("defpay-…", dp)))["id"] == dp


def test_the_terminal_has_a_line_per_invocation_and_the_functions_output_goes_to_the_log_file(serve):
    cli, text = serve
    log = ROOT / labelled(text, "the functions' logs").split()[2]  # `tail -f <path>`: relative to the root, or absolute
    shell(printed(text, "notify by hand"))
    cli.wait_for(r"Lambda WebhooksFunction: POST /webhooks/hokodo/\{secret\} -> 202")
    output = "".join(cli.output)
    deliveries = output[output.index("== Deliveries") :].splitlines()[1:]
    assert deliveries and all(line.startswith("   Lambda ") for line in deliveries), deliveries
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert any(line.get("message") == "batch done" for line in lines)  # Powertools' log lines
    assert any("_aws" in line and "Webhook2xx" in line for line in lines)  # the EMF metric blobs
