# Sourced by the podman smoke scripts: what to do when ../shared/tools/docker-smoke.sh is absent.
# Outside this workplace that is a plain skip (exit 0) that says so; in CI (CI=true) it is a failure,
# so a pipeline cannot pass without having built and run the image.
skip_or_fail() { # $1 = script name, $2 = the missing tool
  if [ "${CI:-}" = true ]; then
    echo "$1: FAIL: $2 not found and CI=true: the image was not built or checked" >&2
    exit 1
  fi
  echo "$1: SKIPPED: $2 not found; the image was NOT built or checked (set DOCKER_SMOKE_TOOL to run it)" >&2
  exit 0
}
