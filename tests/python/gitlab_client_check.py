"""Drives the fake GitLab (tests/support/fake_gitlab.h) with Debian's python3-gitlab, the way the
GitLab CI provider uses GitLab: create a pipeline with variables, trigger one with a trigger token,
poll both to the end, list the failed jobs of a failed one, and cancel a stuck one.

Usage: /usr/bin/python3 gitlab_client_check.py <api_url> <project_path> <private_token>
                                                <trigger_token> <mode>
mode: "success" (pipeline + trigger to success), "failure" (the next pipeline fails), or
"cancel" (the pipeline is stuck and is canceled). Prints one line per fact the gtest asserts and
"GITLAB OK" at the end; any mismatch raises (non-zero exit).
"""
import sys
import time

import gitlab

API_SUFFIX = "/api/v4"


def wait_for_end(pipeline, deadline_s=30.0):
    """Polls the pipeline until it leaves created/pending/running."""
    deadline = time.monotonic() + deadline_s
    seen = []
    while True:
        pipeline.refresh()
        if not seen or seen[-1] != pipeline.status:
            seen.append(pipeline.status)
        if pipeline.status not in ("created", "pending", "running"):
            return seen
        if time.monotonic() > deadline:
            raise AssertionError(f"pipeline {pipeline.id} still {pipeline.status} after {deadline_s}s")
        time.sleep(0.02)


def main():
    api_url, project_path, private_token, trigger_token, mode = sys.argv[1:6]
    assert api_url.endswith(API_SUFFIX), api_url
    gl = gitlab.Gitlab(api_url[: -len(API_SUFFIX)], private_token=private_token, retry_transient_errors=False)
    # The project itself, read as shipmate doctor reads it (GET /projects/group%2Fsub%2Fapi).
    full = gl.projects.get(project_path)
    print(f"PROJECT {full.id} {full.path_with_namespace} default={full.default_branch}")
    assert full.path_with_namespace == project_path, full.path_with_namespace
    # lazy: no GET of the project itself; python-gitlab URL-encodes the path (group%2Fsub%2Fapi).
    project = gl.projects.get(project_path, lazy=True)

    pipeline = project.pipelines.create(
        {"ref": "main", "variables": [{"key": "VERSION", "value": "1.2.3"},
                                       {"key": "SHIPMATE_ID", "value": "py-1"}]})
    print(f"CREATED {pipeline.id} status={pipeline.status} ref={pipeline.ref}")
    if mode == "cancel":
        # A stuck pipeline goes from created to pending and stays there.
        pipeline = project.pipelines.get(pipeline.id)
        deadline = time.monotonic() + 30
        while pipeline.status == "created" and time.monotonic() < deadline:
            time.sleep(0.02)
            pipeline.refresh()
        print(f"BEFORE_CANCEL {pipeline.status}")
        pipeline.cancel()
        pipeline.refresh()
        print(f"CANCELED {pipeline.id} status={pipeline.status}")
        assert pipeline.status == "canceled", pipeline.status
        print("GITLAB OK")
        return
    seen = wait_for_end(pipeline)
    print(f"STATUSES {pipeline.id} {' '.join(seen)}")
    if mode == "failure":
        assert pipeline.status == "failed", pipeline.status
        failed = pipeline.jobs.list(scope=["failed"], get_all=True)
        for job in failed:
            print(f"FAILED_JOB name={job.name} stage={job.stage} reason={job.failure_reason}")
        assert failed, "no failed job listed for a failed pipeline"
        print("GITLAB OK")
        return
    assert pipeline.status == "success", pipeline.status

    triggered = project.trigger_pipeline("release", trigger_token, variables={"VERSION": "2.0.0"})
    print(f"TRIGGERED {triggered.id} status={triggered.status} ref={triggered.ref}")
    seen = wait_for_end(project.pipelines.get(triggered.id))
    print(f"TRIGGER_STATUSES {triggered.id} {' '.join(seen)}")
    assert seen[-1] == "success", seen

    # Errors come back as python-gitlab's exceptions with GitLab's status codes.
    try:
        project.pipelines.create({"ref": "no-such-ref"})
        raise AssertionError("an unknown ref was accepted")
    except gitlab.exceptions.GitlabCreateError as error:
        print(f"UNKNOWN_REF {error.response_code} {error.error_message}")
    try:
        gitlab.Gitlab(api_url[: -len(API_SUFFIX)], private_token="wrong").projects.get(
            project_path, lazy=True).pipelines.get(triggered.id)
        raise AssertionError("a wrong token was accepted")
    except gitlab.exceptions.GitlabAuthenticationError as error:
        print(f"WRONG_TOKEN {error.response_code}")
    print("GITLAB OK")


if __name__ == "__main__":
    main()
