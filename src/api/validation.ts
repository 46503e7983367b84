import { z } from 'zod';
import type { ServiceSpec } from '../domain/types';
import { usageError } from '../domain/errors';

const name = z.string().regex(/^[a-z0-9-]{1,32}$/);
const ms = z.number().int().min(0);
const countOrPercent = z.union([z.number().int().min(0), z.string().regex(/^\d{1,3}%$/)]);

/** The normalised service settings the CLI sends with a deploy (from shipit.yml + flags). */
export const serviceSpecSchema = z.strictObject({
  name,
  image: z.string().min(1).max(512),
  port: z.number().int().min(1).max(65535),
  // [] is a service reached only through links (service discovery), as shipit.yml allows
  hosts: z.array(z.string().min(1)),
  replicas: z.number().int().min(1).max(1000),
  env: z.record(z.string(), z.string()),
  command: z.array(z.string()).optional(),
  resources: z
    .strictObject({
      memoryBytes: z.number().int().positive().optional(),
      cpus: z.number().positive().optional(),
    })
    .optional(),
  healthcheck: z.strictObject({
    path: z.string().startsWith('/').optional(),
    tcp: z.boolean().optional(),
    intervalMs: ms.min(10),
    timeoutMs: ms.min(1),
    healthyThreshold: z.number().int().min(1),
    unhealthyThreshold: z.number().int().min(1),
  }),
  deploy: z.strictObject({
    strategy: z.enum(['rolling', 'blue-green', 'canary', 'rainbow']),
    deployTimeoutMs: ms.min(1),
    drainTimeoutMs: ms,
    keepPreviousMs: ms,
    rainbow: z
      .strictObject({ maxLive: z.number().int().min(1), maxAgeMs: ms.optional() })
      .optional(),
    rolling: z
      .strictObject({ maxSurge: countOrPercent, maxUnavailable: countOrPercent })
      .optional(),
    canary: z
      .strictObject({
        steps: z
          .array(
            z.strictObject({
              weight: z.number().min(0).max(100),
              pauseMs: z.union([ms, z.literal('manual')]),
            }),
          )
          .min(1),
        sticky: z.string().regex(/^(cookie|ip|header:[A-Za-z0-9-]+)$/),
        analysis: z.strictObject({
          intervalMs: ms.min(10),
          minRequests: z.number().int().min(0),
          maxErrorRate: z.number().min(0).max(1),
          maxP99Ms: ms.optional(),
        }),
      })
      .optional(),
  }),
  acceptance: z.strictObject({ header: z.string().min(1), cookie: z.string().min(1) }).optional(),
  links: z.array(name).max(100).optional(),
  labels: z.record(z.string().regex(/^[a-z0-9.-]{1,128}$/), z.string().max(512)).optional(),
  autoscale: z
    .strictObject({
      min: z.number().int().min(0).max(1000),
      max: z.number().int().min(1).max(1000),
      target: z.strictObject({
        inflightPerReplica: z.number().positive().optional(),
        rpsPerReplica: z.number().positive().optional(),
        cpu: z.number().positive().max(1).optional(),
      }),
      scaleDownDelayMs: ms,
      idleTimeoutMs: ms,
      schedule: z.array(
        z.strictObject({
          from: z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/),
          to: z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/),
          min: z.number().int().min(0).max(1000),
          days: z.array(z.enum(['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'])).optional(),
        }),
      ),
    })
    .optional(),
}) satisfies z.ZodType<ServiceSpec>;

export const previewBodySchema = z.strictObject({
  // the name's own rules are checked by the preview manager, with a how-to-fix hint
  name: z.string().min(1).max(64),
  service: name,
  image: z.string().min(1).max(512),
  ttlMs: z.number().int().positive().optional(),
  env: z.record(z.string(), z.string()).optional(),
  spec: serviceSpecSchema,
});

export const scaleBodySchema = z.strictObject({
  replicas: z.number().int().min(0).max(1000),
});

export const deployBodySchema = z.strictObject({
  spec: serviceSpecSchema,
  dryRun: z.boolean().optional(),
  /** Wait this long for another operation on the service to end instead of a conflict at once. */
  lockWaitMs: z
    .number()
    .int()
    .min(0)
    .max(24 * 3600 * 1000)
    .optional(),
});

export const rollbackBodySchema = z.strictObject({
  to: z.number().int().min(1).optional(),
  dryRun: z.boolean().optional(),
});

export const shutdownBodySchema = z.strictObject({ remove: z.boolean().optional() });

/** Daemon upgrade: the node binary and shipit script the successor runs (absolute paths). */
export const handoverBodySchema = z.strictObject({
  node: z.string().min(1).max(4096).startsWith('/'),
  script: z
    .string()
    .min(1)
    .max(4096)
    .startsWith('/')
    .regex(/\/shipit(\.js)?$/, 'the path of a shipit script (…/bin/shipit.js)'),
});

/** Parses a request body, or throws a usage error naming each bad field. */
export function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const r = schema.safeParse(body ?? {});
  if (r.success) return r.data;
  const problems = r.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`);
  throw usageError(`invalid request: ${problems.join('; ')}`);
}
