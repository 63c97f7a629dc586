// Help texts live apart from the commands so that `--help` and `--version` load nothing else.

const SIDECAR_FLAGS = `  --config FILE            tandem.yaml (or .json) to load; default: $TANDEM_CONFIG, else none
  --listen ADDRESS         API listener: HOST:PORT or unix:/path.sock (created 0600)
                           default 127.0.0.1:4600
  --admin ADDRESS          admin listener (/healthz /readyz /metrics /v1/shutdown)
                           default 127.0.0.1:4601
  --token-file FILE        read the bearer token from FILE; default: $TANDEM_TOKEN
  --allow-non-loopback     allow listening beyond loopback (requires a token)
  --drain-timeout DURATION how long in-flight requests may finish on shutdown; default 10s
  --max-body SIZE          largest request body accepted; default 1mb
  --headers-timeout DURATION
                           time a client has to send its request headers; default 10s
  --request-timeout DURATION
                           time a client has to send its whole request, body included;
                           default 60s
  --max-connections N      connections per listener; more are closed at once; default 1024
  -h, --help               show this help`;

export const MAIN_HELP = `tandem: resilience, observability and configuration for Node services,
in-process (library mode) or in a sidecar (sidecar mode).

Usage:
  tandem sidecar [flags]              run the sidecar in the foreground
  tandem run [flags] -- COMMAND...    run COMMAND with a sidecar next to it
  tandem config [--config FILE]       check a config file and print it, secrets redacted
  tandem --help | --version

Run 'tandem COMMAND --help' for a command's flags.
Environment: TANDEM_CONFIG, TANDEM_TOKEN, TANDEM_LOG_LEVEL (and, for apps, TANDEM_MODE,
TANDEM_SIDECAR, TANDEM_SIDECAR_REQUIRED).`;

export const SIDECAR_HELP = `Usage: tandem sidecar [flags]

Runs the sidecar in the foreground until SIGTERM, SIGINT or POST /v1/shutdown, then drains
in-flight requests and exits 0. A second signal exits at once.

Flags:
${SIDECAR_FLAGS}`;

export const RUN_HELP = `Usage: tandem run [flags] -- COMMAND [ARGS...]

Starts the sidecar, waits until it is ready, then starts COMMAND with TANDEM_MODE=sidecar,
TANDEM_SIDECAR and TANDEM_TOKEN set (a random token unless one is given). SIGINT and SIGTERM go
to COMMAND first; the sidecar is drained and stopped after COMMAND exits, and tandem exits with
COMMAND's exit code. A sidecar that dies while COMMAND runs is restarted on the same address.

Flags:
${SIDECAR_FLAGS}`;

export const CONFIG_HELP = `Usage: tandem config [--config FILE] [--json]

Loads the config as tandem would (the file, TANDEM__SECTION__KEY overrides, secrets), checks it,
and prints the effective configuration with defaults applied and every secret value shown as
[redacted]. Exits 0 when it is valid, 1 listing every problem when it is not.

Flags:
  --config FILE   the file to check; default: $TANDEM_CONFIG, else none (defaults only)
  --json          print JSON instead of YAML
  -h, --help      show this help`;
