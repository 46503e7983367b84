// The few Swarm API calls the adapter makes, as typed JSON over dockerode's
// modem (dockerode's own wrappers type services and tasks loosely), with
// Docker errors turned into ShipitErrors.

import type Docker from 'dockerode';
import type { ShipitError } from '../domain/errors';
import { engineError, statusOf } from './runtime';

type Query = Record<string, unknown>;

const STATUS = {
  200: true,
  201: true,
  204: true,
  304: true,
  400: 'bad parameter',
  404: 'not found',
  409: 'conflict',
  500: 'server error',
  503: 'node is not part of a swarm',
};

export class SwarmApi {
  constructor(
    private readonly docker: Docker,
    private readonly socketPath: string,
  ) {}

  private dial<T>(
    method: string,
    path: string,
    query: Query = {},
    body?: unknown,
    isStream = false,
  ): Promise<T> {
    const q: Query = {};
    for (const [k, v] of Object.entries(query)) q[k] = v;
    return new Promise((resolve, reject) => {
      this.docker.modem.dial(
        {
          path: `${path}?`,
          method,
          isStream,
          statusCodes: STATUS,
          options: { _query: q, ...(body === undefined ? {} : { _body: body }) },
        },
        (err, data) => (err ? reject(err) : resolve(data as T)),
      );
    });
  }

  async get<T>(path: string, query: Query = {}): Promise<T> {
    try {
      return await this.dial<T>('GET', path, query);
    } catch (e) {
      throw this.translate(e);
    }
  }

  /** GET that answers null for 404. */
  async find<T>(path: string): Promise<T | null> {
    try {
      return await this.dial<T>('GET', path);
    } catch (e) {
      if (statusOf(e) === 404) return null;
      throw this.translate(e);
    }
  }

  /** POST with a JSON body; errors are left as dockerode's, for the caller to tell apart. */
  post<T = unknown>(path: string, body: unknown, query: Query = {}): Promise<T> {
    return this.dial<T>('POST', path, query, body);
  }

  del(path: string): Promise<unknown> {
    return this.dial('DELETE', path);
  }

  stream(path: string, query: Query): Promise<NodeJS.ReadableStream> {
    return this.dial<NodeJS.ReadableStream>('GET', path, query, undefined, true);
  }

  events(filters: string): Promise<NodeJS.ReadableStream> {
    return this.docker.getEvents({ filters }) as Promise<NodeJS.ReadableStream>;
  }

  /** Maps a dockerode / socket error to a ShipitError. */
  translate(e: unknown): ShipitError {
    return engineError(e, this.socketPath);
  }
}
