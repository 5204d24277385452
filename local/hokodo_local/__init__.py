"""Running the bundle without Docker: Lambda's event sources emulated over moto server and the Hokodo emulator.

    python -m hokodo_local demo    # the merchant scenario, printed; exits 0 (make demo)
    python -m hokodo_local serve   # the same stack kept running until Ctrl-C / SIGTERM (make local)
    options: --policy <FulfilmentPolicy> --moto-port N --emulator-port N --api-port N --log-level L
             (serve: --interval S --reconcile-every S)

Everything runs as threads of one process (moto's ThreadedMotoServer, the emulator's HTTP server, the local
HTTP API, one poller per queue and stream, the schedule), so stopping the process stops everything and frees its
ports. The command itself runs in a thread too: the main thread only waits, and on SIGINT/SIGTERM it halts the stack
(moto answers every request with an error that is not retried; the pollers, the HTTP API and the emulator stop),
gives the command a few seconds to unwind, and exits 130/143 (`make demo`/`make local` report that as success).

How the stack is made (stack.py), from template.yaml rather than from a list kept by hand:
0. The parameter overrides are checked as CloudFormation would (each parameter's constraints, then the
   template's Rules, e.g. OutOfOrderMaxReceives below MaxReceiveCount): moto's CloudFormation checks neither.
1. moto is reset (`POST /moto-api/reset`) and a placeholder zip is put in its S3.
2. The SAM template is translated with aws-sam-translator (no managed-policy look-up). Every
   CodeUri/ContentUri is pointed at the placeholder zip instead of `sam build` + `sam package`:
   moto never runs the code, the runner imports it from the CodeUri directory on disk.
3. moto's CloudFormation creates the stack with parameter overrides (HokodoBaseUrl = the emulator).
4. What it holds is read back from moto: queues (URL, ARN, redrive policy), the table and its stream, the bucket
   (its name is moto's), the bus and its rules, each function's resolved environment (get_function_configuration),
   the event source mappings (SQS and DynamoDB stream), which are then disabled: moto's would try to run the
   functions in Docker (and, for a stream, empty it; moto is also patched to honour a disabled stream mapping).
5. What moto's CloudFormation skips or ignores is done from the translated template through the services' APIs
   (stand_ins.py, with intrinsics.py to resolve !Ref/!GetAtt/!Sub): the secrets (the API key one holds the
   emulator's key; WebhookUrlSecret its SecretStringTemplate with a generated `current`), the queue policies, the
   bucket's versioning, public access block, ownership, lifecycle and notification to the documents queue (S3 then
   sends its test event there), the table's TTL and point-in-time recovery. Environment variables that refer to a
   secret (HOKODO_API_KEY_SECRET, WEBHOOK_SECRET) get its ARN. A rule of the local stack's own on the bus sends
   every event of the template's EventSource to a queue, to read back what was published (LocalStack.published).
6. What moto stores but never runs is run by the runner (runner.py): the functions' HttpApi routes, read from the
   template, are served by a local HTTP API (http_api.py; a wrong secret gets API Gateway's 404); the ScheduleV2
   schedules (their expression and Input) run on demand (Runner.run_schedule: the demo) or every
   `--reconcile-every` seconds (`serve`). Only the alarms (no metrics) and the TLS-only bucket policy (the local
   endpoints are plain HTTP) are not emulated: Stack.not_emulated lists them, Stack.stood_in_for the rest.
7. Each function's AWS calls (and its event source mapping's) are evaluated against its own role as the translated
   template gives it, before they reach moto (iam.py: moto's own IAM enforcement cannot read those roles); a denied
   call fails its invocation with AccessDenied, naming the function, the action, the resource and why.

Local differences from AWS, on purpose:
- source queues get VisibilityTimeout 2 s (template: 200 s), so a redelivery shows while you watch;
- one invocation at a time in the process (no MaximumConcurrency: os.environ holds the running function's
  environment) and no batching window; a failed stream batch is retried at once, without bisecting;
- the HTTP API has no throttling, and a schedule runs every few seconds rather than by its expression;
- `demo` passes LogLevel=ERROR, disables the EMF metric lines and discards what the functions print, to keep its
  output readable.

Modules: template.py (read/translate template.yaml), stack.py (moto server + the stack), intrinsics.py and
stand_ins.py (what moto's CloudFormation skips), runner.py (handlers loaded fresh with their environment,
pollers, routes, schedules), local_stack.py (all of it started and stopped together), scenario.py (the demo),
serve.py, report.py (printing), sqs_event_source.py, stream_event_source.py, http_api.py and lambda_context.py
(Lambda's SQS and DynamoDB stream event sources, API Gateway's HTTP API, the Lambda context; also used by tests),
iam.py (each call evaluated against its function's role).
"""
