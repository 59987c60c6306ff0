# Sourced by the smoke scripts: which container engine builds and runs the image.
#
# choose_engine NAME sets ENGINE: CONTAINER_ENGINE when set; with DOCKER_SMOKE_TOOL, podman
# (the tool builds and runs with podman); else docker when a Docker daemon answers, else
# podman. With none of them it fails, printing why (Docker's own error included).
choose_engine() { # $1 = the calling script's name, for messages
  if [ -n "${DOCKER_SMOKE_TOOL:-}" ]; then
    if [ ! -f "$DOCKER_SMOKE_TOOL" ]; then
      echo "$1: FAIL: DOCKER_SMOKE_TOOL=$DOCKER_SMOKE_TOOL is not a file" >&2
      exit 1
    fi
    ENGINE=podman
  elif [ -n "${CONTAINER_ENGINE:-}" ]; then
    ENGINE=$CONTAINER_ENGINE
  elif command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
    ENGINE=docker
  elif command -v podman >/dev/null 2>&1; then
    ENGINE=podman
  else
    local why="docker is not installed"
    if command -v docker >/dev/null 2>&1; then
      why="docker: $(docker info 2>&1 >/dev/null | grep -v '^$' | tail -n 1 || true)"
    fi
    echo "$1: FAIL: no container engine to build the image with: $why; podman is not installed" >&2
    exit 1
  fi
  echo "$1: container engine: $ENGINE"
}
