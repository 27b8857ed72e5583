"""Drives the fake Jenkins (tests/support/fake_jenkins.h) with Debian's python3-jenkins, the way
the Jenkins provider uses Jenkins: buildWithParameters (with a crumb when the fake demands one),
the queue item it answers with until it names a build, then the build until it has a result;
and stopping a running build.

Usage: /usr/bin/python3 jenkins_client_check.py <url> <user> <api_token> <job> <mode>
mode: "result" (follow one build to its result) or "stop" (stop the build while it runs).
Prints one line per fact the gtest asserts and "JENKINS OK" at the end; a mismatch raises.
"""
import sys
import time

import jenkins


def poll(what, fetch, done, deadline_s=30.0):
    deadline = time.monotonic() + deadline_s
    while True:
        value = fetch()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not done after {deadline_s}s: {value}")
        time.sleep(0.02)


def main():
    url, user, token, job, mode = sys.argv[1:6]
    server = jenkins.Jenkins(url, username=user, password=token, timeout=10)
    # The job read as shipmate doctor reads it (GET /job/a/job/b/api/json?tree=name), then whole.
    print(f"JOB_NAME {server.get_job_name(job)}")
    info = server.get_job_info(job)
    print(f"JOB {info['fullName']} next={info['nextBuildNumber']}")
    queue_id = server.build_job(job, parameters={"VERSION": "1.2.3", "SHIPMATE_ID": "py-1"})
    print(f"QUEUED {queue_id}")
    item = poll("queue item", lambda: server.get_queue_item(queue_id),
                lambda item: "executable" in item and item["executable"])
    number = item["executable"]["number"]
    print(f"EXECUTABLE {number} {item['executable']['url']}")
    if mode == "stop":
        info = poll("build start", lambda: server.get_build_info(job, number),
                    lambda info: info.get("building"))
        server.stop_build(job, number)
    info = poll("build", lambda: server.get_build_info(job, number),
                lambda info: not info.get("building") and info.get("result"))
    print(f"BUILD {info['number']} result={info['result']} url={info['url']}")
    try:
        server.build_job("no-such-job", parameters={"VERSION": "1"})
        raise AssertionError("an unknown job was accepted")
    except jenkins.NotFoundException as error:
        print(f"UNKNOWN_JOB {error}")
    print("JENKINS OK")


if __name__ == "__main__":
    main()
