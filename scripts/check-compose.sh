#!/usr/bin/env bash
# Checks that docker-compose.yml is accepted by `docker compose config`.
# No Docker engine runs on the development machines, but the compose CLI
# plugin parses the file without one; when the plugin is missing it is built
# from the Go module proxy (about a minute, then cached).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! docker compose version >/dev/null 2>&1; then
  command -v go >/dev/null || { echo "check-compose: go is missing (install Go 1.22+) to build the docker compose plugin"; exit 1; }
  echo "check-compose: building the docker compose CLI plugin (github.com/docker/compose/v2 v2.29.7)…"
  mkdir -p "$HOME/.docker/cli-plugins"
  GOBIN="$HOME/.docker/cli-plugins/.build" go install github.com/docker/compose/v2/cmd@v2.29.7
  mv "$HOME/.docker/cli-plugins/.build/cmd" "$HOME/.docker/cli-plugins/docker-compose"
fi
docker compose version
# every password comes from .env: without one the file must be refused, and with
# .env.example filled in (placeholders) it must be accepted
env_file=$(mktemp)
trap 'rm -f "$env_file"' EXIT
if docker compose --env-file /dev/null -f docker-compose.yml config -q 2>/dev/null; then
  echo "check-compose: docker-compose.yml was accepted without its passwords (.env)"; exit 1
fi
sed -E 's/^([A-Z_]+)=$/\1=check-compose-placeholder-0123456789/' .env.example >"$env_file"
docker compose --env-file "$env_file" -f docker-compose.yml config -q
echo "docker-compose.yml: accepted by docker compose config (with .env.example filled in), refused without it"
