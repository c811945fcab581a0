// aws-cdk-lib's own Provider framework runtime (custom-resources/lib/provider-framework/runtime/framework.js),
// driven as its waiter state machine drives it: onEvent, then the isComplete task with
// `Retry: [{ErrorEquals: ["States.ALL"], IntervalSeconds, MaxAttempts}]` and `Catch: States.ALL -> onTimeout`
// (waiter-state-machine.js). Only the framework's outbound calls are replaced (outbound.js: the Lambda invoke,
// the Step Functions start and the ResponseURL PUT); everything the framework decides is its own code.
//
// Usage: node provider_framework.js <runtime dir> <interval ms> <max attempts> < requests
// Protocol (one JSON object per line): stdout `{"invoke": payload}` is answered on stdin by
// `{"payload": ..., "error": bool}` (the user function's result, or its error as Lambda returns it);
// the last stdout line is `{"done": {"polls": n, "timedOut": bool}}`. The framework's own log goes to stderr.
'use strict';
const http = require('http');
const path = require('path');
const readline = require('readline');
const Module = require('module');

const [runtime, intervalMs, maxAttempts] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
console.log = (...args) => console.error(...args);
const send = (message) => process.stdout.write(JSON.stringify(message) + '\n');

const lines = readline.createInterface({ input: process.stdin });
const waiting = [];
const queued = [];
lines.on('line', (line) => (waiting.length ? waiting.shift()(JSON.parse(line)) : queued.push(JSON.parse(line))));
const next = () => new Promise((resolve) => (queued.length ? resolve(queued.shift()) : waiting.push(resolve)));

let responseUrl;
let execution;
const outbound = path.join(runtime, 'outbound.js');
const fake = new Module(outbound);
fake.filename = outbound;
fake.loaded = true;
fake.exports = {
  async invokeFunction(req) {
    send({ invoke: JSON.parse(req.Payload) });
    const answer = await next();
    return { Payload: Buffer.from(JSON.stringify(answer.payload)), FunctionError: answer.error ? 'Unhandled' : undefined };
  },
  async startExecution(req) {
    execution = JSON.parse(req.input);
    return {};
  },
  // The framework gives hostname and path only (its own is https on 443); the receiver's port is the URL's.
  httpRequest(options, body) {
    return new Promise((resolve, reject) => {
      const request = http.request({ ...options, port: new URL(responseUrl).port }, (response) => {
        response.resume();
        response.statusCode >= 400 ? reject(new Error(`Unsuccessful HTTP response: ${response.statusCode}`)) : resolve();
      });
      request.on('error', reject);
      request.end(body);
    });
  },
};
require.cache[outbound] = fake;
process.env.USER_ON_EVENT_FUNCTION_ARN = 'arn:aws:lambda:us-east-1:123456789012:function:cfn-sagemaker-autoscaling';
process.env.USER_IS_COMPLETE_FUNCTION_ARN = process.env.USER_ON_EVENT_FUNCTION_ARN;
process.env.WAITER_STATE_MACHINE_ARN = 'arn:aws:states:us-east-1:123456789012:stateMachine:waiter';
const framework = require(path.join(runtime, 'framework.js'));

async function main() {
  const event = (await next()).event;
  responseUrl = event.ResponseURL;
  await framework.onEvent(event);
  let polls = 0;
  let failure;
  if (execution) {
    // Step Functions: the first attempt, then MaxAttempts retries of any error, then the Catch.
    for (let attempt = 0; attempt <= maxAttempts; attempt++) {
      polls++;
      try {
        await framework.isComplete(execution);
        failure = undefined;
        break;
      } catch (e) {
        failure = e;
        await new Promise((resolve) => setTimeout(resolve, intervalMs));
      }
    }
    if (failure) {
      await framework.onTimeout({ Error: failure.name, Cause: JSON.stringify({ errorMessage: failure.message }) });
    }
  }
  send({ done: { polls, timedOut: failure !== undefined } });
  process.exit(0);
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
