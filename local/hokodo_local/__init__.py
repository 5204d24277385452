"""Running the bundle without Docker: Lambda's event sources emulated over moto server and the Hokodo emulator.

    python -m hokodo_local demo    # the merchant scenario, printed; exits 0 (make demo)
    python -m hokodo_local serve   # the same stack kept running until Ctrl-C / SIGTERM (make local)
    options: --policy <FulfilmentPolicy> --moto-port N --emulator-port N --log-level L (serve: --interval S)

Everything runs as threads of one process (moto's ThreadedMotoServer, the emulator's HTTP server,
one poller per queue), so stopping the process stops everything and frees its ports. The command
itself runs in a thread too: the main thread only waits, and on SIGINT/SIGTERM it halts the stack
(moto answers every request with an error that is not retried, the pollers and the emulator stop), gives
the command a few seconds to unwind, and exits 130/143 (`make demo`/`make local` report that as success).

How the stack is made (stack.py), from template.yaml rather than from a list kept by hand:
0. The parameter overrides are checked as CloudFormation would (each parameter's constraints, then the
   template's Rules, e.g. OutOfOrderMaxReceives below MaxReceiveCount): moto's CloudFormation checks neither.
1. moto is reset (`POST /moto-api/reset`) and a placeholder zip is put in its S3.
2. The SAM template is translated with aws-sam-translator (no managed-policy look-up). Every
   CodeUri/ContentUri is pointed at the placeholder zip instead of `sam build` + `sam package`:
   moto never runs the code, the runner imports it from the CodeUri directory on disk.
3. moto's CloudFormation creates the stack with parameter overrides (HokodoBaseUrl = the emulator).
4. Queues (URL, ARN, redrive policy), the table, each function's resolved environment
   (get_function_configuration) and the event source mappings are read back from moto; the mappings
   are then disabled (moto's would try to run the functions in Docker).
5. What moto's CloudFormation skips is read from the template instead: the API key secret is created
   through the Secrets Manager API (holding the emulator's key) and its ARN put in
   HOKODO_API_KEY_SECRET; alarms are listed as not emulated.

Local differences from AWS, on purpose:
- source queues get VisibilityTimeout 2 s (template: 200 s), so a redelivery shows while you watch;
- one invocation at a time per queue (no MaximumConcurrency) and no batching window;
- `demo` passes LogLevel=ERROR and disables the EMF metric lines, to keep its output readable.

Modules: template.py (read/translate template.yaml), stack.py (moto server + the stack),
runner.py (handlers loaded fresh with their environment, pollers), local_stack.py (all of it
started and stopped together), scenario.py (the demo), serve.py, report.py (printing),
sqs_event_source.py and lambda_context.py (Lambda's SQS event source and context, also used by tests).
"""
