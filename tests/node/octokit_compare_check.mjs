// Runs GitHub's official client (@octokit/rest) against Shipmate's fake GitHub for the commit
// endpoints release notes use: get a commit by ref, and compare two refs page by page (octokit's
// own paginate() following the Link header), checking the shapes it reads.
//
// Usage: node octokit_compare_check.mjs <base url> <token> <owner> <repo> <base> <head>
//            <head sha> <comma-separated shas of base..head as git log lists them>
// Prints "OCTOKIT COMPARE OK" when every check passed; exits non-zero on the first failure.
import assert from "node:assert/strict";
import { Octokit } from "@octokit/rest";

const [baseUrl, token, owner, repo, base, head, headSha, expected] = process.argv.slice(2);
const octokit = new Octokit({ auth: token, baseUrl, userAgent: "shipmate-octokit-compare" });
const want = expected.split(",");

const commit = await octokit.rest.repos.getCommit({ owner, repo, ref: head });
assert.equal(commit.status, 200);
assert.equal(commit.data.sha, headSha);
assert.equal(typeof commit.data.commit.message, "string");
assert.ok(Array.isArray(commit.data.parents));
assert.ok(Array.isArray(commit.data.files));

// One call without pagination: GitHub's first 250 commits and the totals.
const whole = await octokit.rest.repos.compareCommitsWithBasehead({
  owner, repo, basehead: `${base}...${head}`,
});
assert.equal(whole.data.status, "ahead");
assert.equal(whole.data.total_commits, want.length);
assert.equal(whole.data.ahead_by, want.length);
assert.equal(whole.data.commits.length, want.length);

// Page by page, as Shipmate reads it, through octokit's paginate (the Link header).
const pages = [];
for await (const response of octokit.paginate.iterator(
  octokit.rest.repos.compareCommitsWithBasehead,
  { owner, repo, basehead: `${base}...${head}`, per_page: 3 },
)) {
  pages.push(response.data);
}
assert.ok(pages.length >= 2, `expected several pages, got ${pages.length}`);
const listed = pages.flatMap((page) => (Array.isArray(page) ? page : page.commits ?? []));
assert.deepEqual(new Set(listed.map((c) => c.sha)), new Set(want));
assert.equal(listed.length, want.length);
for (const c of listed) {
  assert.equal(typeof c.commit.author.name, "string");
  assert.ok(Array.isArray(c.parents));
}

// An unknown ref answers 422 on /commits and 404 on /compare, as GitHub does.
await assert.rejects(octokit.rest.repos.getCommit({ owner, repo, ref: "no-such-ref" }),
  (e) => e.status === 422);
await assert.rejects(octokit.rest.repos.compareCommitsWithBasehead({
  owner, repo, basehead: `${base}...no-such-ref`,
}), (e) => e.status === 404);
console.log("OCTOKIT COMPARE OK");
