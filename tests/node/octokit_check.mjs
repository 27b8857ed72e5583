// Runs GitHub's official client (@octokit/rest) against Shipmate's fake GitHub and checks the
// shapes it sees: a workflow dispatch with run details, run listing and reading (with an ETag),
// jobs, a deployment and its status, and the error answers.
//
// Usage: node octokit_check.mjs <base url> <token> <owner> <repo>
// The fake is started by the gtest with runs that complete at once and the next run planned to
// fail in job "deploy" at step "Deploy". Prints "RUN <id>" and, when every check passed,
// "OCTOKIT OK"; exits non-zero on the first failed check.
import assert from "node:assert/strict";
import { Octokit } from "@octokit/rest";

const [baseUrl, token, owner, repo] = process.argv.slice(2);
const octokit = new Octokit({ auth: token, baseUrl, userAgent: "shipmate-octokit-check" });
const iso = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

async function rejects(promise, status, text) {
  try {
    await promise;
  } catch (error) {
    assert.equal(error.status, status, `expected ${status}, got ${error.status}: ${error.message}`);
    if (text) assert.ok(error.message.includes(text), error.message);
    return error;
  }
  assert.fail(`expected a ${status} error`);
}

const since = new Date(Date.now() - 60_000).toISOString().replace(/\.\d{3}Z$/, "Z");

// Dispatch, asking for the run (GitHub, 2026-02).
const dispatched = await octokit.rest.actions.createWorkflowDispatch({
  owner,
  repo,
  workflow_id: "deploy.yml",
  ref: "main",
  inputs: { version: "v1.2.3", environment: "staging", shipmate_id: "octokit-1" },
  return_run_details: true,
});
assert.equal(dispatched.status, 200);
const runId = dispatched.data.workflow_run_id;
assert.equal(typeof runId, "number");
assert.equal(dispatched.data.html_url, `https://github.com/${owner}/${repo}/actions/runs/${runId}`);
assert.equal(dispatched.data.run_url, `${baseUrl}/repos/${owner}/${repo}/actions/runs/${runId}`);
console.log(`RUN ${runId}`);

// List the workflow's dispatched runs since a minute ago.
const listed = await octokit.rest.actions.listWorkflowRuns({
  owner,
  repo,
  workflow_id: "deploy.yml",
  event: "workflow_dispatch",
  created: `>=${since}`,
  per_page: 100,
});
assert.equal(listed.status, 200);
assert.equal(listed.data.total_count, 1);
const listedRun = listed.data.workflow_runs[0];
assert.equal(listedRun.id, runId);
assert.ok(listedRun.display_title.includes("octokit-1"), listedRun.display_title);
assert.equal(listedRun.event, "workflow_dispatch");
assert.equal(listedRun.head_branch, "main");
assert.equal(listedRun.run_number, 1);
assert.match(listedRun.created_at, iso);
const later = await octokit.rest.actions.listWorkflowRuns({
  owner,
  repo,
  workflow_id: "deploy.yml",
  created: `>=${new Date(Date.now() + 3_600_000).toISOString().replace(/\.\d{3}Z$/, "Z")}`,
});
assert.equal(later.data.total_count, 0);

// Read the run; then again with its ETag, which octokit surfaces as a 304 error.
const run = await octokit.rest.actions.getWorkflowRun({ owner, repo, run_id: runId });
assert.equal(run.status, 200);
assert.equal(run.data.status, "completed");
assert.equal(run.data.conclusion, "failure");
assert.equal(run.data.name, "Deploy");
assert.equal(run.data.path, ".github/workflows/deploy.yml");
assert.equal(typeof run.data.workflow_id, "number");
assert.equal(run.data.repository.full_name, `${owner}/${repo}`);
assert.match(run.data.updated_at, iso);
const etag = run.headers.etag;
assert.ok(etag && etag.startsWith('W/"'), `etag: ${etag}`);
assert.ok(Number(run.headers["x-ratelimit-remaining"]) < 5000);
await rejects(
  octokit.request("GET /repos/{owner}/{repo}/actions/runs/{run_id}", {
    owner,
    repo,
    run_id: runId,
    headers: { "if-none-match": etag },
  }),
  304,
);

// Jobs: the failed one and its failed step.
const jobs = await octokit.rest.actions.listJobsForWorkflowRun({ owner, repo, run_id: runId });
assert.equal(jobs.data.total_count, 1);
const job = jobs.data.jobs[0];
assert.equal(job.run_id, runId);
assert.equal(job.name, "deploy");
assert.equal(job.status, "completed");
assert.equal(job.conclusion, "failure");
const failedStep = job.steps.find((step) => step.conclusion === "failure");
assert.equal(failedStep.name, "Deploy");
assert.equal(typeof failedStep.number, "number");

// A deployment and its status.
const deployment = await octokit.rest.repos.createDeployment({
  owner,
  repo,
  ref: "main",
  environment: "staging",
  description: "octokit check",
  auto_merge: false,
  required_contexts: [],
  payload: { shipmate_deploy_id: "7" },
});
assert.equal(deployment.status, 201);
assert.equal(typeof deployment.data.id, "number");
assert.equal(deployment.data.payload.shipmate_deploy_id, "7");
assert.equal(deployment.data.environment, "staging");
assert.equal(deployment.data.sha.length, 40);
const status = await octokit.rest.repos.createDeploymentStatus({
  owner,
  repo,
  deployment_id: deployment.data.id,
  state: "success",
  log_url: "https://chat.example/deploys/7",
  environment_url: "https://staging.example",
  description: "deployed",
});
assert.equal(status.status, 201);
assert.equal(status.data.state, "success");
assert.equal(status.data.target_url, "https://chat.example/deploys/7");
assert.equal(status.data.environment_url, "https://staging.example");
const deployments = await octokit.rest.repos.listDeployments({ owner, repo, environment: "staging" });
assert.deepEqual(
  deployments.data.map((d) => d.id),
  [deployment.data.id],
);
const statuses = await octokit.rest.repos.listDeploymentStatuses({
  owner,
  repo,
  deployment_id: deployment.data.id,
});
assert.deepEqual(
  statuses.data.map((s) => s.state),
  ["success"],
);
await rejects(
  octokit.rest.repos.createDeploymentStatus({
    owner,
    repo,
    deployment_id: deployment.data.id,
    state: "done",
  }),
  422,
  "Validation Failed",
);

// Errors as GitHub words them.
await rejects(octokit.rest.actions.getWorkflowRun({ owner, repo, run_id: 1 }), 404, "Not Found");
await rejects(
  octokit.rest.actions.createWorkflowDispatch({
    owner,
    repo,
    workflow_id: "deploy.yml",
    ref: "main",
    inputs: { colour: "blue" },
  }),
  422,
  'Unexpected inputs provided: ["colour"]',
);
await rejects(
  octokit.rest.actions.createWorkflowDispatch({ owner, repo, workflow_id: "nope.yml", ref: "main" }),
  404,
  "Not Found",
);
const stranger = new Octokit({ auth: "ghp_notTheRightToken", baseUrl });
await rejects(stranger.rest.actions.getWorkflowRun({ owner, repo, run_id: runId }), 401, "Bad credentials");

console.log("OCTOKIT OK");
