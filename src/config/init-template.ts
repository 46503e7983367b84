// What `shipit init` writes: every key of the skeleton, each explained in one line.

export const STARTER_CONFIG = `# shipit.yml: zero-downtime Docker deploys. \`shipit schema\` prints the JSON Schema of this file.
# Durations are like 500ms, 30s, 5m, 1h (or integer milliseconds); sizes like 512k, 128m, 1g.

project: demo                      # names containers and the network: lowercase letters, digits, "-"
runtime: docker                    # docker (the local engine) | swarm (a Docker Swarm cluster)

proxy:
  listen: 0.0.0.0:8080             # public HTTP listener that routes to your services
  upstreamTimeout: 30s             # no response byte within this -> 504
  maxBodySize: 10m                 # larger request bodies -> 413
  # tls: { listen: 0.0.0.0:8443, redirect: true, acme: { directory: https://acme-v02.api.letsencrypt.org/directory, email: ops@example.com, hosts: [app.example.com] } }  # HTTPS; certificates from Let's Encrypt (HTTP-01 needs port 80 -> listen)
  #   or certificate files: tls: { certificates: [{ hosts: [app.example.com], cert: certs/app.pem, key: certs/app.key }] }

api:
  listen: unix:.shipit/daemon.sock # control API for the CLI (or 127.0.0.1:7070); a token is always required

services:
  web:
    image: demo-web:v1             # the image deployed by \`shipit deploy\` (override with --image)
    port: 8080                     # the port the container listens on
    hosts: ["*"]                   # Host header routing; "*" = the default service
    replicas: 2                    # containers per release
    env:                           # environment variables passed to the containers
      NODE_ENV: production
    # command: ["node", "server.js"]   # overrides the image's command
    resources: { memory: 128m, cpus: 0.5 }  # per-container limits
    healthcheck:                   # an HTTP path, or \`tcp: true\` to only open a connection
      path: /healthz               # GET must answer 2xx/3xx
      interval: 1s                 # time between probes
      timeout: 2s                  # a probe slower than this fails
      healthyThreshold: 1          # passes in a row to become healthy
      unhealthyThreshold: 3        # failures in a row to become unhealthy
    deploy:
      strategy: blue-green         # rolling | blue-green | canary | rainbow
      deployTimeout: 60s           # the new release must be healthy within this, else it is rolled back
      drainTimeout: 30s            # in-flight requests may finish within this
      keepPrevious: 10m            # the old release stays running, out of routing, for instant rollback
      # rolling: { maxSurge: 1, maxUnavailable: 0 }                           # used by strategy: rolling
      # canary: { steps: [{ weight: 5, pause: 30s }, { weight: 50, pause: manual }] }  # strategy: canary
      # rainbow: { maxLive: 3, maxAge: 1h }                                   # used by strategy: rainbow
    # acceptance: { header: X-Shipit-Track, cookie: shipit-track }  # value "next" reaches the new release
    # autoscale: { min: 1, max: 10, target: { inflightPerReplica: 10 } }  # min 0 allows scale-to-zero
    # links: []                    # other services this one's containers can call by name

# logs: { retention: 7d, maxLines: 1000000 }   # how long aggregated container logs are kept
`;
